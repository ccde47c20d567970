//go:build ignore
// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * bnet L2 datapath: three TC ingress programs.
 *
 *   bnet_port_in  host side of a VM port (frames from the VM)
 *   bnet_tun_in   the node's VXLAN external device (decapsulated frames)
 *   bnet_phys_in  a physnet NIC (flat and VLAN provider networks)
 *
 * Nothing is learned here: every map is filled by the agent. Every frame
 * ends in exactly one of: a redirect, a flood (clones, original freed),
 * a counted drop, or TCX_NEXT on a physnet NIC for frames that are not
 * ours. See docs/datapath.md.
 */

#define BNET_DECLARE_MAPS
#include "bnet.h"

#include <linux/if_ether.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_endian.h>

/* uapi headers are 6.1: TCX values are missing there. */
#ifndef TCX_NEXT
#define TCX_NEXT -1
#endif

#define BNET_EEXIST 17
#define BNET_TUNNEL_TTL 64
#define BNET_VID_MASK 0x0fff
#define BNET_ETH_P_8021Q 0x8100
#define BNET_ETH_P_8021AD 0x88a8

/*
 * Internal "keep going" result of sub-steps; distinct from every TC
 * verdict so it never leaks out of a program.
 */
#define BNET_CONTINUE 0x10000

char __license[] SEC("license") = "Dual BSD/GPL";

/*
 * ctx_barrier hides skb's value from clang so it cannot keep a
 * precomputed &skb->field around: the verifier rejects loads through a
 * modified ctx pointer. Used by helpers that read skb fields.
 */
#define ctx_barrier(skb) asm volatile("" : "+r"(skb))

struct bnet_eth {
	__u8 dst[ETH_ALEN];
	__u8 src[ETH_ALEN];
	__be16 proto;
};

/* Ethernet/IPv4 ARP body; packed because spa/tpa sit at odd offsets. */
struct bnet_arp {
	__be16 htype;
	__be16 ptype;
	__u8 hlen;
	__u8 plen;
	__be16 op;
	__u8 sha[ETH_ALEN];
	__be32 spa;
	__u8 tha[ETH_ALEN];
	__be32 tpa;
} __attribute__((packed));

#define BNET_ARP_FRAME_LEN (sizeof(struct bnet_eth) + sizeof(struct bnet_arp))

/* ---- drops ------------------------------------------------------------ */

/*
 * count_drop records one dropped (or, inside a flood, one lost) copy
 * against the device the frame came in on. Per-CPU values: no atomics.
 */
static __always_inline void count_drop(struct __sk_buff *skb, __u32 reason)
{
	struct stat_key key = { .reason = reason };
	struct stat_val *val;

	ctx_barrier(skb);
	key.ifindex = skb->ifindex;

	val = bpf_map_lookup_elem(&drop_stats, &key);
	if (!val) {
		struct stat_val init = { .packets = 1, .bytes = skb->len };

		if (bpf_map_update_elem(&drop_stats, &key, &init, BPF_NOEXIST) != -BNET_EEXIST)
			return;
		/* Lost a race with another CPU creating the key. */
		val = bpf_map_lookup_elem(&drop_stats, &key);
		if (!val)
			return;
	}
	val->packets++;
	val->bytes += skb->len;
}

/* drop is the only way a program discards a frame. */
static __always_inline int drop(struct __sk_buff *skb, __u32 reason)
{
	count_drop(skb, reason);
	return TC_ACT_SHOT;
}

/* ---- helpers ------------------------------------------------------------ */

static __always_inline int mac_equal(const __u8 *a, const __u8 *b)
{
	return a[0] == b[0] && a[1] == b[1] && a[2] == b[2] &&
	       a[3] == b[3] && a[4] == b[4] && a[5] == b[5];
}

static __always_inline void mac_copy(__u8 *dst, const __u8 *src)
{
	__builtin_memcpy(dst, src, ETH_ALEN);
}

