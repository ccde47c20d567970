/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * bnet.h owns every BPF map and every struct the Go side mirrors.
 * Go gets these layouts through bpf2go -type (maps/gen.go); never
 * redeclare them by hand in Go.
 *
 * Byte order: IPv4 addresses in map keys and values are in network byte
 * order (as they sit in packets), so the Go side writes them with
 * binary.BigEndian-ordered bytes; MACs are 6 raw bytes.
 */
#ifndef BNET_H
#define BNET_H

#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

/* Head-end replication fan-out per network (local ports, remote VTEPs). */
#define BNET_FLOOD_LOCAL 64
#define BNET_FLOOD_REMOTE 128

#define BNET_MAX_PORTS 8192
#define BNET_MAX_NETWORKS 16384
#define BNET_MAX_FDB 262144
#define BNET_MAX_ARP 262144
#define BNET_MAX_STATS 65536
#define BNET_MAX_PEERS 262144
#define BNET_MAX_VTEPS 4096
#define BNET_MAX_ROUTES 65536
#define BNET_MAX_POLICY 262144
#define BNET_MAX_CT 262144 /* default; the agent sizes ct from its config */
#define BNET_MAX_CT_SRC 65536
#define BNET_MAX_FRAGS 8192
#define BNET_MAX_CLAIMS 4096

/* Network (segment) types; values are stable: they are stored in maps. */
enum bnet_net_type {
	BNET_NET_LOCAL = 1,
	BNET_NET_FLAT = 2,
	BNET_NET_VLAN = 3,
	BNET_NET_VXLAN = 4,
	BNET_NET_GRE = 5,
};

/*
 * Every drop in the datapath has exactly one reason from this enum; it is
 * counted per ingress ifindex in drop_stats. Values are stable (the CLI and
 * metrics name them), append only. Keep maps/reasons.go in step.
 */
enum bnet_drop_reason {
	BNET_DROP_NONE = 0,
	BNET_DROP_MALFORMED = 1,       /* truncated or garbage frame */
	BNET_DROP_NO_PORT = 2,         /* ingress device is not a known port */
	BNET_DROP_NO_NETWORK = 3,      /* port's network is not programmed */
	BNET_DROP_UNKNOWN_SEGMENT = 4, /* VNI/VLAN/key with no network on this node */
	BNET_DROP_FDB_MISS = 5,        /* unicast to a MAC that is not here */
	BNET_DROP_NO_TUNNEL = 6,       /* overlay network but no tunnel device */
	BNET_DROP_TUNNEL_KEY = 7,      /* bpf_skb_{get,set}_tunnel_key failed */
	BNET_DROP_REDIRECT = 8,        /* redirect or clone helper failed */
	BNET_DROP_HAIRPIN = 9,         /* destination is the sending port */
	BNET_DROP_PORT_DOWN = 10,      /* port administratively down */
	BNET_DROP_VLAN_TAGGED = 11,    /* 802.1Q frame from a VM port */
	BNET_DROP_VLAN_PUSH = 12,      /* bpf_skb_vlan_{push,pop} failed */
	BNET_DROP_NO_PHYSNET = 13,     /* flat/vlan network without a physnet NIC */
	BNET_DROP_FRAG_NEEDED = 14,    /* larger than the network MTU (IPv4: ICMP sent) */
	BNET_DROP_TUNNEL_PEER = 15,    /* tunnel packet from a VTEP not hosting that network */
	BNET_DROP_NO_NEIGH = 16,       /* no underlay neighbour for a GRE VTEP yet */
	BNET_DROP_TUNNEL_FRAG = 17,    /* fragmented tunnel packet (we always send DF) */
	BNET_DROP_ENCAP = 18,          /* GRE encap/decap helper failed */
	BNET_DROP_NO_ROUTE = 19,       /* routed, no route (ICMP net unreachable sent) */
	BNET_DROP_TTL_EXCEEDED = 20,   /* routed, TTL ran out (ICMP time exceeded sent) */
	BNET_DROP_ROUTE_NEIGH = 21,    /* routed to an address no port holds (ICMP host unreachable) */
	BNET_DROP_NOT_IPV4 = 22,       /* sent to a router, not IPv4 (not routed yet) */
	BNET_DROP_FIP_NEIGH = 23,      /* floating IP out, external next hop not resolved yet */
	BNET_DROP_SPOOF_MAC = 24,      /* source MAC not the port's (or an allowed pair's) */
	BNET_DROP_SPOOF_IP = 25,       /* IPv4 source not the port's (or an allowed pair's) */
	BNET_DROP_SPOOF_ARP = 26,      /* ARP sender MAC/IP not the port's */
	BNET_DROP_DHCP_SERVER = 27,    /* a VM answering DHCP (UDP source port 67, DHCPv6 547) */
	BNET_DROP_ROUTER_ADVERT = 28,  /* a VM sending IPv6 router advertisements */
	BNET_DROP_POLICY = 29,         /* no security group rule allows it */
	BNET_DROP_CT_INVALID = 30,     /* TCP without SYN and no tracked connection */
	BNET_DROP_CT_FULL = 31,        /* port's conntrack budget (or the table) is full */
	BNET_DROP_CT_FRAG = 32,        /* a later fragment whose first was not seen */
	BNET_DROP_SPOOF_ND = 33,       /* IPv6 neighbour advertisement for an address not the port's, or fragmented ND */
	BNET_DROP_DHCP_LOCAL = 34,     /* a DHCP client packet: consumed, this node's agent answers it */
	BNET_DROP_NO_PROG = 35,        /* a tail call found no program (flood_prog empty: a loader bug) */
	BNET_DROP_CT_SRC_FULL = 36,    /* one remote address holds its share of the port's conntrack budget */
	BNET_DROP_MAX,
};

/* Port flags (port_info.flags). */
#define BNET_PORT_UP (1U << 0)
#define BNET_PORT_SECURE (1U << 1) /* port security on: sources checked */
#define BNET_PORT_POLICY (1U << 2) /* security groups: policy and conntrack */
#define BNET_PORT_V6_IN (1U << 3)  /* its groups let any IPv6 in (stateless) */
#define BNET_PORT_V6_OUT (1U << 4) /* its groups let any IPv6 out */
#define BNET_PORT_DHCP (1U << 5)   /* its network's DHCP is served by this node's agent */
/* A router's port: it leads into this kernel's IP stack, which may send
 * what it receives on into another tunnel. */
#define BNET_PORT_STACK (1U << 6)

/*
 * ports: host-side ifindex of a VM port -> what the port is. policy_id
 * names the compiled security group set the port enforces (policy_ips);
 * epoch is a hash of that policy's content: a tracked connection made
 * under another epoch is checked against the rules again on its next
 * packet, so a removed rule cuts what it alone allowed.
 */
struct port_info {
	__u32 net_id;
	__u32 flags;
	__u8 mac[6];
	__u16 pad;
	__u32 policy_id;
	__u32 epoch;
};

/* networks: bnet's node-local network id -> how the network leaves the node. */
struct net_info {
	__u32 type;         /* enum bnet_net_type */
	__u32 segment;      /* VNI, VLAN id or GRE key; 0 for local and flat */
	__u32 phys_ifindex; /* physnet NIC for flat and vlan, else 0 */
	__u32 mtu;
	__u32 flags;        /* BNET_NETF_* */
};

/*
 * net_info.flags: what else this node has for the network, so that a
 * frame of a network without it skips those lookups. A flag may be set
 * without its entry (a miss, as before), never the other way round for
 * longer than one agent write.
 */
#define BNET_NETF_ROUTED (1U << 0) /* a router interface here: rifs[net] */
#define BNET_NETF_EXT_GW (1U << 1) /* floating IPs served here: ext_gw[net] */

/*
 * segments: what arrives from outside -> network id.
 *   vxlan: {BNET_NET_VXLAN, 0, vni}
 *   gre:   {BNET_NET_GRE, 0, key}
 *   flat:  {BNET_NET_FLAT, physnet nic ifindex, 0}
 *   vlan:  {BNET_NET_VLAN, physnet nic ifindex, vid}
 */
struct segment_key {
	__u32 type;
	__u32 ifindex;
	__u32 segment;
};

/* fdb: (network, MAC) -> where that MAC lives. Filled from gossip, never learned. */
struct fdb_key {
	__u32 net_id;
	__u8 mac[6];
	__u16 pad;
};

struct fdb_entry {
	__u32 ifindex; /* local port host-side ifindex, 0 when remote */
	__u32 vtep;    /* remote VTEP IPv4 (network order), 0 when local */
	__u32 flags;
	__u32 pad;
};