/*
 * load_eth copies the Ethernet header to the stack, so callers keep it
 * across helpers that invalidate packet pointers. Returns 0 or -1 when
 * the frame is shorter than an Ethernet header.
 */
static __always_inline int load_eth(struct __sk_buff *skb, struct bnet_eth *eth)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;

	if (data + sizeof(*eth) > data_end)
		return -1;
	__builtin_memcpy(eth, data, sizeof(*eth));
	return 0;
}

/*
 * local_port_reason says why ifindex cannot take a frame right now, or
 * BNET_DROP_NONE. deliver_local and flood_out's local copies share it so
 * both paths apply the same rules.
 */
static __always_inline __u32 local_port_reason(__u32 ifindex)
{
	struct port_info *port = bpf_map_lookup_elem(&ports, &ifindex);

	if (!port)
		return BNET_DROP_NO_PORT;
	if (!(port->flags & BNET_PORT_UP))
		return BNET_DROP_PORT_DOWN;
	return BNET_DROP_NONE;
}

/*
 * deliver_local is the one way a frame reaches a local port, whether it
 * came from a port, a tunnel or a physnet. Routing, NAT and security
 * groups hook in here.
 */
static __always_inline int deliver_local(struct __sk_buff *skb, __u32 ifindex)
{
	__u32 reason = local_port_reason(ifindex);

	if (reason != BNET_DROP_NONE)
		return drop(skb, reason);
	return bpf_redirect(ifindex, 0);
}

static __always_inline int set_tunnel(struct __sk_buff *skb, __u32 vni, __u32 vtep)
{
	struct bpf_tunnel_key key = {};

	key.tunnel_id = vni;
	/* The helper takes the remote address in host byte order. */
	key.remote_ipv4 = bpf_ntohl(vtep);
	key.tunnel_ttl = BNET_TUNNEL_TTL;
	return bpf_skb_set_tunnel_key(skb, &key, sizeof(key), 0);
}

/* to_tunnel sends a frame of a VXLAN network to one remote VTEP. */
static __always_inline int to_tunnel(struct __sk_buff *skb, const struct net_info *net, __u32 vtep)
{
	__u32 zero = 0;
	struct node_cfg *cfg = bpf_map_lookup_elem(&node_cfg, &zero);

	if (!cfg || cfg->vxlan_ifindex == 0)
		return drop(skb, BNET_DROP_NO_TUNNEL);
	if (set_tunnel(skb, net->segment, vtep) < 0)
		return drop(skb, BNET_DROP_TUNNEL_KEY);
	return bpf_redirect(cfg->vxlan_ifindex, 0);
}

/* to_phys sends a frame of a flat or VLAN network out of its physnet NIC. */
static __always_inline int to_phys(struct __sk_buff *skb, const struct net_info *net)
{
	if (net->phys_ifindex == 0)
		return drop(skb, BNET_DROP_NO_PHYSNET);
	if (net->type == BNET_NET_VLAN &&
	    bpf_skb_vlan_push(skb, bpf_htons(BNET_ETH_P_8021Q), net->segment & BNET_VID_MASK) < 0)
		return drop(skb, BNET_DROP_VLAN_PUSH);
	return bpf_redirect(net->phys_ifindex, 0);
}

enum bnet_origin {
	BNET_FROM_PORT,
	BNET_FROM_TUNNEL,
	BNET_FROM_PHYS,
};

/* State shared with the bpf_loop callbacks of one flood. */
struct flood_state {
	struct __sk_buff *skb;
	struct flood_entry *fl;
	__u32 in;
	__u32 vni;
	__u32 vxlan;
	__u32 self;
};

static long flood_local_one(__u32 i, void *data)
{
	struct flood_state *st = data;
	__u32 ifindex;

	if (i >= BNET_FLOOD_LOCAL)
		return 1;
	ifindex = st->fl->local[i];
	if (ifindex == st->in || local_port_reason(ifindex) != BNET_DROP_NONE)
		return 0;
	if (bpf_clone_redirect(st->skb, ifindex, 0) < 0)
		count_drop(st->skb, BNET_DROP_REDIRECT);
	return 0;
}