/* arp: (network, IPv4) -> MAC; the ARP responder answers from it. */
struct arp_key {
	__u32 net_id;
	__u32 ip; /* network order */
};

struct arp_entry {
	__u8 mac[6];
	__u16 pad;
};

/* flood: network id -> head-end replication list for broadcast/unknown. */
struct flood_entry {
	__u32 n_local;
	__u32 n_remote;
	__u32 local[BNET_FLOOD_LOCAL];   /* local port host-side ifindexes */
	__u32 remote[BNET_FLOOD_REMOTE]; /* remote VTEP IPv4, network order */
};

/*
 * skb->cb words a program hands to bnet_flood with the tail call (cb is
 * the one per-packet scratch a tail call keeps).
 */
#define BNET_CB_FLOOD_NET 0    /* network id */
#define BNET_CB_FLOOD_ORIGIN 1 /* enum bnet_origin in bnet.c */

/* node_cfg[0]: node-wide settings, written by the agent before any port. */
struct node_cfg {
	__u32 vxlan_ifindex;    /* kernel VXLAN device in external mode */
	__u32 local_ip;         /* this node's VTEP, network order */
	__u32 flags;            /* BNET_NODE_* */
	__u32 underlay_ifindex; /* NIC holding local_ip: GRE leaves and arrives here */
	__u32 vxlan_port;       /* UDP port of VXLAN, network order in the low 16 bits */
};

/* node_cfg.flags */
#define BNET_NODE_VXLAN_BPF 1 /* VXLAN IP frames are encapsulated and decapsulated in BPF */
/*
 * The kernel knows BPF_F_ADJ_ROOM_DECAP_L3_* (6.3). Over an IPv4 underlay
 * only IPv6 inside needs it (to set skb->protocol); IPv4 inside does not.
 */
#define BNET_NODE_DECAP_L3 2

/*
 * tunnel_peers: (network, remote VTEP) pairs allowed to send us that
 * network's tunnel traffic: the VTEPs of the network's flood list. GRE is
 * consumed at TC ingress, before netfilter, so admission happens here.
 */
struct peer_key {
	__u32 net_id;
	__u32 vtep; /* network order */
};

/*
 * underlay_nh: remote VTEP -> how to reach it on the underlay. GRE floods
 * clone one frame to many VTEPs and bpf_redirect_neigh has no clone
 * variant, so the agent resolves each VTEP's next hop ahead of time.
 */
struct nh_entry {
	__u32 ifindex;
	__u8 smac[6];
	__u8 dmac[6];
	__u32 pad;
};

/* drop_stats: per (ingress ifindex, reason) packet and byte counts. */
struct stat_key {
	__u32 ifindex;
	__u32 reason; /* enum bnet_drop_reason */
};

struct stat_val {
	__u64 packets;
	__u64 bytes;
};

/*
 * rifs: network -> the distributed router interface on it: the subnet's
 * gateway, present with the same IP and MAC on every node that hosts the
 * router (as the qr- ports of a DVR qrouter are). One per network.
 */
struct rif_info {
	__u32 router_id; /* node-local router id */
	__u32 gw_ip;     /* network order */
	__u8 gw_mac[6];
	__u16 pad;
	__u32 snat_ip; /* the router's SNAT port on this subnet (sg-), 0: none */
};

/* routes: longest prefix match on (router, destination) -> egress network. */
struct route_key {
	__u32 prefixlen; /* 32 (the router id) + the prefix length */
	__u32 router_id;
	__u32 ip; /* network order */
};

/* route_info.flags */
#define BNET_ROUTE_SNAT (1U << 0) /* default route: via the SNAT port of the ingress subnet */

struct route_info {
	__u32 net_id; /* egress network: a connected subnet's (0 for SNAT) */
	__u32 flags;
};

/*
 * dvr_macs: every node's DVR host MAC. A routed frame crosses the underlay
 * with its sending node's DVR MAC as source (never a gateway MAC, which
 * exists on every node); the receiver puts the gateway MAC back.
 * dvr_self[0] is this node's.
 */
struct mac_key {
	__u8 mac[6];
	__u16 pad;
};

/*
 * Floating IPs, 1:1 NAT on the VM's own node (seed 002 §3.2.2-3.2.3 without
 * the fip namespace). fips_out: (tenant network, fixed IP) -> floating IP;
 * fips_in: (external network, floating IP) -> fixed IP; both keyed like
 * arp. ext_gw: external network -> this node's own address there (the fg
 * port: proxy ARP answers with its MAC) and the next hop's MAC.
 */