static long flood_remote_one(__u32 i, void *data)
{
	struct flood_state *st = data;
	__u32 vtep;

	if (i >= BNET_FLOOD_REMOTE)
		return 1;
	vtep = st->fl->remote[i];
	if (vtep == 0 || vtep == st->self)
		return 0;
	if (set_tunnel(st->skb, st->vni, vtep) < 0) {
		count_drop(st->skb, BNET_DROP_TUNNEL_KEY);
		return 0;
	}
	if (bpf_clone_redirect(st->skb, st->vxlan, 0) < 0)
		count_drop(st->skb, BNET_DROP_REDIRECT);
	return 0;
}

/*
 * flood_out replicates a broadcast, multicast or unknown-unicast frame to
 * the network's flood list. Frames from a port go to every other local
 * port and out of the node (remote VTEPs or the physnet NIC); frames from
 * outside go to local ports only (split horizon). The original is freed
 * with TC_ACT_SHOT without counting: it was delivered as clones. A copy
 * that cannot be sent is counted, the others still go. The fan-out loops
 * use bpf_loop: unrolled or bounded loops blow the verifier's budget.
 */
static __always_inline int flood_out(struct __sk_buff *skb, __u32 net_id, const struct net_info *net,
				     enum bnet_origin origin)
{
	struct flood_entry *fl = bpf_map_lookup_elem(&flood, &net_id);
	struct flood_state st = {};
	__u32 n;

	if (!fl)
		return drop(skb, BNET_DROP_FDB_MISS);

	ctx_barrier(skb);
	st.skb = skb;
	st.fl = fl;
	st.in = skb->ifindex;
	st.vni = net->segment;

	n = fl->n_local;
	if (n > BNET_FLOOD_LOCAL)
		n = BNET_FLOOD_LOCAL;
	bpf_loop(n, flood_local_one, &st, 0);

	if (origin != BNET_FROM_PORT)
		return TC_ACT_SHOT;

	if (net->type == BNET_NET_VXLAN) {
		__u32 zero = 0;
		struct node_cfg *cfg = bpf_map_lookup_elem(&node_cfg, &zero);

		n = fl->n_remote;
		if (n > BNET_FLOOD_REMOTE)
			n = BNET_FLOOD_REMOTE;
		if (n == 0)
			return TC_ACT_SHOT;
		if (!cfg || cfg->vxlan_ifindex == 0) {
			count_drop(skb, BNET_DROP_NO_TUNNEL);
			return TC_ACT_SHOT;
		}
		st.vxlan = cfg->vxlan_ifindex;
		st.self = cfg->local_ip;
		bpf_loop(n, flood_remote_one, &st, 0);
	} else if (net->type == BNET_NET_FLAT || net->type == BNET_NET_VLAN) {
		/* Last copy: the VLAN push changes the frame itself. */
		if (net->phys_ifindex == 0) {
			count_drop(skb, BNET_DROP_NO_PHYSNET);
		} else if (net->type == BNET_NET_VLAN &&
			   bpf_skb_vlan_push(skb, bpf_htons(BNET_ETH_P_8021Q),
					     net->segment & BNET_VID_MASK) < 0) {
			count_drop(skb, BNET_DROP_VLAN_PUSH);
		} else if (bpf_clone_redirect(skb, net->phys_ifindex, 0) < 0) {
			count_drop(skb, BNET_DROP_REDIRECT);
		}
	}
	return TC_ACT_SHOT;
}

/*
 * arp_respond answers an ARP request for an IP the network knows, on the
 * sender's own node, by turning the request into the reply and sending it
 * back out of the port. Returns a verdict, or BNET_CONTINUE when the frame
 * is not an answerable request (it is then forwarded like any frame).
 */