struct fip_out_info {
	__u32 fip; /* network order */
	__u32 ext_net;
};

struct fip_in_info {
	__u32 net_id;   /* the VM's tenant network */
	__u32 fixed_ip; /* network order */
};

struct ext_gw_info {
	__u8 fg_mac[6];
	__u8 gw_mac[6]; /* the external subnet gateway's; zero: not resolved */
	__u32 fg_ip;
};

/*
 * Port security: what a secured port may send. port_addrs: (port, IPv4
 * prefix) -> the MAC allowed to use it (fixed IPs as /32 with the port's
 * MAC, allowed address pairs as given). port_macs: (port, MAC) -> 1, the
 * source MACs the port may use at all. Keyed by the host ifindex.
 */
struct addr_key {
	__u32 prefixlen; /* 32 (the ifindex) + the prefix length */
	__u32 ifindex;
	__u32 ip; /* network order */
};

struct port_mac_key {
	__u32 ifindex;
	__u8 mac[6];
	__u16 pad;
};

/*
 * Security groups, compiled per distinct set of groups (a policy) into two
 * longest-prefix tries. policy_ips: (policy, direction, remote IPv4) ->
 * the class of rules that apply to that remote; the agent merges into each
 * prefix's class every rule whose remote prefix contains it, so the
 * longest match alone decides. policy_ports: (class, protocol, port) ->
 * allowed; protocol 0 entries (prefix 32) allow any protocol, prefix 40
 * any port, longer ones a port range split into aligned blocks. For ICMP
 * the port is type << 8 | code. Allow-only, as security groups are.
 */
enum bnet_dir {
	BNET_DIR_EGRESS = 1,  /* from the VM */
	BNET_DIR_INGRESS = 2, /* to the VM */
};

struct policy_ip_key {
	__u32 prefixlen; /* 64 (policy, direction) + the prefix length */
	__u32 policy_id;
	__u32 dir;
	__u32 ip; /* network order */
};

struct policy_port_key {
	__u32 prefixlen; /* 32 (class) [+ 8 protocol [+ 8 pad + port bits]] */
	__u32 class_id;
	__u8 proto;
	__u8 pad;
	__be16 port;
};

/*
 * ct: a port's tracked connections, from the port's side: local is the
 * VM's address. Keyed by the port's ifindex, so identical subnets on two
 * networks (or two ports) never share an entry, and each port's entries
 * count against its own budget (ct_count, ct_cfg.port_max). Not LRU: one
 * port flooding cannot evict another's connections. The agent removes
 * expired entries.
 */
struct ct_key {
	__u32 ifindex;
	__u32 local_ip;  /* network order */
	__u32 remote_ip; /* network order */
	__be16 local_port;  /* ICMP echo: the identifier */
	__be16 remote_port;
	__u8 proto;
	__u8 pad[3];
};

/* ct_entry.state bits */
#define BNET_CT_REPLIED (1U << 0) /* seen both ways */
#define BNET_CT_FIN_OUT (1U << 1)
#define BNET_CT_FIN_IN (1U << 2)
#define BNET_CT_RST (1U << 3)

struct ct_entry {
	__u64 expires; /* bpf_ktime_get_ns (CLOCK_MONOTONIC) */
	__u32 epoch;   /* the port's policy epoch it was last allowed under */
	__be16 mport;  /* what the rules matched: destination port, ICMP type/code */
	__u8 origin;   /* enum bnet_dir of the first packet */
	__u8 state;
	__u64 packets;
};

/* ct_config[0]: the conntrack budget and timeouts (seconds; 0: the default). */
struct ct_cfg {
	__u32 port_max; /* entries one port may hold */
	__u32 tcp_syn;
	__u32 tcp_est;
	__u32 tcp_fin;
	__u32 tcp_close;
	__u32 other_new;
	__u32 other_est;
	__u32 src_max; /* connections one remote address may open to one port */
};

/*
 * ct_src_count: connections a remote address opened to a port (ct entries
 * whose origin is ingress), held to ct_cfg.src_max, so that one sender
 * (a SYN flood) cannot take a port's whole budget and shut others out.
 */
struct ct_src_key {
	__u32 ifindex;
	__u32 remote_ip; /* network order */
};