static __always_inline int arp_respond(struct __sk_buff *skb, __u32 net_id)
{
	void *data, *data_end;
	struct bnet_eth *eth;
	struct bnet_arp *ah;
	struct arp_key key = { .net_id = net_id };
	struct arp_entry *ans;
	__u8 sha[ETH_ALEN];
	__be32 spa;

	ctx_barrier(skb);
	if (skb->len < BNET_ARP_FRAME_LEN)
		return drop(skb, BNET_DROP_MALFORMED);
	/* A non-linear skb may hold the ARP body outside the head. */
	if (bpf_skb_pull_data(skb, BNET_ARP_FRAME_LEN) < 0)
		return drop(skb, BNET_DROP_MALFORMED);

	data = (void *)(long)skb->data;
	data_end = (void *)(long)skb->data_end;
	eth = data;
	ah = data + sizeof(*eth);
	if ((void *)(ah + 1) > data_end)
		return drop(skb, BNET_DROP_MALFORMED);

	if (ah->htype != bpf_htons(1) || ah->ptype != bpf_htons(ETH_P_IP) ||
	    ah->hlen != ETH_ALEN || ah->plen != 4 || ah->op != bpf_htons(1))
		return BNET_CONTINUE;

	key.ip = ah->tpa;
	ans = bpf_map_lookup_elem(&arp, &key);
	if (!ans)
		return BNET_CONTINUE;
	/* The sender asking for its own address (duplicate address detection). */
	if (mac_equal(ans->mac, ah->sha))
		return BNET_CONTINUE;

	mac_copy(sha, ah->sha);
	spa = ah->spa;

	ah->op = bpf_htons(2);
	mac_copy(ah->tha, sha);
	ah->tpa = spa;
	mac_copy(ah->sha, ans->mac);
	ah->spa = key.ip;
	mac_copy(eth->dst, eth->src);
	mac_copy(eth->src, ans->mac);

	return bpf_redirect(skb->ifindex, 0);
}

/* ---- programs ------------------------------------------------------------ */

SEC("tc")
int bnet_port_in(struct __sk_buff *skb)
{
	__u32 in = skb->ifindex;
	struct port_info *port;
	struct net_info *netp, net;
	struct fdb_key key = {};
	struct fdb_entry *dst;
	struct bnet_eth eth;
	__u32 net_id;

	port = bpf_map_lookup_elem(&ports, &in);
	if (!port)
		return drop(skb, BNET_DROP_NO_PORT);
	net_id = port->net_id;
	netp = bpf_map_lookup_elem(&networks, &net_id);
	if (!netp)
		return drop(skb, BNET_DROP_NO_NETWORK);
	net = *netp;
	if (!(port->flags & BNET_PORT_UP))
		return drop(skb, BNET_DROP_PORT_DOWN);
	if (skb->vlan_present)
		return drop(skb, BNET_DROP_VLAN_TAGGED);
	if (load_eth(skb, &eth) < 0)
		return drop(skb, BNET_DROP_MALFORMED);
	if (eth.proto == bpf_htons(BNET_ETH_P_8021Q) || eth.proto == bpf_htons(BNET_ETH_P_8021AD))
		return drop(skb, BNET_DROP_VLAN_TAGGED);
	/* A group address is never a valid source. */
	if (eth.src[0] & 1)
		return drop(skb, BNET_DROP_MALFORMED);

	if (eth.proto == bpf_htons(ETH_P_ARP)) {
		int rc = arp_respond(skb, net_id);

		if (rc != BNET_CONTINUE)
			return rc;
	}

	if (eth.dst[0] & 1)
		return flood_out(skb, net_id, &net, BNET_FROM_PORT);

	key.net_id = net_id;
	mac_copy(key.mac, eth.dst);
	dst = bpf_map_lookup_elem(&fdb, &key);
	if (dst) {
		if (dst->ifindex != 0) {
			if (dst->ifindex == in)
				return drop(skb, BNET_DROP_HAIRPIN);
			return deliver_local(skb, dst->ifindex);
		}
		switch (net.type) {
		case BNET_NET_VXLAN:
			return to_tunnel(skb, &net, dst->vtep);
		case BNET_NET_FLAT:
		case BNET_NET_VLAN:
			return to_phys(skb, &net);
		case BNET_NET_GRE:
			return drop(skb, BNET_DROP_NO_TUNNEL);
		default:
			/* A local network has no remote MACs. */
			return drop(skb, BNET_DROP_FDB_MISS);
		}
	}

	/* Unknown unicast: the physical network may know it; overlays flood. */
	if (net.type == BNET_NET_FLAT || net.type == BNET_NET_VLAN)
		return to_phys(skb, &net);
	return flood_out(skb, net_id, &net, BNET_FROM_PORT);
}