/*
 * frags: a first fragment's ports, so the later ones (which carry no L4
 * header) get the verdict of their connection. LRU: fragments are
 * short-lived and losing one only drops that datagram.
 */
struct frag_key {
	__u32 ifindex;
	__u32 saddr;
	__u32 daddr;
	__be16 id;
	__u8 proto;
	__u8 pad;
};

struct frag_ports {
	__be16 local_port;
	__be16 remote_port;
	__be16 mport;
	__u16 pad;
};

/*
 * vip_claims: {network, IPv4} -> the port that last announced the address
 * in a gratuitous ARP (only secured ports, whose sources are checked, so
 * only an address the port may hold). The agent publishes the claim and
 * every node points the address (arp) at that port: a VIP follows its
 * holder within a second, routed traffic included. Never written from a
 * tunnel, so never from a DVR MAC.
 */
struct vip_claim {
	__u8 mac[6];
	__u16 pad;
	__u32 ifindex;
	__u64 seen; /* bpf_ktime_get_ns of the claim */
};

/*
 * drop_events: the drops `bnet monitor` streams, with the first bytes of
 * the frame. Written only while monitor_on[0] is set: the agent sets it
 * while someone listens, so an unwatched drop costs one array lookup.
 */
#define BNET_EVENT_SNAP 64
#define BNET_EVENT_RING (256 * 1024)

struct drop_event {
	__u64 ts;      /* bpf_ktime_get_ns */
	__u32 ifindex; /* counted against (as drop_stats) */
	__u32 reason;
	__u32 len;     /* the frame's length */
	__u16 snap;    /* bytes of it in data */
	__u16 pad;
	__u8 data[BNET_EVENT_SNAP];
};

/*
 * Trace (`bnet trace`): a second copy of the programs, loaded with
 * bnet_trace set and against scratch copies of the maps, writes each
 * decision it takes into the global trace_log; BPF_PROG_TEST_RUN itself
 * only reports a return code. In the live copy bnet_trace is 0 and the
 * verifier removes every trace write: it costs the datapath nothing.
 * Values are stable (the Go side names them); append only.
 */
enum bnet_trace_kind {
	BNET_T_DROP = 1,      /* a reason, b ifindex counted against */
	BNET_T_DELIVER = 2,   /* a local port ifindex, b 1 if a flood copy */
	BNET_T_VXLAN = 3,     /* a VNI, b remote VTEP, c 1 if a flood copy */
	BNET_T_GRE = 4,       /* a key, b remote VTEP, c 1 if a flood copy */
	BNET_T_PHYS = 5,      /* a physnet ifindex, b VLAN id (0: flat), c 1 if a flood copy */
	BNET_T_ARP_REPLY = 6, /* a address answered for, b MAC bytes 2-5 */
	BNET_T_FLOOD = 7,     /* a network id */
	BNET_T_ROUTE = 8,     /* a router id, b outgoing network id, c next hop */
	BNET_T_SNAT = 9,      /* a router id, b network id, c the SNAT port's address */
	BNET_T_NAT = 10,      /* a old address, b new address, c 1 source / 0 destination */
	BNET_T_POLICY = 11,   /* a direction, b enum bnet_trace_policy, c rule handle */
	BNET_T_ICMP = 12,     /* a type << 8 | code, b MTU, c the answering address */
	BNET_T_PORT = 13,     /* a ifindex, b network id: the frame's port */
	BNET_T_ECHO = 14,     /* a the router address that answered a ping */
	BNET_T_DVR = 15,      /* a network id: a DVR MAC turned back into the gateway's */
	BNET_T_TUNNEL_IN = 16, /* a network id, b VNI or key, c remote VTEP */
	BNET_T_PHYS_IN = 17,  /* a network id, b VLAN id (0: flat) */
};

enum bnet_trace_policy {
	BNET_TP_NEW = 1,     /* a new connection a rule allows (c: the rule) */
	BNET_TP_TRACKED = 2, /* part of a tracked connection */
	BNET_TP_RELATED = 3, /* an ICMP error about a tracked connection */
	BNET_TP_DENIED = 4,  /* no rule allows it */
	BNET_TP_OPEN = 5,    /* not judged by rules (ARP, ND, DHCP, IPv6 open) */
};

#define BNET_TRACE_STEPS 32

struct trace_step {
	__u32 kind;
	__u32 a;
	__u32 b;
	__u32 c;
};