SEC("tc")
int bnet_tun_in(struct __sk_buff *skb)
{
	struct bpf_tunnel_key tkey = {};
	struct segment_key skey = { .type = BNET_NET_VXLAN };
	struct fdb_key key = {};
	struct fdb_entry *dst;
	struct net_info *netp, net;
	struct bnet_eth eth;
	__u32 *nid, net_id;

	if (bpf_skb_get_tunnel_key(skb, &tkey, sizeof(tkey), 0) < 0)
		return drop(skb, BNET_DROP_TUNNEL_KEY);
	skey.segment = tkey.tunnel_id;
	nid = bpf_map_lookup_elem(&segments, &skey);
	if (!nid)
		return drop(skb, BNET_DROP_UNKNOWN_SEGMENT);
	net_id = *nid;
	netp = bpf_map_lookup_elem(&networks, &net_id);
	if (!netp)
		return drop(skb, BNET_DROP_NO_NETWORK);
	net = *netp;
	if (load_eth(skb, &eth) < 0)
		return drop(skb, BNET_DROP_MALFORMED);

	if (eth.dst[0] & 1)
		return flood_out(skb, net_id, &net, BNET_FROM_TUNNEL);

	key.net_id = net_id;
	mac_copy(key.mac, eth.dst);
	dst = bpf_map_lookup_elem(&fdb, &key);
	if (!dst || dst->ifindex == 0)
		return drop(skb, BNET_DROP_FDB_MISS);
	return deliver_local(skb, dst->ifindex);
}

SEC("tc")
int bnet_phys_in(struct __sk_buff *skb)
{
	struct segment_key skey = { .ifindex = skb->ifindex };
	struct fdb_key key = {};
	struct fdb_entry *dst;
	struct net_info *netp, net;
	struct bnet_eth eth;
	__u32 *nid, net_id, tagged;

	tagged = skb->vlan_present;
	if (tagged) {
		skey.type = BNET_NET_VLAN;
		skey.segment = skb->vlan_tci & BNET_VID_MASK;
	} else {
		skey.type = BNET_NET_FLAT;
	}
	nid = bpf_map_lookup_elem(&segments, &skey);
	if (!nid)
		return TCX_NEXT;
	net_id = *nid;
	netp = bpf_map_lookup_elem(&networks, &net_id);
	if (!netp)
		return TCX_NEXT;
	net = *netp;
	if (load_eth(skb, &eth) < 0)
		return drop(skb, BNET_DROP_MALFORMED);

	if (eth.dst[0] & 1) {
		if (tagged && bpf_skb_vlan_pop(skb) < 0)
			return drop(skb, BNET_DROP_VLAN_PUSH);
		return flood_out(skb, net_id, &net, BNET_FROM_PHYS);
	}

	key.net_id = net_id;
	mac_copy(key.mac, eth.dst);
	dst = bpf_map_lookup_elem(&fdb, &key);
	if (!dst || dst->ifindex == 0)
		return TCX_NEXT;
	if (tagged && bpf_skb_vlan_pop(skb) < 0)
		return drop(skb, BNET_DROP_VLAN_PUSH);
	return deliver_local(skb, dst->ifindex);
}