struct trace_log {
	__u32 n; /* steps written; more than BNET_TRACE_STEPS were cut */
	__u32 pad;
	struct trace_step step[BNET_TRACE_STEPS];
};

/* What the tunnel device would have said (get_tunnel_key) in a trace. */
struct trace_tunnel {
	__u32 vni;
	__u32 remote; /* network order */
};

#ifdef BNET_DECLARE_MAPS
/* Maps are pinned by name under the agent's pin directory. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, BNET_MAX_PORTS);
	__type(key, __u32);
	__type(value, struct port_info);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} ports SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, BNET_MAX_NETWORKS);
	__type(key, __u32);
	__type(value, struct net_info);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} networks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, BNET_MAX_NETWORKS);
	__type(key, struct segment_key);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} segments SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, BNET_MAX_FDB);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct fdb_key);
	__type(value, struct fdb_entry);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} fdb SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, BNET_MAX_ARP);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct arp_key);
	__type(value, struct arp_entry);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} arp SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, BNET_MAX_NETWORKS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u32);
	__type(value, struct flood_entry);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} flood SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct node_cfg);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} node_cfg SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, BNET_MAX_STATS);
	__type(key, struct stat_key);
	__type(value, struct stat_val);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} drop_stats SEC(".maps");
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, BNET_MAX_PEERS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct peer_key);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} tunnel_peers SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, BNET_MAX_VTEPS);
	__type(key, __u32);
	__type(value, struct nh_entry);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} underlay_nh SEC(".maps");
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, BNET_MAX_NETWORKS);
	__type(key, __u32);
	__type(value, struct rif_info);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} rifs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, BNET_MAX_ROUTES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct route_key);
	__type(value, struct route_info);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} routes SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, BNET_MAX_VTEPS);
	__type(key, struct mac_key);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} dvr_macs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct mac_key);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} dvr_self SEC(".maps");
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, BNET_MAX_ARP);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct arp_key);
	__type(value, struct fip_out_info);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} fips_out SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, BNET_MAX_ARP);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct arp_key);
	__type(value, struct fip_in_info);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} fips_in SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, BNET_MAX_NETWORKS);
	__type(key, __u32);
	__type(value, struct ext_gw_info);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} ext_gw SEC(".maps");
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, BNET_MAX_ARP);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct addr_key);
	__type(value, struct arp_entry);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} port_addrs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, BNET_MAX_ARP);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct port_mac_key);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} port_macs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, BNET_MAX_POLICY);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct policy_ip_key);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} policy_ips SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, BNET_MAX_POLICY);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct policy_port_key);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} policy_ports SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, BNET_MAX_CT);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct ct_key);
	__type(value, struct ct_entry);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} ct SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, BNET_MAX_PORTS);
	__type(key, __u32);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} ct_count SEC(".maps");

/*
 * LRU: a count evicted under pressure only makes that sender's share look
 * smaller until the agent's next GC counts it again from ct.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, BNET_MAX_CT_SRC);
	__type(key, struct ct_src_key);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} ct_src_count SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ct_cfg);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} ct_config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, BNET_MAX_FRAGS);
	__type(key, struct frag_key);
	__type(value, struct frag_ports);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} frags SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, BNET_MAX_CLAIMS);
	__type(key, struct arp_key);
	__type(value, struct vip_claim);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} vip_claims SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, BNET_EVENT_RING);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} drop_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} monitor_on SEC(".maps");

/*
 * A ring buffer has no value type, so nothing else puts struct drop_event
 * into BTF for bpf2go to mirror: this one-entry map only carries the
 * layout (never pinned, never used).
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct drop_event);
} drop_event_layout SEC(".maps");

/*
 * flood_prog[0] is bnet_flood: head-end replication runs as its own
 * program, reached by tail call, so that its bounded fan-out loops are
 * verified once instead of once per path that floods (bpf_loop would do
 * that too, but needs 5.17). Never pinned: each load's programs call the
 * flood program of their own load, so an upgrade swaps both together.
 */
int bnet_flood(struct __sk_buff *skb);
struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__array(values, int(struct __sk_buff *));
} flood_prog SEC(".maps") = {
	.values = { [0] = (void *)&bnet_flood },
};
#endif /* BNET_DECLARE_MAPS */

#endif /* BNET_H */
