//go:build ignore
// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * bnet L2 datapath: four TC ingress programs.
 *
 *   bnet_port_in  host side of a VM port (frames from the VM)
 *   bnet_tun_in   the node's VXLAN external device (decapsulated frames)
 *   bnet_phys_in  a physnet NIC (flat and VLAN provider networks)
 *   bnet_ul_in    the underlay NIC (GRE, decapsulated here in BPF)
 *
 * Nothing is learned here: every map is filled by the agent. Every frame
 * ends in exactly one of: a redirect, a flood (clones, original freed),
 * a counted drop, an ICMP answer (counted), or TCX_NEXT on a physnet or
 * underlay NIC for frames that are not ours. See docs/datapath.md.
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

/* uapi headers are 6.1: the decap flags are missing there. */
#ifndef BPF_F_ADJ_ROOM_DECAP_L3_IPV4
#define BPF_F_ADJ_ROOM_DECAP_L3_IPV4 (1ULL << 7)
#define BPF_F_ADJ_ROOM_DECAP_L3_IPV6 (1ULL << 8)
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
/*
 * Internal "deliver to the local port in *to": noinline NAT steps hand the
 * delivery (and its security group check) back to the program's top level,
 * so the check's stack frame never sits under theirs.
 */
#define BNET_DELIVER 0x10001

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

struct bnet_iph {
	__u8 ver_ihl;
	__u8 tos;
	__be16 tot_len;
	__be16 id;
	__be16 frag_off;
	__u8 ttl;
	__u8 protocol;
	__u16 check;
	__be32 saddr;
	__be32 daddr;
};

#define BNET_IPPROTO_ICMP 1
#define BNET_IPPROTO_TCP 6
#define BNET_IPPROTO_UDP 17
#define BNET_IPPROTO_GRE 47
#define BNET_IP_DF 0x4000
#define BNET_IP_MF 0x2000
#define BNET_IP_OFFMASK 0x1fff

/* GRE (RFC 2784/2890) as gretap sends it: key present, TEB payload. */
#define BNET_GRE_CSUM 0x8000
#define BNET_GRE_ROUTING 0x4000
#define BNET_GRE_KEY 0x2000
#define BNET_GRE_SEQ 0x1000
#define BNET_GRE_VERSION 0x0007
#define BNET_ETH_P_TEB 0x6558

/* What GRE encap writes after the outer Ethernet header. */
struct bnet_gre_hdrs {
	struct bnet_iph ip;
	__be16 flags;
	__be16 proto;
	__be32 key;
};

/* Outer IPv4 + keyed GRE + the inner Ethernet header: 42 bytes. */
#define BNET_GRE_OVERHEAD (sizeof(struct bnet_gre_hdrs) + sizeof(struct bnet_eth))
#define BNET_GRE_ENCAP_FLAGS                                                                    \
	(BPF_F_ADJ_ROOM_FIXED_GSO | BPF_F_ADJ_ROOM_ENCAP_L3_IPV4 | BPF_F_ADJ_ROOM_ENCAP_L4_GRE | \
	 BPF_F_ADJ_ROOM_ENCAP_L2_ETH | BPF_F_ADJ_ROOM_ENCAP_L2(sizeof(struct bnet_eth)))

/*
 * VXLAN (RFC 7348) as the kernel's device sends it, written in BPF: what
 * follows the outer Ethernet header. The UDP checksum is zero (allowed
 * over IPv4) and the source port a hash of the inner flow, for ECMP.
 */
struct bnet_vxlan_hdrs {
	struct bnet_iph ip;
	__be16 sport;
	__be16 dport;
	__be16 len;
	__be16 check;
	__be32 flags;
	__be32 vni; /* VNI << 8 */
};

#define BNET_VXLAN_I 0x08000000 /* flags: the VNI is valid */
/* Outer IPv4 + UDP + VXLAN + the inner Ethernet header: 50 bytes. */
#define BNET_VXLAN_OVERHEAD (sizeof(struct bnet_vxlan_hdrs) + sizeof(struct bnet_eth))
#define BNET_VXLAN_ENCAP_FLAGS                                                                  \
	(BPF_F_ADJ_ROOM_FIXED_GSO | BPF_F_ADJ_ROOM_ENCAP_L3_IPV4 | BPF_F_ADJ_ROOM_ENCAP_L4_UDP | \
	 BPF_F_ADJ_ROOM_ENCAP_L2_ETH | BPF_F_ADJ_ROOM_ENCAP_L2(sizeof(struct bnet_eth)))
/* The kernel's default source port range for UDP tunnels. */
#define BNET_VXLAN_SPORT_MIN 32768
#define BNET_VXLAN_SPORT_MAX 61000

/* ICMP destination unreachable / fragmentation needed, quoting the IPv4
 * header and the first 8 bytes of the packet that did not fit (RFC 792). */
struct bnet_icmp_frag {
	__u8 type;
	__u8 code;
	__u16 csum;
	__be16 unused;
	__be16 mtu;
	struct bnet_iph quoted;
	__u8 l4[8];
};

#define BNET_ICMP_FRAG_LEN (sizeof(struct bnet_eth) + sizeof(struct bnet_iph) + sizeof(struct bnet_icmp_frag))

/* ---- trace ------------------------------------------------------------ */

/*
 * Set only in the copy `bnet trace` loads; constant, so the verifier drops
 * every trace() from the live programs (see bnet.h).
 */
volatile const __u32 bnet_trace = 0;
struct trace_log trace_buf;
struct trace_tunnel trace_tun;

static __always_inline void trace(__u32 kind, __u32 a, __u32 b, __u32 c)
{
	__u32 n;

	if (!bnet_trace)
		return;
	n = trace_buf.n;
	if (n < BNET_TRACE_STEPS) {
		trace_buf.step[n].kind = kind;
		trace_buf.step[n].a = a;
		trace_buf.step[n].b = b;
		trace_buf.step[n].c = c;
	}
	trace_buf.n = n + 1;
}

/* ---- drops ------------------------------------------------------------ */

/*
 * report_drop hands a drop to `bnet monitor` through drop_events, with up
 * to BNET_EVENT_SNAP bytes of the frame, while someone listens. Its own
 * small frame: it is called from wherever a drop is counted.
 */
static __noinline int report_drop(struct __sk_buff *skb, __u32 ifindex, __u32 reason)
{
	__u32 zero = 0, *on = bpf_map_lookup_elem(&monitor_on, &zero), len;
	struct drop_event *e;

	if (!skb || !on || !*on)
		return 0;
	e = bpf_ringbuf_reserve(&drop_events, sizeof(*e), 0);
	if (!e)
		return 0;
	ctx_barrier(skb);
	len = skb->len;
	e->ts = bpf_ktime_get_ns();
	e->ifindex = ifindex;
	e->reason = reason;
	e->len = len;
	e->pad = 0;
	if (len > BNET_EVENT_SNAP)
		len = BNET_EVENT_SNAP;
	e->snap = 0;
	if (len > 0 && bpf_skb_load_bytes(skb, 0, e->data, len) == 0)
		e->snap = len;
	bpf_ringbuf_submit(e, 0);
	return 0;
}

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
	trace(BNET_T_DROP, reason, key.ifindex, 0);
	report_drop(skb, key.ifindex, reason);

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

/*
 * count_drop_at counts a drop against a local port the frame was headed
 * to (a security group refusing it), so per-port counters show what a
 * VM's groups kept out, not only what it sent.
 */
static __always_inline void count_drop_at(struct __sk_buff *skb, __u32 ifindex, __u32 reason)
{
	struct stat_key key = { .ifindex = ifindex, .reason = reason };
	struct stat_val *val, init = {};

	trace(BNET_T_DROP, reason, ifindex, 0);
	report_drop(skb, ifindex, reason);
	ctx_barrier(skb);
	init.packets = 1;
	init.bytes = skb->len;
	val = bpf_map_lookup_elem(&drop_stats, &key);
	if (!val) {
		bpf_map_update_elem(&drop_stats, &key, &init, BPF_NOEXIST);
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

/* ---- security groups: policy and connection tracking -------------------- */

#define BNET_NSEC 1000000000ULL
#define BNET_TCP_FIN 0x01
#define BNET_TCP_SYN 0x02
#define BNET_TCP_RST 0x04
#define BNET_TCP_ACK 0x10

/* The flow a packet belongs to, from the port's side. */
struct bnet_flow {
	struct ct_key key;
	__be16 mport;   /* what rules match: destination port, ICMP type << 8 | code */
	__u8 tcp_flags;
	__u8 related;   /* an ICMP error: key is the flow it quotes */
	__u8 first_frag;
	__u8 pad[3];
	struct frag_key fk;
};

/*
 * policy_scratch holds policy_check's working state: a frame in the
 * stack would not fit under the deepest call chains (512 bytes for all of
 * them). Per CPU, and a TC program runs to completion on its CPU.
 */
struct policy_work {
	struct bnet_flow f;
	struct ct_entry ne;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct policy_work);
} policy_scratch SEC(".maps");

static __always_inline int l4_has_ports(__u8 proto)
{
	/* tcp, udp, dccp, sctp, udplite: ports in the first four bytes */
	return proto == BNET_IPPROTO_TCP || proto == BNET_IPPROTO_UDP || proto == 33 || proto == 132 ||
	       proto == 136;
}

static __always_inline int icmp_is_error(__u8 type)
{
	return type == 3 || type == 4 || type == 5 || type == 11 || type == 12;
}

/*
 * flow_of fills f for an IPv4 packet at a port, seen in direction dir.
 * Returns a drop reason or BNET_DROP_NONE.
 */
static __always_inline __u32 flow_of(struct __sk_buff *skb, __u32 ifindex, __u32 dir, struct bnet_flow *f)
{
	struct bnet_iph ip;
	struct frag_ports *fp;
	__u8 l4[8];
	__be16 sport = 0, dport = 0;
	__u32 off;

	if (bpf_skb_load_bytes(skb, sizeof(struct bnet_eth), &ip, sizeof(ip)) < 0 || (ip.ver_ihl >> 4) != 4 ||
	    (ip.ver_ihl & 0xf) < 5)
		return BNET_DROP_MALFORMED;
	off = sizeof(struct bnet_eth) + (ip.ver_ihl & 0xf) * 4;
	f->key.ifindex = ifindex;
	f->key.proto = ip.protocol;
	f->key.local_ip = dir == BNET_DIR_EGRESS ? ip.saddr : ip.daddr;
	f->key.remote_ip = dir == BNET_DIR_EGRESS ? ip.daddr : ip.saddr;
	f->fk.ifindex = ifindex;
	f->fk.saddr = ip.saddr;
	f->fk.daddr = ip.daddr;
	f->fk.id = ip.id;
	f->fk.proto = ip.protocol;

	if (ip.frag_off & bpf_htons(BNET_IP_OFFMASK)) {
		/* A later fragment: no L4 header, its first fragment's verdict. */
		fp = bpf_map_lookup_elem(&frags, &f->fk);
		if (!fp)
			return BNET_DROP_CT_FRAG;
		f->key.local_port = fp->local_port;
		f->key.remote_port = fp->remote_port;
		f->mport = fp->mport;
		return BNET_DROP_NONE;
	}
	f->first_frag = !!(ip.frag_off & bpf_htons(BNET_IP_MF));

	if (l4_has_ports(ip.protocol)) {
		if (bpf_skb_load_bytes(skb, off, l4, 4) < 0)
			return BNET_DROP_MALFORMED;
		__builtin_memcpy(&sport, &l4[0], 2);
		__builtin_memcpy(&dport, &l4[2], 2);
		if (ip.protocol == BNET_IPPROTO_TCP && bpf_skb_load_bytes(skb, off + 13, &f->tcp_flags, 1) < 0)
			return BNET_DROP_MALFORMED;
		f->mport = dport;
	} else if (ip.protocol == BNET_IPPROTO_ICMP) {
		if (bpf_skb_load_bytes(skb, off, l4, 8) < 0)
			return BNET_DROP_MALFORMED;
		if (icmp_is_error(l4[0])) {
			/*
			 * RELATED: an error about a flow this port tracks. The
			 * quoted packet went the other way, so its source is
			 * the local side when the error comes in.
			 */
			struct bnet_iph in;
			__u32 ioff = off + 8;

			if (bpf_skb_load_bytes(skb, ioff, &in, sizeof(in)) < 0 || (in.ver_ihl & 0xf) < 5)
				return BNET_DROP_MALFORMED;
			ioff += (in.ver_ihl & 0xf) * 4;
			if (bpf_skb_load_bytes(skb, ioff, l4, 8) < 0)
				return BNET_DROP_MALFORMED;
			f->related = 1;
			f->key.proto = in.protocol;
			f->key.local_ip = dir == BNET_DIR_INGRESS ? in.saddr : in.daddr;
			f->key.remote_ip = dir == BNET_DIR_INGRESS ? in.daddr : in.saddr;
			if (in.protocol == BNET_IPPROTO_ICMP) {
				__builtin_memcpy(&f->key.local_port, &l4[4], 2);
				return BNET_DROP_NONE;
			}
			if (!l4_has_ports(in.protocol))
				return BNET_DROP_NONE;
			__builtin_memcpy(&sport, &l4[0], 2);
			__builtin_memcpy(&dport, &l4[2], 2);
			f->key.local_port = dir == BNET_DIR_INGRESS ? sport : dport;
			f->key.remote_port = dir == BNET_DIR_INGRESS ? dport : sport;
			return BNET_DROP_NONE;
		}
		f->mport = bpf_htons((__u16)l4[0] << 8 | l4[1]);
		if (l4[0] == 8 || l4[0] == 0 || l4[0] == 13 || l4[0] == 14) {
			/* echo and timestamp: request and reply share the identifier */
			__builtin_memcpy(&f->key.local_port, &l4[4], 2);
			return BNET_DROP_NONE;
		}
		f->key.local_port = f->mport;
		return BNET_DROP_NONE;
	} else {
		return BNET_DROP_NONE;
	}
	f->key.local_port = dir == BNET_DIR_EGRESS ? sport : dport;
	f->key.remote_port = dir == BNET_DIR_EGRESS ? dport : sport;
	return BNET_DROP_NONE;
}

/* policy_allows: does a rule of the policy let this flow start? */
static __always_inline int policy_allows(__u32 policy_id, __u32 dir, __u32 remote, __u8 proto, __be16 mport)
{
	struct policy_ip_key ik = { .prefixlen = 96, .policy_id = policy_id, .dir = dir, .ip = remote };
	struct policy_port_key pk = { .prefixlen = 64, .proto = proto, .port = mport };
	__u32 *cls, *rule;

	if (policy_id == 0)
		goto denied;
	cls = bpf_map_lookup_elem(&policy_ips, &ik);
	if (!cls)
		goto denied;
	pk.class_id = *cls;
	rule = bpf_map_lookup_elem(&policy_ports, &pk);
	if (!rule)
		goto denied;
	trace(BNET_T_POLICY, dir, BNET_TP_NEW, *rule);
	return 1;
denied:
	trace(BNET_T_POLICY, dir, BNET_TP_DENIED, 0);
	return 0;
}

static __always_inline __u64 ct_timeout(const struct ct_entry *e, __u8 proto)
{
	__u32 zero = 0, t;
	struct ct_cfg *c = bpf_map_lookup_elem(&ct_config, &zero);

	if (proto == BNET_IPPROTO_TCP) {
		if (e->state & BNET_CT_RST || (e->state & BNET_CT_FIN_OUT && e->state & BNET_CT_FIN_IN))
			t = c && c->tcp_close ? c->tcp_close : 10;
		else if (e->state & (BNET_CT_FIN_OUT | BNET_CT_FIN_IN))
			t = c && c->tcp_fin ? c->tcp_fin : 30;
		else if (e->state & BNET_CT_REPLIED)
			t = c && c->tcp_est ? c->tcp_est : 21600;
		else
			t = c && c->tcp_syn ? c->tcp_syn : 60;
	} else if (e->state & BNET_CT_REPLIED) {
		t = c && c->other_est ? c->other_est : 120;
	} else {
		t = c && c->other_new ? c->other_new : 30;
	}
	return (__u64)t * BNET_NSEC;
}

/*
 * A budget is a map of counters: budget_take takes one from key's count
 * unless it is at max (the first take makes the entry), budget_give gives
 * one back. Only what the datapath deletes itself is given back here; the
 * agent's GC recounts every budget from ct.
 */
static __always_inline int budget_take(void *counts, const void *key, __u32 max)
{
	__u32 one = 1, *n = bpf_map_lookup_elem(counts, key);

	if (!n)
		return bpf_map_update_elem(counts, key, &one, BPF_NOEXIST) == 0 ? 0 : -1;
	if (*n >= max)
		return -1;
	__sync_fetch_and_add(n, 1);
	return 0;
}

static __always_inline void budget_give(void *counts, const void *key)
{
	__u32 *n = bpf_map_lookup_elem(counts, key);

	if (n && *n > 0)
		__sync_fetch_and_add(n, -1);
}

/*
 * ct_charge takes a new connection's entry from the port's budget and, for
 * one opened from outside, first from its sender's share of that budget (a
 * sender over its share does not spend the port's). Returns a drop reason.
 */
static __always_inline __u32 ct_charge(__u32 ifindex, __u32 origin, __u32 remote)
{
	struct ct_src_key src = { .ifindex = ifindex, .remote_ip = remote };
	__u32 zero = 0, port_max = 16384, src_max = 4096;
	struct ct_cfg *c = bpf_map_lookup_elem(&ct_config, &zero);

	if (c && c->port_max)
		port_max = c->port_max;
	if (c && c->src_max)
		src_max = c->src_max;
	if (origin == BNET_DIR_INGRESS && budget_take(&ct_src_count, &src, src_max) < 0)
		return BNET_DROP_CT_SRC_FULL;
	if (budget_take(&ct_count, &ifindex, port_max) < 0) {
		if (origin == BNET_DIR_INGRESS)
			budget_give(&ct_src_count, &src);
		return BNET_DROP_CT_FULL;
	}
	return BNET_DROP_NONE;
}

/* ct_uncharge gives back what ct_charge took for a connection origin opened. */
static __always_inline void ct_uncharge(__u32 ifindex, __u32 origin, __u32 remote)
{
	struct ct_src_key src = { .ifindex = ifindex, .remote_ip = remote };

	budget_give(&ct_count, &ifindex);
	if (origin == BNET_DIR_INGRESS)
		budget_give(&ct_src_count, &src);
}

static __always_inline int is_icmp6_nd(struct __sk_buff *skb)
{
	__u8 nh, type;

	/* RS, RA, NS, NA, redirect: neighbour discovery always passes. */
	return bpf_skb_load_bytes(skb, sizeof(struct bnet_eth) + 6, &nh, 1) == 0 && nh == 58 &&
	       bpf_skb_load_bytes(skb, sizeof(struct bnet_eth) + 40, &type, 1) == 0 && type >= 133 && type <= 137;
}

/*
 * policy_check enforces the security groups of local port ifindex on a
 * frame leaving the VM (egress) or about to be delivered to it (ingress).
 * Stateful: a tracked connection passes both ways; a new one needs a rule
 * in its direction; a connection made under an older policy (another
 * epoch) is checked again and cut if no rule allows it any more. ARP, DHCP
 * client traffic and IPv6 neighbour discovery always pass, as Neutron's
 * firewall drivers let them. Returns a drop reason or BNET_DROP_NONE.
 */
static __noinline __u32 policy_check(struct __sk_buff *skb, __u32 ifindex, __u32 dir)
{
	struct policy_work *w;
	struct ct_entry *e;
	struct port_info *port;
	__u64 now;
	__be16 proto;
	__u32 why, existed = 0, policy_id, epoch, zero = 0;

	port = bpf_map_lookup_elem(&ports, &ifindex);
	if (!port)
		return BNET_DROP_NO_PORT;
	policy_id = port->policy_id;
	epoch = port->epoch;
	if (bpf_skb_load_bytes(skb, offsetof(struct bnet_eth, proto), &proto, sizeof(proto)) < 0)
		return BNET_DROP_MALFORMED;
	if (proto == bpf_htons(ETH_P_ARP))
		goto open;
	if (proto == bpf_htons(ETH_P_IPV6)) {
		if (is_icmp6_nd(skb))
			goto open;
		if (port->flags & (dir == BNET_DIR_EGRESS ? BNET_PORT_V6_OUT : BNET_PORT_V6_IN))
			goto open;
		goto denied;
	}
	if (proto != bpf_htons(ETH_P_IP))
		goto denied;

	w = bpf_map_lookup_elem(&policy_scratch, &zero);
	if (!w)
		return BNET_DROP_POLICY;
	__builtin_memset(w, 0, sizeof(*w));
	why = flow_of(skb, ifindex, dir, &w->f);
	if (why != BNET_DROP_NONE)
		return why;
	/* DHCP between the VM's client and a server, both ways. */
	if (w->f.key.proto == BNET_IPPROTO_UDP && !w->f.related && w->f.key.local_port == bpf_htons(68) &&
	    w->f.key.remote_port == bpf_htons(67))
		goto open;

	now = bpf_ktime_get_ns();
	e = bpf_map_lookup_elem(&ct, &w->f.key);
	if (e && e->expires <= now) {
		existed = 1;
		e = NULL;
	}
	if (w->f.related) {
		if (!e)
			goto denied;
		trace(BNET_T_POLICY, dir, BNET_TP_RELATED, 0);
		return BNET_DROP_NONE;
	}
	/* A new SYN on a closing connection's tuple is a new connection. */
	if (e && w->f.key.proto == BNET_IPPROTO_TCP && (w->f.tcp_flags & (BNET_TCP_SYN | BNET_TCP_ACK)) == BNET_TCP_SYN &&
	    (e->state & (BNET_CT_RST | BNET_CT_FIN_OUT | BNET_CT_FIN_IN))) {
		existed = 1;
		e = NULL;
	}
	if (e) {
		if (e->epoch != epoch) {
			if (!policy_allows(policy_id, e->origin, w->f.key.remote_ip, w->f.key.proto, e->mport)) {
				__u32 origin = e->origin;

				if (bpf_map_delete_elem(&ct, &w->f.key) == 0)
					ct_uncharge(ifindex, origin, w->f.key.remote_ip);
				return BNET_DROP_POLICY;
			}
			e->epoch = epoch;
		}
		trace(BNET_T_POLICY, dir, BNET_TP_TRACKED, 0);
		if (dir != e->origin)
			e->state |= BNET_CT_REPLIED;
		if (w->f.key.proto == BNET_IPPROTO_TCP) {
			if (w->f.tcp_flags & BNET_TCP_RST)
				e->state |= BNET_CT_RST;
			if (w->f.tcp_flags & BNET_TCP_FIN)
				e->state |= dir == BNET_DIR_EGRESS ? BNET_CT_FIN_OUT : BNET_CT_FIN_IN;
		}
		e->expires = now + ct_timeout(e, w->f.key.proto);
		e->packets++;
		goto pass;
	}

	/* Not tracked: a new connection, which only a SYN may start in TCP. */
	if (w->f.key.proto == BNET_IPPROTO_TCP && (w->f.tcp_flags & (BNET_TCP_SYN | BNET_TCP_ACK)) != BNET_TCP_SYN)
		return BNET_DROP_CT_INVALID;
	if (!policy_allows(policy_id, dir, w->f.key.remote_ip, w->f.key.proto, w->f.mport))
		return BNET_DROP_POLICY;
	w->ne.origin = dir;
	w->ne.epoch = epoch;
	w->ne.mport = w->f.mport;
	w->ne.packets = 1;
	w->ne.expires = now + ct_timeout(&w->ne, w->f.key.proto);
	if (!existed) {
		why = ct_charge(ifindex, dir, w->f.key.remote_ip);
		if (why != BNET_DROP_NONE)
			return why;
	}
	if (bpf_map_update_elem(&ct, &w->f.key, &w->ne, BPF_ANY) < 0) {
		if (!existed)
			ct_uncharge(ifindex, dir, w->f.key.remote_ip);
		return BNET_DROP_CT_FULL;
	}
pass:
	if (w->f.first_frag) {
		struct frag_ports fp = { .local_port = w->f.key.local_port, .remote_port = w->f.key.remote_port,
					 .mport = w->f.mport };

		bpf_map_update_elem(&frags, &w->f.fk, &fp, BPF_ANY);
	}
	return BNET_DROP_NONE;
open:
	trace(BNET_T_POLICY, dir, BNET_TP_OPEN, 0);
	return BNET_DROP_NONE;
denied:
	trace(BNET_T_POLICY, dir, BNET_TP_DENIED, 0);
	return BNET_DROP_POLICY;
}

/*
 * local_port_reason says why ifindex cannot take a frame right now, or
 * BNET_DROP_NONE. deliver_local and flood_out's local copies share it so
 * both paths apply the same rules, security groups included.
 */
static __always_inline __u32 local_port_reason(struct __sk_buff *skb, __u32 ifindex)
{
	struct port_info *port = bpf_map_lookup_elem(&ports, &ifindex);

	if (!port)
		return BNET_DROP_NO_PORT;
	if (!(port->flags & BNET_PORT_UP))
		return BNET_DROP_PORT_DOWN;
	if (port->flags & BNET_PORT_POLICY)
		return policy_check(skb, ifindex, BNET_DIR_INGRESS);
	return BNET_DROP_NONE;
}

/*
 * deliver_local is the one way a frame reaches a local port, whether it
 * came from a port, a tunnel or a physnet. Routing, NAT and security
 * groups hook in here.
 */
static __always_inline int deliver_local(struct __sk_buff *skb, __u32 ifindex)
{
	__u32 reason = local_port_reason(skb, ifindex);

	if (reason == BNET_DROP_NONE) {
		trace(BNET_T_DELIVER, ifindex, 0, 0);
		return bpf_redirect(ifindex, 0);
	}
	if (reason == BNET_DROP_PORT_DOWN || reason == BNET_DROP_NO_PORT)
		return drop(skb, reason);
	count_drop_at(skb, ifindex, reason);
	return TC_ACT_SHOT;
}

/*
 * The tunnel key helpers take the size of struct bpf_tunnel_key as the
 * program knows it and refuse sizes the kernel does not: the struct grew
 * local_ipv4 in 6.0, so sizeof() from newer headers fails on older
 * kernels. Every kernel takes the layout up to tunnel_label (an IPv4
 * tunnel needs no flow label).
 */
#define BNET_TUNNEL_KEY_SIZE offsetof(struct bpf_tunnel_key, tunnel_label)

static __always_inline int set_tunnel(struct __sk_buff *skb, __u32 vni, __u32 vtep)
{
	struct bpf_tunnel_key key = {};

	key.tunnel_id = vni;
	/* The helper takes the remote address in host byte order. */
	key.remote_ipv4 = bpf_ntohl(vtep);
	key.tunnel_ttl = BNET_TUNNEL_TTL;
	/* No UDP checksum, as RFC 7348 asks and as vxlan_push sends. */
	return bpf_skb_set_tunnel_key(skb, &key, BNET_TUNNEL_KEY_SIZE, BPF_F_ZERO_CSUM_TX);
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
	trace(BNET_T_VXLAN, net->segment, vtep, 0);
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
	trace(BNET_T_PHYS, net->phys_ifindex, net->type == BNET_NET_VLAN ? net->segment & BNET_VID_MASK : 0, 0);
	return bpf_redirect(net->phys_ifindex, 0);
}


/* ---- IPv4, GRE and MTU --------------------------------------------------- */

static __always_inline __u16 csum_fold(__s64 sum)
{
	__u32 c = (__u32)sum;

	c = (c & 0xffff) + (c >> 16);
	c = (c & 0xffff) + (c >> 16);
	return (__u16)~c;
}

static __always_inline void ip_set_csum(struct bnet_iph *ip)
{
	ip->check = 0;
	ip->check = csum_fold(bpf_csum_diff(0, 0, (__be32 *)ip, sizeof(*ip), 0));
}

static __always_inline int is_ip(__be16 proto)
{
	return proto == bpf_htons(ETH_P_IP) || proto == bpf_htons(ETH_P_IPV6);
}

/*
 * too_big says whether a frame of an overlay network would not fit its
 * MTU once encapsulated. A GSO packet is judged by the segments it will
 * become (headers + gso_size), not by its length.
 */
static __always_inline int too_big(struct __sk_buff *skb, const struct bnet_eth *eth, __u32 mtu)
{
	__u32 len, gso, hdr = 0, l4off = 0;
	__u8 b[2] = {}, proto = 0;

	ctx_barrier(skb);
	len = skb->len;
	gso = skb->gso_size;
	if (mtu == 0)
		return 0;
	if (!gso)
		return len - sizeof(struct bnet_eth) > mtu;

	if (eth->proto == bpf_htons(ETH_P_IP)) {
		if (bpf_skb_load_bytes(skb, sizeof(struct bnet_eth), b, 1) < 0 ||
		    bpf_skb_load_bytes(skb, sizeof(struct bnet_eth) + 9, &proto, 1) < 0)
			return 0;
		hdr = (b[0] & 0xf) * 4;
	} else if (eth->proto == bpf_htons(ETH_P_IPV6)) {
		if (bpf_skb_load_bytes(skb, sizeof(struct bnet_eth) + 6, &proto, 1) < 0)
			return 0;
		hdr = 40;
	}
	l4off = sizeof(struct bnet_eth) + hdr;
	if (proto == BNET_IPPROTO_TCP) {
		if (bpf_skb_load_bytes(skb, l4off + 12, b, 1) < 0)
			return 0;
		hdr += (b[0] >> 4) * 4;
	} else if (proto == BNET_IPPROTO_UDP) {
		hdr += 8;
	}
	return hdr + gso > mtu;
}

/*
 * icmp_error turns the IPv4 packet in skb into an ICMP error about it and
 * sends that back out of the port it came from, to the sender: type and
 * code as given (type << 8 | code), mtu for fragmentation-needed, from the
 * address from (0: the packet's own destination, as the kernel's bridged
 * tunnels do in iptunnel_pmtud_build_icmp) and from the MAC the packet
 * was sent to. It quotes the IPv4 header and the first 8 bytes (RFC 792).
 * ICMP errors and packets with IP options get no answer (TC_ACT_SHOT);
 * the caller has counted the packet already. Not inlined: several paths
 * answer this way and the program must stay small enough to verify.
 */
static __noinline int icmp_error(struct __sk_buff *skb, const struct bnet_eth *eth, __u32 type_code, __u32 mtu,
				 __u32 from)
{
	struct bnet_icmp_frag icmp = {};
	struct bnet_iph ip = {};
	struct bnet_eth out;
	__u8 type;

	if (!skb || !eth || eth->proto != bpf_htons(ETH_P_IP))
		return TC_ACT_SHOT;
	if (bpf_skb_load_bytes(skb, sizeof(struct bnet_eth), &icmp.quoted, sizeof(icmp.quoted)) < 0)
		return TC_ACT_SHOT;
	/* Options would shift the quote; such senders are rare enough. */
	if (icmp.quoted.ver_ihl != 0x45)
		return TC_ACT_SHOT;
	/* Only the first fragment is answered (RFC 1122 3.2.2): the others
	 * carry no L4 header to quote. */
	if (icmp.quoted.frag_off & bpf_htons(BNET_IP_OFFMASK))
		return TC_ACT_SHOT;
	if (bpf_skb_load_bytes(skb, sizeof(struct bnet_eth) + sizeof(struct bnet_iph), icmp.l4,
			       sizeof(icmp.l4)) < 0)
		return TC_ACT_SHOT;
	if (icmp.quoted.protocol == BNET_IPPROTO_ICMP) {
		type = icmp.l4[0];
		/* Never answer an ICMP error with another (RFC 1122). */
		if (type == 3 || type == 4 || type == 5 || type == 11 || type == 12)
			return TC_ACT_SHOT;
	}
	icmp.type = type_code >> 8;
	icmp.code = type_code & 0xff;
	icmp.mtu = bpf_htons(mtu);
	icmp.csum = csum_fold(bpf_csum_diff(0, 0, (__be32 *)&icmp, sizeof(icmp), 0));

	ip.ver_ihl = 0x45;
	ip.tot_len = bpf_htons(sizeof(ip) + sizeof(icmp));
	ip.frag_off = bpf_htons(BNET_IP_DF);
	ip.ttl = 64;
	ip.protocol = BNET_IPPROTO_ICMP;
	ip.saddr = from ? from : icmp.quoted.daddr;
	ip.daddr = icmp.quoted.saddr;
	ip_set_csum(&ip);

	mac_copy(out.dst, eth->src);
	mac_copy(out.src, eth->dst);
	out.proto = bpf_htons(ETH_P_IP);

	if (bpf_skb_change_tail(skb, BNET_ICMP_FRAG_LEN, 0) < 0 ||
	    bpf_skb_store_bytes(skb, 0, &out, sizeof(out), 0) < 0 ||
	    bpf_skb_store_bytes(skb, sizeof(out), &ip, sizeof(ip), 0) < 0 ||
	    bpf_skb_store_bytes(skb, sizeof(out) + sizeof(ip), &icmp, sizeof(icmp), 0) < 0)
		return TC_ACT_SHOT;
	trace(BNET_T_ICMP, type_code, mtu, ip.saddr);
	ctx_barrier(skb);
	return bpf_redirect(skb->ifindex, 0);
}

#define BNET_ICMP_UNREACH 3
#define BNET_ICMP_TIME_EXCEEDED 11
#define BNET_ICMP_NET_UNREACH ((BNET_ICMP_UNREACH << 8) | 0)
#define BNET_ICMP_HOST_UNREACH ((BNET_ICMP_UNREACH << 8) | 1)
#define BNET_ICMP_FRAG_NEEDED ((BNET_ICMP_UNREACH << 8) | 4)
#define BNET_ICMP_TTL_EXCEEDED ((BNET_ICMP_TIME_EXCEEDED << 8) | 0)

/*
 * frag_needed answers an IPv4 packet that does not fit the network's MTU
 * with ICMP fragmentation-needed carrying the MTU. Nothing else on this
 * path would tell the VM, so path-MTU discovery works instead of a black
 * hole. The packet is counted as frag_needed; IPv6 gets no answer yet.
 */
static __always_inline int frag_needed(struct __sk_buff *skb, const struct bnet_eth *eth, __u32 mtu)
{
	count_drop(skb, BNET_DROP_FRAG_NEEDED);
	return icmp_error(skb, eth, BNET_ICMP_FRAG_NEEDED, mtu, 0);
}

/* outer_ip fills the outer IPv4 header gretap and vxlan send: DF, TTL 64. */
static __always_inline void outer_ip(struct bnet_iph *ip, __u8 proto, __u32 len, __u32 saddr, __u32 daddr)
{
	ip->ver_ihl = 0x45;
	ip->tos = 0;
	ip->tot_len = bpf_htons(len > 0xffff ? 0xffff : len);
	ip->id = 0;
	ip->frag_off = bpf_htons(BNET_IP_DF);
	ip->ttl = BNET_TUNNEL_TTL;
	ip->protocol = proto;
	ip->saddr = saddr;
	ip->daddr = daddr;
	ip_set_csum(ip);
}

/*
 * gre_push wraps the frame in outer IPv4 + GRE (key = segment, protocol
 * TEB) and leaves room for the outer Ethernet header at offset 0, which
 * the caller writes. IP frames (GSO or not) grow with bpf_skb_adjust_room,
 * which marks the skb as GRE-encapsulated so GSO segments each get the
 * outer headers; adjust_room refuses anything but IP, so ARP, LLDP and
 * other non-IP frames (never GSO) grow with bpf_skb_change_head instead.
 * Returns 0 or a drop reason.
 */
static __always_inline __u32 gre_push(struct __sk_buff *skb, const struct bnet_eth *eth, __u32 key,
				      __u32 saddr, __u32 daddr)
{
	struct bnet_gre_hdrs h = {};
	__u32 len;

	ctx_barrier(skb);
	if (is_ip(eth->proto) && skb->protocol == eth->proto) {
		if (bpf_skb_adjust_room(skb, BNET_GRE_OVERHEAD, BPF_ADJ_ROOM_MAC, BNET_GRE_ENCAP_FLAGS) < 0)
			return BNET_DROP_ENCAP;
		if (bpf_skb_store_bytes(skb, sizeof(struct bnet_eth) + sizeof(h), eth, sizeof(*eth), 0) < 0)
			return BNET_DROP_ENCAP;
	} else if (bpf_skb_change_head(skb, BNET_GRE_OVERHEAD, 0) < 0) {
		return BNET_DROP_ENCAP;
	}
	ctx_barrier(skb);
	len = skb->len - sizeof(struct bnet_eth);
	outer_ip(&h.ip, BNET_IPPROTO_GRE, len, saddr, daddr);
	h.flags = bpf_htons(BNET_GRE_KEY);
	h.proto = bpf_htons(BNET_ETH_P_TEB);
	h.key = bpf_htonl(key);
	if (bpf_skb_store_bytes(skb, sizeof(struct bnet_eth), &h, sizeof(h), 0) < 0)
		return BNET_DROP_ENCAP;
	return BNET_DROP_NONE;
}

/* set_outer_eth writes the outer Ethernet header towards next hop nh. */
static __always_inline int set_outer_eth(struct __sk_buff *skb, const struct nh_entry *nh)
{
	struct bnet_eth o;

	mac_copy(o.dst, nh->dmac);
	mac_copy(o.src, nh->smac);
	o.proto = bpf_htons(ETH_P_IP);
	return bpf_skb_store_bytes(skb, 0, &o, sizeof(o), 0);
}

/*
 * to_underlay sends an encapsulated frame to VTEP vtep. IP packets leave
 * through bpf_redirect_neigh, so the kernel's FIB and neighbour table pick
 * the next hop (and resolve it if needed); non-IP frames, which
 * redirect_neigh refuses, use the next hop the agent resolved.
 */
static __always_inline int to_underlay(struct __sk_buff *skb, const struct node_cfg *cfg, __u32 vtep)
{
	struct bnet_eth o = {};
	struct nh_entry *nh;

	ctx_barrier(skb);
	if (skb->protocol == bpf_htons(ETH_P_IP)) {
		o.proto = bpf_htons(ETH_P_IP);
		if (bpf_skb_store_bytes(skb, 0, &o, sizeof(o), 0) < 0)
			return drop(skb, BNET_DROP_ENCAP);
		return bpf_redirect_neigh(cfg->underlay_ifindex, NULL, 0, 0);
	}
	nh = bpf_map_lookup_elem(&underlay_nh, &vtep);
	if (!nh)
		return drop(skb, BNET_DROP_NO_NEIGH);
	if (set_outer_eth(skb, nh) < 0)
		return drop(skb, BNET_DROP_ENCAP);
	return bpf_redirect(nh->ifindex, 0);
}

/* to_gre sends a frame of a GRE network to one remote VTEP. */
static __always_inline int to_gre(struct __sk_buff *skb, const struct net_info *net, __u32 vtep,
				  const struct bnet_eth *eth)
{
	__u32 zero = 0, reason;
	struct node_cfg *cfg = bpf_map_lookup_elem(&node_cfg, &zero);

	if (!cfg || cfg->underlay_ifindex == 0 || cfg->local_ip == 0)
		return drop(skb, BNET_DROP_NO_TUNNEL);
	reason = gre_push(skb, eth, net->segment, cfg->local_ip, vtep);
	if (reason != BNET_DROP_NONE)
		return drop(skb, reason);
	trace(BNET_T_GRE, net->segment, vtep, 0);
	return to_underlay(skb, cfg, vtep);
}

/*
 * vxlan_push wraps an IP frame in outer IPv4 + UDP + VXLAN (VNI =
 * segment) and leaves room for the outer Ethernet header at offset 0.
 * bpf_skb_adjust_room marks the skb as UDP-tunnelled, so GSO segments
 * each get the outer headers. Returns 0, or a negative error when the
 * frame was left as it was (not IP, or already marked encapsulated, as a
 * frame decapsulated here and sent back into the overlay by a router
 * namespace is): the caller then uses the kernel's VXLAN device.
 */
static __always_inline int vxlan_push(struct __sk_buff *skb, const struct bnet_eth *eth, __u32 vni,
				      const struct node_cfg *cfg, __u32 daddr)
{
	struct bnet_vxlan_hdrs h = {};
	__u32 len, hash;

	ctx_barrier(skb);
	if (!is_ip(eth->proto) || skb->protocol != eth->proto)
		return -1;
	hash = bpf_get_hash_recalc(skb);
	if (bpf_skb_adjust_room(skb, BNET_VXLAN_OVERHEAD, BPF_ADJ_ROOM_MAC, BNET_VXLAN_ENCAP_FLAGS) < 0)
		return -1;
	/* From here the frame has changed: any failure is a drop. */
	if (bpf_skb_store_bytes(skb, sizeof(struct bnet_eth) + sizeof(h), eth, sizeof(*eth), 0) < 0)
		return BNET_DROP_ENCAP;
	ctx_barrier(skb);
	len = skb->len - sizeof(struct bnet_eth);
	outer_ip(&h.ip, BNET_IPPROTO_UDP, len, cfg->local_ip, daddr);
	h.sport = bpf_htons((__u16)((((__u64)hash * (BNET_VXLAN_SPORT_MAX - BNET_VXLAN_SPORT_MIN)) >> 32) +
				    BNET_VXLAN_SPORT_MIN));
	h.dport = (__be16)cfg->vxlan_port;
	len -= sizeof(struct bnet_iph);
	h.len = bpf_htons(len > 0xffff ? 0xffff : len);
	h.flags = bpf_htonl(BNET_VXLAN_I);
	h.vni = bpf_htonl(vni << 8);
	if (bpf_skb_store_bytes(skb, sizeof(struct bnet_eth), &h, sizeof(h), 0) < 0)
		return BNET_DROP_ENCAP;
	return 0;
}

/*
 * to_vxlan sends a frame of a VXLAN network to one remote VTEP. IP frames
 * are encapsulated here and leave through the underlay NIC like GRE's,
 * skipping the VXLAN device (its route lookup per packet, and on the far
 * side its UDP socket and metadata dst); what that cannot take (ARP, a
 * frame already marked encapsulated) goes through the device.
 */
static __always_inline int to_vxlan(struct __sk_buff *skb, const struct net_info *net, __u32 vtep,
				    const struct bnet_eth *eth)
{
	__u32 zero = 0;
	struct node_cfg *cfg = bpf_map_lookup_elem(&node_cfg, &zero);
	int rc;

	if (!cfg || !(cfg->flags & BNET_NODE_VXLAN_BPF) || cfg->underlay_ifindex == 0 || cfg->local_ip == 0 ||
	    cfg->vxlan_port == 0)
		return to_tunnel(skb, net, vtep);
	rc = vxlan_push(skb, eth, net->segment, cfg, vtep);
	if (rc < 0)
		return to_tunnel(skb, net, vtep);
	if (rc > 0)
		return drop(skb, rc);
	trace(BNET_T_VXLAN, net->segment, vtep, 2);
	return to_underlay(skb, cfg, vtep);
}




/* ---- port security ------------------------------------------------------ */

#define BNET_ICMP6_RS 133
#define BNET_ICMP6_RA 134
#define BNET_ICMP6_NS 135
#define BNET_ICMP6_NA 136
#define BNET_ICMP6_REDIRECT 137
#define BNET_ICMP6_MLD2_REPORT 143

/* lla_is says whether the 16 bytes at a are the EUI-64 link-local of mac. */
static __always_inline int lla_is(const __u64 *a, const __u8 *mac)
{
	__u64 lo = (__u64)(mac[0] ^ 0x02) | (__u64)mac[1] << 8 | (__u64)mac[2] << 16 | (__u64)0xff << 24 |
		   (__u64)0xfe << 32 | (__u64)mac[3] << 40 | (__u64)mac[4] << 48 | (__u64)mac[5] << 56;

	/* fe80:0000:0000:0000 in memory order, then the interface id */
	return a[0] == 0x80feULL && a[1] == lo;
}

static __always_inline int is_v6_ext(__u8 nh)
{
	/* hop-by-hop, routing, fragment, AH, destination options */
	return nh == 0 || nh == 43 || nh == 44 || nh == 51 || nh == 60;
}

/*
 * ipv6_upper walks the extension headers after the fixed IPv6 header, so
 * that an ICMPv6 or UDP message cannot slip past spoofed6 behind a
 * destination options or routing header. On return *nh and *off name the
 * upper-layer header; *frag is 1 past a first fragment's header and 2 for
 * a later fragment, whose upper-layer header is in another packet. -1: the
 * chain is cut short or longer than BNET_V6_EXT_MAX headers.
 */
#define BNET_V6_EXT_MAX 6
static __always_inline int ipv6_upper(struct __sk_buff *skb, __u8 *nh, __u32 *off, __u8 *frag)
{
	__u8 h[4], cur;

#pragma unroll
	for (int i = 0; i < BNET_V6_EXT_MAX; i++) {
		cur = *nh;
		if (!is_v6_ext(cur))
			return 0;
		if (bpf_skb_load_bytes(skb, *off, h, sizeof(h)) < 0)
			return -1;
		*nh = h[0];
		if (cur == 44) {
			*off += 8;
			if ((((__u32)h[2] << 8 | h[3]) >> 3) != 0) {
				*frag = 2;
				return 0;
			}
			*frag = 1;
		} else if (cur == 51) {
			*off += ((__u32)h[1] + 2) * 4;
		} else {
			*off += ((__u32)h[1] + 1) * 8;
		}
	}
	return is_v6_ext(*nh) ? -1 : 0;
}

/*
 * spoofed6 judges IPv6 from a secured port. bnet's subnets are IPv4, so
 * the one IPv6 address a port holds is its link-local address, EUI-64 from
 * its MAC (Neutron allows the same); :: is a source only for what a host
 * sends before it has one (duplicate address detection, router
 * solicitation, MLD reports). A neighbour advertisement may only be for
 * the port's own address, a VM never advertises itself as a router nor
 * answers DHCPv6, and neighbour discovery is never fragmented (RFC 6980),
 * so a fragmented one, which could not be checked, is dropped.
 */
static __always_inline __u32 spoofed6(struct __sk_buff *skb, const struct bnet_eth *eth)
{
	__u64 addr[2];
	__be16 ports[2];
	__u8 type = 0, nh = 0, ver = 0, frag = 0;
	__u32 l4 = sizeof(struct bnet_eth) + 40;
	int icmp, udp;

	if (bpf_skb_load_bytes(skb, sizeof(struct bnet_eth), &ver, 1) < 0 || (ver >> 4) != 6 ||
	    bpf_skb_load_bytes(skb, sizeof(struct bnet_eth) + 6, &nh, 1) < 0 ||
	    bpf_skb_load_bytes(skb, sizeof(struct bnet_eth) + 8, addr, sizeof(addr)) < 0)
		return BNET_DROP_MALFORMED;
	if (ipv6_upper(skb, &nh, &l4, &frag) < 0)
		return BNET_DROP_MALFORMED;
	icmp = frag != 2 && nh == 58;
	udp = frag != 2 && nh == BNET_IPPROTO_UDP;
	if (icmp && bpf_skb_load_bytes(skb, l4, &type, 1) < 0)
		return BNET_DROP_MALFORMED;
	if (icmp && type == BNET_ICMP6_RA)
		return BNET_DROP_ROUTER_ADVERT;
	if (icmp && frag && type >= BNET_ICMP6_RS && type <= BNET_ICMP6_REDIRECT)
		return BNET_DROP_SPOOF_ND;
	if (udp) {
		if (bpf_skb_load_bytes(skb, l4, ports, sizeof(ports)) < 0)
			return BNET_DROP_MALFORMED;
		if (ports[0] == bpf_htons(547))
			return BNET_DROP_DHCP_SERVER;
	}
	if (addr[0] == 0 && addr[1] == 0) {
		if (icmp && (type == BNET_ICMP6_NS || type == BNET_ICMP6_RS || type == BNET_ICMP6_MLD2_REPORT))
			return BNET_DROP_NONE;
		return BNET_DROP_SPOOF_IP;
	}
	if (!lla_is(addr, eth->src))
		return BNET_DROP_SPOOF_IP;
	if (icmp && type == BNET_ICMP6_NA) {
		/* The target address follows type, code, checksum and flags. */
		if (bpf_skb_load_bytes(skb, l4 + 8, addr, sizeof(addr)) < 0)
			return BNET_DROP_MALFORMED;
		if (!lla_is(addr, eth->src))
			return BNET_DROP_SPOOF_ND;
	}
	return BNET_DROP_NONE;
}

/*
 * spoofed says why a frame from a secured port must not pass, or
 * BNET_DROP_NONE (seed 003: the IP/MAC pairs and ARP spoofing protection
 * Neutron puts in iptables and br-int table 24). The source MAC must be one
 * the port may use; an IPv4 source must be a fixed IP or allowed pair
 * bound to that MAC (0.0.0.0 only for a DHCP request); ARP must carry the
 * same MAC and an address the port holds (0.0.0.0 for a probe); a VM never
 * answers DHCP and never advertises itself as an IPv6 router.
 */
static __noinline __u32 spoofed(struct __sk_buff *skb, __u32 ifindex, const struct bnet_eth *eth)
{
	struct port_mac_key mk = { .ifindex = ifindex };
	struct addr_key ak = { .prefixlen = 64, .ifindex = ifindex };
	struct arp_entry *bound;
	struct bnet_iph ip;
	struct bnet_arp ah;
	__be16 ports[2];

	mac_copy(mk.mac, eth->src);
	if (!bpf_map_lookup_elem(&port_macs, &mk))
		return BNET_DROP_SPOOF_MAC;

	if (eth->proto == bpf_htons(ETH_P_IP)) {
		if (bpf_skb_load_bytes(skb, sizeof(struct bnet_eth), &ip, sizeof(ip)) < 0 || (ip.ver_ihl >> 4) != 4 ||
		    (ip.ver_ihl & 0xf) < 5)
			return BNET_DROP_MALFORMED;
		if (ip.protocol == BNET_IPPROTO_UDP && !(ip.frag_off & bpf_htons(BNET_IP_OFFMASK))) {
			if (bpf_skb_load_bytes(skb, sizeof(struct bnet_eth) + (ip.ver_ihl & 0xf) * 4, ports,
					       sizeof(ports)) < 0)
				return BNET_DROP_MALFORMED;
			if (ports[0] == bpf_htons(67))
				return BNET_DROP_DHCP_SERVER;
			if (ip.saddr == 0)
				return ports[0] == bpf_htons(68) && ports[1] == bpf_htons(67) ? BNET_DROP_NONE
											     : BNET_DROP_SPOOF_IP;
		}
		ak.ip = ip.saddr;
		bound = bpf_map_lookup_elem(&port_addrs, &ak);
		if (!bound || !mac_equal(bound->mac, eth->src))
			return BNET_DROP_SPOOF_IP;
		return BNET_DROP_NONE;
	}
	if (eth->proto == bpf_htons(ETH_P_ARP)) {
		if (bpf_skb_load_bytes(skb, sizeof(struct bnet_eth), &ah, sizeof(ah)) < 0)
			return BNET_DROP_MALFORMED;
		if (!mac_equal(ah.sha, eth->src))
			return BNET_DROP_SPOOF_ARP;
		if (ah.spa == 0)
			return BNET_DROP_NONE; /* a probe (RFC 5227) */
		ak.ip = ah.spa;
		bound = bpf_map_lookup_elem(&port_addrs, &ak);
		if (!bound || !mac_equal(bound->mac, ah.sha))
			return BNET_DROP_SPOOF_ARP;
		return BNET_DROP_NONE;
	}
	if (eth->proto == bpf_htons(ETH_P_IPV6))
		return spoofed6(skb, eth);
	return BNET_DROP_NONE;
}

/*
 * dhcp_client_slow is is_dhcp_client for a frame whose headers are not
 * in the linear part. Its own small frame: bnet_port_in's is large.
 */
static __noinline int dhcp_client_slow(struct __sk_buff *skb)
{
	struct bnet_iph ip;
	__be16 ports[2];

	if (bpf_skb_load_bytes(skb, sizeof(struct bnet_eth), &ip, sizeof(ip)) < 0 || (ip.ver_ihl >> 4) != 4 ||
	    (ip.ver_ihl & 0xf) < 5 || ip.protocol != BNET_IPPROTO_UDP || (ip.frag_off & bpf_htons(BNET_IP_OFFMASK)))
		return 0;
	if (bpf_skb_load_bytes(skb, sizeof(struct bnet_eth) + (ip.ver_ihl & 0xf) * 4, ports, sizeof(ports)) < 0)
		return 0;
	return ports[0] == bpf_htons(68) && ports[1] == bpf_htons(67);
}

/*
 * is_dhcp_client says whether an IPv4 frame is a DHCP client message (UDP
 * 68 -> 67). It runs on every IPv4 frame of a DHCP-served port, so it reads
 * the linear headers in place (no copies, no helper calls) and only falls
 * back to copying when they are not there.
 */
static __always_inline int is_dhcp_client(struct __sk_buff *skb)
{
	void *data, *data_end;
	struct bnet_iph *ip;
	__be16 *ports;
	__u32 ihl;

	ctx_barrier(skb);
	data = (void *)(long)skb->data;
	data_end = (void *)(long)skb->data_end;
	ip = data + sizeof(struct bnet_eth);
	if ((void *)(ip + 1) > data_end)
		return dhcp_client_slow(skb);
	if (ip->protocol != BNET_IPPROTO_UDP || (ip->frag_off & bpf_htons(BNET_IP_OFFMASK)) || (ip->ver_ihl >> 4) != 4)
		return 0;
	ihl = (ip->ver_ihl & 0xf) * 4;
	if (ihl < sizeof(*ip))
		return 0;
	ports = (void *)ip + ihl;
	if ((void *)(ports + 2) > data_end)
		return dhcp_client_slow(skb);
	return ports[0] == bpf_htons(68) && ports[1] == bpf_htons(67);
}

/* ---- floating IPs: 1:1 NAT on the VM's node ----------------------------- */

#define BNET_IP_OFF sizeof(struct bnet_eth)
#define BNET_IP_CSUM_OFF (BNET_IP_OFF + offsetof(struct bnet_iph, check))

/*
 * nat_icmp_inner fixes the packet an ICMP error quotes: it is the packet
 * the other side sent or received, so the address being translated sits in
 * the opposite field (an error the VM sends quotes a packet *to* it). The
 * quoted header's checksum and the ICMP checksum over both follow.
 */
static __always_inline int nat_icmp_inner(struct __sk_buff *skb, __u32 l4, __u32 is_src, __u32 old, __u32 new_)
{
	__u32 ioff = l4 + 8, aoff;
	struct bnet_iph in;
	__u16 ocsum, ncsum;
	__u8 type;

	if (bpf_skb_load_bytes(skb, l4, &type, 1) < 0)
		return 0;
	if (type != 3 && type != 11 && type != 12)
		return 0;
	if (bpf_skb_load_bytes(skb, ioff, &in, sizeof(in)) < 0)
		return 0; /* too short a quote to translate */
	aoff = ioff + (is_src ? offsetof(struct bnet_iph, daddr) : offsetof(struct bnet_iph, saddr));
	if ((is_src ? in.daddr : in.saddr) != old)
		return 0;
	ocsum = in.check;
	if (bpf_skb_store_bytes(skb, aoff, &new_, 4, 0) < 0 ||
	    bpf_l3_csum_replace(skb, ioff + offsetof(struct bnet_iph, check), old, new_, 4) < 0 ||
	    bpf_skb_load_bytes(skb, ioff + offsetof(struct bnet_iph, check), &ncsum, 2) < 0 ||
	    bpf_l4_csum_replace(skb, l4 + 2, old, new_, 4) < 0 ||
	    bpf_l4_csum_replace(skb, l4 + 2, ocsum, ncsum, 2) < 0)
		return -1;
	return 0;
}

/*
 * nat_addr rewrites the packet's source (is_src) or destination IPv4
 * address from old to new_: the IP header checksum, the TCP/UDP checksum
 * whose pseudo header holds the address, and the quoted packet of an ICMP
 * error. IP options are carried over untouched: the L4 header starts
 * after them.
 */
static __noinline int nat_addr(struct __sk_buff *skb, __u32 is_src, __u32 old, __u32 new_)
{
	struct bnet_iph ip;
	__u32 off, l4;

	if (!skb || bpf_skb_load_bytes(skb, BNET_IP_OFF, &ip, sizeof(ip)) < 0 || (ip.ver_ihl >> 4) != 4 ||
	    (ip.ver_ihl & 0xf) < 5)
		return -1;
	l4 = BNET_IP_OFF + (ip.ver_ihl & 0xf) * 4;
	off = BNET_IP_OFF + (is_src ? offsetof(struct bnet_iph, saddr) : offsetof(struct bnet_iph, daddr));
	if (bpf_skb_store_bytes(skb, off, &new_, 4, 0) < 0 ||
	    bpf_l3_csum_replace(skb, BNET_IP_CSUM_OFF, old, new_, 4) < 0)
		return -1;
	trace(BNET_T_NAT, old, new_, is_src);
	if (ip.frag_off & bpf_htons(BNET_IP_OFFMASK))
		return 0; /* a later fragment carries no L4 header */
	switch (ip.protocol) {
	case BNET_IPPROTO_TCP:
		return bpf_l4_csum_replace(skb, l4 + 16, old, new_, BPF_F_PSEUDO_HDR | 4);
	case BNET_IPPROTO_UDP:
		return bpf_l4_csum_replace(skb, l4 + 6, old, new_,
					   BPF_F_PSEUDO_HDR | BPF_F_MARK_MANGLED_0 | 4);
	case BNET_IPPROTO_ICMP:
		return nat_icmp_inner(skb, l4, is_src, old, new_);
	}
	return 0;
}

/* dec_ttl takes one off the TTL of ip (already loaded), in the packet too. */
static __always_inline int dec_ttl(struct __sk_buff *skb, struct bnet_iph *ip)
{
	__u16 old_word = bpf_htons((__u16)ip->ttl << 8 | ip->protocol), new_word;

	ip->ttl--;
	new_word = bpf_htons((__u16)ip->ttl << 8 | ip->protocol);
	if (bpf_skb_store_bytes(skb, BNET_IP_OFF + offsetof(struct bnet_iph, ttl), &ip->ttl, 1, 0) < 0 ||
	    bpf_l3_csum_replace(skb, BNET_IP_CSUM_OFF, old_word, new_word, 2) < 0)
		return -1;
	return 0;
}

/*
 * fip_out sends a routed packet of a VM with a floating IP straight out of
 * this node onto the external network, its source translated to the
 * floating IP (seed 002 §3.2.2, without the rfp/fpr veths and the fip
 * namespace): from this node's fg address MAC to the external gateway, or
 * directly to a port of the external network when the destination is one
 * (on this node: delivered without touching the NIC). The caller has
 * answered TTL and size errors: three calls deep, the stack is too small
 * for icmp_error.
 */
static __noinline int fip_out(struct __sk_buff *skb, struct bnet_eth *eth, struct bnet_iph *ip,
			      const struct fip_out_info *fo, __u32 *to)
{
	struct arp_key ak = {};
	struct fdb_key fk = {};
	struct net_info *netp, net;
	struct arp_entry *nb;
	struct fdb_entry *dst;
	struct ext_gw_info *ext;
	__u32 ext_net;

	if (!skb || !eth || !ip || !fo || !to)
		return TC_ACT_SHOT;
	ext_net = fo->ext_net;
	ext = bpf_map_lookup_elem(&ext_gw, &ext_net);
	netp = bpf_map_lookup_elem(&networks, &ext_net);
	if (!ext || !netp)
		return drop(skb, BNET_DROP_NO_NETWORK);
	net = *netp;
	ak.net_id = ext_net;
	ak.ip = ip->daddr;
	nb = bpf_map_lookup_elem(&arp, &ak);
	if (nb && mac_equal(nb->mac, ext->fg_mac)) {
		/*
		 * To another floating IP served here: translate the source now,
		 * the destination in fip_in, which the caller runs (one call
		 * deeper would not fit the stack).
		 */
		if (dec_ttl(skb, ip) < 0 || nat_addr(skb, 1, ip->saddr, fo->fip) < 0)
			return drop(skb, BNET_DROP_MALFORMED);
		return BNET_CONTINUE;
	}
	if (nb) {
		mac_copy(eth->dst, nb->mac);
	} else {
		if (!(ext->gw_mac[0] | ext->gw_mac[1] | ext->gw_mac[2] | ext->gw_mac[3] | ext->gw_mac[4] | ext->gw_mac[5]))
			return drop(skb, BNET_DROP_FIP_NEIGH);
		mac_copy(eth->dst, ext->gw_mac);
	}
	mac_copy(eth->src, ext->fg_mac);
	if (dec_ttl(skb, ip) < 0 || nat_addr(skb, 1, ip->saddr, fo->fip) < 0 ||
	    bpf_skb_store_bytes(skb, 0, eth, 2 * ETH_ALEN, 0) < 0)
		return drop(skb, BNET_DROP_MALFORMED);
	fk.net_id = ext_net;
	mac_copy(fk.mac, eth->dst);
	dst = bpf_map_lookup_elem(&fdb, &fk);
	if (dst && dst->ifindex) {
		*to = dst->ifindex;
		return BNET_DELIVER;
	}
	return to_phys(skb, &net);
}

/*
 * fip_in takes a packet for a floating IP this node serves (sent to its fg
 * MAC on external network ext_net) to the VM: destination translated to
 * the fixed IP, TTL - 1, from the VM's gateway MAC to the VM. It returns
 * BNET_CONTINUE, touching nothing, when the packet is for the fg address
 * itself or for no floating IP here.
 */
static __noinline int fip_in(struct __sk_buff *skb, __u32 ext_net, __u32 tagged, __u32 *to)
{
	struct arp_key ak = { .net_id = ext_net };
	struct fdb_key fk = {};
	struct bnet_eth eth;
	struct bnet_iph ip;
	struct fip_in_info *fi;
	struct rif_info *rif;
	struct arp_entry *nb;
	struct fdb_entry *dst;
	__u32 tnet, fixed;

	if (!skb || !to || bpf_skb_load_bytes(skb, BNET_IP_OFF, &ip, sizeof(ip)) < 0 || (ip.ver_ihl >> 4) != 4 ||
	    (ip.ver_ihl & 0xf) < 5)
		return BNET_CONTINUE;
	ak.ip = ip.daddr;
	fi = bpf_map_lookup_elem(&fips_in, &ak);
	if (!fi)
		return BNET_CONTINUE;
	tnet = fi->net_id;
	fixed = fi->fixed_ip;
	rif = bpf_map_lookup_elem(&rifs, &tnet);
	if (!rif)
		return drop(skb, BNET_DROP_NO_NETWORK);
	ak.net_id = tnet;
	ak.ip = fixed;
	nb = bpf_map_lookup_elem(&arp, &ak);
	if (!nb)
		return drop(skb, BNET_DROP_ROUTE_NEIGH);
	fk.net_id = tnet;
	mac_copy(fk.mac, nb->mac);
	dst = bpf_map_lookup_elem(&fdb, &fk);
	if (!dst || dst->ifindex == 0)
		return drop(skb, BNET_DROP_FDB_MISS); /* the VM is not here (any more) */
	if (ip.ttl <= 1)
		return drop(skb, BNET_DROP_TTL_EXCEEDED);
	mac_copy(eth.dst, nb->mac);
	mac_copy(eth.src, rif->gw_mac);
	if (tagged && bpf_skb_vlan_pop(skb) < 0)
		return drop(skb, BNET_DROP_VLAN_PUSH);
	if (dec_ttl(skb, &ip) < 0 || nat_addr(skb, 0, ip.daddr, fixed) < 0 ||
	    bpf_skb_store_bytes(skb, 0, &eth, 2 * ETH_ALEN, 0) < 0)
		return drop(skb, BNET_DROP_MALFORMED);
	*to = dst->ifindex;
	return BNET_DELIVER;
}

/*
 * proxy_arp answers, on the external network, an ARP request for a
 * floating IP this node serves with its fg MAC: the fg port's proxy_arp of
 * seed 002 §3.2.3, from this node only (fips_in holds only its own).
 * BNET_CONTINUE for anything else.
 */
static __always_inline int proxy_arp(struct __sk_buff *skb, __u32 net_id)
{
	struct arp_key ak = { .net_id = net_id };
	struct bnet_arp ah;
	struct ext_gw_info *ext;
	struct bnet_eth out;
	__u8 sha[ETH_ALEN];
	__be32 spa;

	if (bpf_skb_load_bytes(skb, sizeof(struct bnet_eth), &ah, sizeof(ah)) < 0)
		return BNET_CONTINUE;
	if (ah.htype != bpf_htons(1) || ah.ptype != bpf_htons(ETH_P_IP) || ah.hlen != ETH_ALEN || ah.plen != 4 ||
	    ah.op != bpf_htons(1))
		return BNET_CONTINUE;
	ak.ip = ah.tpa;
	if (!bpf_map_lookup_elem(&fips_in, &ak))
		return BNET_CONTINUE;
	ext = bpf_map_lookup_elem(&ext_gw, &net_id);
	if (!ext)
		return BNET_CONTINUE;
	mac_copy(sha, ah.sha);
	spa = ah.spa;
	ah.op = bpf_htons(2);
	mac_copy(ah.tha, sha);
	ah.tpa = spa;
	mac_copy(ah.sha, ext->fg_mac);
	ah.spa = ak.ip;
	mac_copy(out.dst, sha);
	mac_copy(out.src, ext->fg_mac);
	out.proto = bpf_htons(ETH_P_ARP);
	if (bpf_skb_store_bytes(skb, 0, &out, sizeof(out), 0) < 0 ||
	    bpf_skb_store_bytes(skb, sizeof(out), &ah, sizeof(ah), 0) < 0)
		return drop(skb, BNET_DROP_MALFORMED);
	trace(BNET_T_ARP_REPLY, ak.ip, 0, 0);
	/* Out of the NIC it came from; a VLAN tag in the metadata stays on. */
	ctx_barrier(skb);
	return bpf_redirect(skb->ifindex, 0);
}

/* ---- distributed routing ----------------------------------------------- */

/*
 * dvr_unmask puts the gateway MAC back as the source of a routed frame
 * that arrived from another node with that node's DVR MAC, so the VM sees
 * its gateway, as br-int's DVR_TO_SRC_MAC table does in seed 002 §4.3.1.
 */
static __always_inline int dvr_unmask(struct __sk_buff *skb, __u32 net_id, struct bnet_eth *eth)
{
	struct mac_key mk = {};
	struct rif_info *rif;

	mac_copy(mk.mac, eth->src);
	if (!bpf_map_lookup_elem(&dvr_macs, &mk))
		return 0;
	rif = bpf_map_lookup_elem(&rifs, &net_id);
	if (!rif)
		return 0;
	mac_copy(eth->src, rif->gw_mac);
	trace(BNET_T_DVR, net_id, 0, 0);
	return bpf_skb_store_bytes(skb, ETH_ALEN, rif->gw_mac, ETH_ALEN, 0);
}

/*
 * router_echo answers a ping to one of the router's own addresses, as the
 * qrouter namespace would: addresses swapped (the IP checksum does not
 * change), type 8 -> 0 in the ICMP checksum, sent back out of the port.
 */
static __always_inline int router_echo(struct __sk_buff *skb, const struct bnet_eth *eth,
				       const struct bnet_iph *ip)
{
	__u32 ihl = sizeof(struct bnet_eth) + sizeof(struct bnet_iph);
	struct bnet_eth out;
	__u8 type = 0, reply = 0;

	/* A fragment of a ping would need reassembly to answer: not here. */
	if (ip->protocol != BNET_IPPROTO_ICMP || ip->ver_ihl != 0x45 ||
	    (ip->frag_off & bpf_htons(BNET_IP_MF | BNET_IP_OFFMASK)) ||
	    bpf_skb_load_bytes(skb, ihl, &type, 1) < 0 || type != 8)
		return drop(skb, BNET_DROP_NO_ROUTE);
	mac_copy(out.dst, eth->src);
	mac_copy(out.src, eth->dst);
	out.proto = eth->proto;
	if (bpf_skb_store_bytes(skb, 0, &out, sizeof(out), 0) < 0 ||
	    bpf_skb_store_bytes(skb, sizeof(out) + offsetof(struct bnet_iph, saddr), &ip->daddr, 4, 0) < 0 ||
	    bpf_skb_store_bytes(skb, sizeof(out) + offsetof(struct bnet_iph, daddr), &ip->saddr, 4, 0) < 0 ||
	    bpf_skb_store_bytes(skb, ihl, &reply, 1, 0) < 0 ||
	    bpf_l4_csum_replace(skb, ihl + 2, bpf_htons(0x0800), 0, 2) < 0)
		return drop(skb, BNET_DROP_MALFORMED);
	trace(BNET_T_ECHO, ip->daddr, 0, 0);
	ctx_barrier(skb);
	return bpf_redirect(skb->ifindex, 0);
}

/*
 * route does what a DVR qrouter does on the VM's own node (seed 002
 * §3.2.4-3.2.5): an IPv4 packet sent to the gateway MAC is looked up in
 * the router's connected subnets, its TTL decremented, its MACs rewritten
 * (source: the egress subnet's gateway; destination: the port holding the
 * address, from the replicated ports, like the qrouter's PERMANENT ARP
 * entries) and it leaves on the egress network like any frame of it:
 * to a local port, or to the destination node with this node's DVR MAC as
 * source. Errors are answered as a router does, from the gateway address:
 * TTL exhausted, no route, no such host.
 */
static __always_inline int route(struct __sk_buff *skb, __u32 in_net, const struct rif_info *in_rif,
				 struct bnet_eth *eth)
{
	int rc;
	__u32 to = 0;
	struct route_key rk = { .prefixlen = 64 };
	struct fdb_key fk = {};
	struct arp_key ak = {};
	struct bnet_iph ip;
	struct route_info *ri;
	struct rif_info *out_rif;
	struct arp_entry *nb;
	struct net_info *netp, net;
	struct fdb_entry *dst;
	struct mac_key *self;
	__u32 zero = 0, out_net, nh_ip, gw_ip = in_rif->gw_ip, snat_ip = in_rif->snat_ip;
	__u16 old_word, new_word;

	if (eth->proto != bpf_htons(ETH_P_IP))
		return drop(skb, BNET_DROP_NOT_IPV4);
	if (bpf_skb_load_bytes(skb, sizeof(struct bnet_eth), &ip, sizeof(ip)) < 0 || (ip.ver_ihl >> 4) != 4 ||
	    (ip.ver_ihl & 0xf) < 5)
		return drop(skb, BNET_DROP_MALFORMED);
	if (ip.daddr == gw_ip)
		return router_echo(skb, eth, &ip);

	rk.router_id = in_rif->router_id;
	rk.ip = ip.daddr;
	ri = bpf_map_lookup_elem(&routes, &rk);
	if (!ri || (ri->flags & BNET_ROUTE_SNAT)) {
		/* Leaving the cloud: a floating IP goes out here, never via SNAT. */
		struct arp_key fk = { .net_id = in_net, .ip = ip.saddr };
		struct fip_out_info *fo = bpf_map_lookup_elem(&fips_out, &fk);

		if (fo) {
			__u32 ext_net = fo->ext_net;
			struct net_info *ext = bpf_map_lookup_elem(&networks, &ext_net);

			if (ip.ttl <= 1) {
				count_drop(skb, BNET_DROP_TTL_EXCEEDED);
				return icmp_error(skb, eth, BNET_ICMP_TTL_EXCEEDED, 0, gw_ip);
			}
			if (ext && too_big(skb, eth, ext->mtu)) {
				count_drop(skb, BNET_DROP_FRAG_NEEDED);
				return icmp_error(skb, eth, BNET_ICMP_FRAG_NEEDED, ext->mtu, gw_ip);
			}
			rc = fip_out(skb, eth, &ip, fo, &to);
			if (rc == BNET_DELIVER)
				return deliver_local(skb, to);
			if (rc != BNET_CONTINUE)
				return rc;
			rc = fip_in(skb, ext_net, 0, &to);
			if (rc == BNET_DELIVER)
				return deliver_local(skb, to);
			return rc == BNET_CONTINUE ? drop(skb, BNET_DROP_ROUTE_NEIGH) : rc;
		}
	}
	if (!ri) {
		count_drop(skb, BNET_DROP_NO_ROUTE);
		return icmp_error(skb, eth, BNET_ICMP_NET_UNREACH, 0, gw_ip);
	}
	if (ri->flags & BNET_ROUTE_SNAT) {
		/*
		 * Leaving the cloud without a floating IP: the next hop is the
		 * router's SNAT port on the sender's own subnet, on the network
		 * node (seed 002 §3.2.1: default via the sg- address).
		 */
		if (snat_ip == 0) {
			count_drop(skb, BNET_DROP_NO_ROUTE);
			return icmp_error(skb, eth, BNET_ICMP_NET_UNREACH, 0, gw_ip);
		}
		out_net = in_net;
		nh_ip = snat_ip;
		trace(BNET_T_SNAT, in_rif->router_id, in_net, snat_ip);
	} else {
		out_net = ri->net_id;
		nh_ip = ip.daddr;
		trace(BNET_T_ROUTE, in_rif->router_id, out_net, nh_ip);
	}
	out_rif = bpf_map_lookup_elem(&rifs, &out_net);
	netp = bpf_map_lookup_elem(&networks, &out_net);
	if (!out_rif || !netp)
		return drop(skb, BNET_DROP_NO_NETWORK);
	net = *netp;
	if (ip.daddr == out_rif->gw_ip)
		return router_echo(skb, eth, &ip);
	if (ip.ttl <= 1) {
		count_drop(skb, BNET_DROP_TTL_EXCEEDED);
		return icmp_error(skb, eth, BNET_ICMP_TTL_EXCEEDED, 0, gw_ip);
	}
	ak.net_id = out_net;
	ak.ip = nh_ip;
	nb = bpf_map_lookup_elem(&arp, &ak);
	if (!nb) {
		count_drop(skb, BNET_DROP_ROUTE_NEIGH);
		return icmp_error(skb, eth, BNET_ICMP_HOST_UNREACH, 0, gw_ip);
	}

	fk.net_id = out_net;
	mac_copy(fk.mac, nb->mac);
	dst = bpf_map_lookup_elem(&fdb, &fk);
	if (!dst)
		return drop(skb, BNET_DROP_FDB_MISS);
	/*
	 * Judge the size before anything is rewritten, so that an oversize
	 * packet is answered, from the gateway, to the sender as it sent it.
	 */
	if (dst->ifindex == 0 && too_big(skb, eth, net.mtu)) {
		count_drop(skb, BNET_DROP_FRAG_NEEDED);
		return icmp_error(skb, eth, BNET_ICMP_FRAG_NEEDED, net.mtu, gw_ip);
	}

	/* TTL and protocol share one 16-bit word of the header checksum. */
	old_word = bpf_htons((__u16)ip.ttl << 8 | ip.protocol);
	ip.ttl--;
	new_word = bpf_htons((__u16)ip.ttl << 8 | ip.protocol);
	mac_copy(eth->dst, nb->mac);
	mac_copy(eth->src, out_rif->gw_mac);
	if (bpf_skb_store_bytes(skb, sizeof(struct bnet_eth) + offsetof(struct bnet_iph, ttl), &ip.ttl, 1, 0) < 0 ||
	    bpf_l3_csum_replace(skb, sizeof(struct bnet_eth) + offsetof(struct bnet_iph, check), old_word, new_word,
				2) < 0 ||
	    bpf_skb_store_bytes(skb, 0, eth, 2 * ETH_ALEN, 0) < 0)
		return drop(skb, BNET_DROP_MALFORMED);
	if (dst->ifindex != 0)
		return deliver_local(skb, dst->ifindex);

	/* Leaving the node: the gateway MAC stays home, the DVR MAC goes. */
	self = bpf_map_lookup_elem(&dvr_self, &zero);
	if (!self || !(self->mac[0] | self->mac[1] | self->mac[2] | self->mac[3] | self->mac[4] | self->mac[5]))
		return drop(skb, BNET_DROP_NO_TUNNEL);
	mac_copy(eth->src, self->mac);
	if (bpf_skb_store_bytes(skb, ETH_ALEN, self->mac, ETH_ALEN, 0) < 0)
		return drop(skb, BNET_DROP_MALFORMED);
	switch (net.type) {
	case BNET_NET_VXLAN:
		return to_vxlan(skb, &net, dst->vtep, eth);
	case BNET_NET_GRE:
		return to_gre(skb, &net, dst->vtep, eth);
	case BNET_NET_FLAT:
	case BNET_NET_VLAN:
		return to_phys(skb, &net);
	}
	return drop(skb, BNET_DROP_FDB_MISS);
}

enum bnet_origin {
	BNET_FROM_PORT,
	BNET_FROM_TUNNEL,
	BNET_FROM_PHYS,
};

/*
 * One copy of a flood each. They are global functions, so the verifier
 * checks each once, on its own, instead of once per turn of the fan-out
 * loop that calls it: bounded loops around inlined copies exceed the
 * verifier's budget (bpf_loop's callbacks avoid that too, but need 5.17).
 * A global function takes only the context and scalars.
 */
__noinline int flood_copy_local(struct __sk_buff *skb, __u32 ifindex)
{
	__u32 reason;

	if (ifindex == skb->ifindex)
		return 0;
	reason = local_port_reason(skb, ifindex);
	if (reason != BNET_DROP_NONE) {
		/* A port that is down is not a lost copy; a refused one is. */
		if (reason != BNET_DROP_PORT_DOWN && reason != BNET_DROP_NO_PORT)
			count_drop_at(skb, ifindex, reason);
		return 0;
	}
	trace(BNET_T_DELIVER, ifindex, 1, 0);
	/* A trace sends nothing: its copies exist only in trace_log. */
	if (!bnet_trace && bpf_clone_redirect(skb, ifindex, 0) < 0)
		count_drop(skb, BNET_DROP_REDIRECT);
	return 0;
}

__noinline int flood_copy_vxlan(struct __sk_buff *skb, __u32 vni, __u32 vtep, __u32 vxlan)
{
	if (set_tunnel(skb, vni, vtep) < 0) {
		count_drop(skb, BNET_DROP_TUNNEL_KEY);
		return 0;
	}
	trace(BNET_T_VXLAN, vni, vtep, 1);
	if (!bnet_trace && bpf_clone_redirect(skb, vxlan, 0) < 0)
		count_drop(skb, BNET_DROP_REDIRECT);
	return 0;
}

/*
 * flood_copy_gre sends one GRE copy: the frame was encapsulated once, each
 * copy only changes the outer destination (and so the IP checksum) and
 * the outer Ethernet header.
 */
__noinline int flood_copy_gre(struct __sk_buff *skb, __u32 vni, __u32 vtep)
{
	struct bnet_iph ip;
	struct nh_entry *nh;

	nh = bpf_map_lookup_elem(&underlay_nh, &vtep);
	if (!nh) {
		count_drop(skb, BNET_DROP_NO_NEIGH);
		return 0;
	}
	if (bpf_skb_load_bytes(skb, sizeof(struct bnet_eth), &ip, sizeof(ip)) < 0) {
		count_drop(skb, BNET_DROP_ENCAP);
		return 0;
	}
	ip.daddr = vtep;
	ip_set_csum(&ip);
	if (bpf_skb_store_bytes(skb, sizeof(struct bnet_eth), &ip, sizeof(ip), 0) < 0 ||
	    set_outer_eth(skb, nh) < 0) {
		count_drop(skb, BNET_DROP_ENCAP);
		return 0;
	}
	trace(BNET_T_GRE, vni, vtep, 1);
	if (!bnet_trace && bpf_clone_redirect(skb, nh->ifindex, 0) < 0)
		count_drop(skb, BNET_DROP_REDIRECT);
	return 0;
}

/*
 * flood_out hands a broadcast, multicast or unknown-unicast frame to
 * bnet_flood, by tail call: the replication loops are verified once, in
 * that small program, not again on every path of the big ones that flood.
 */
static __always_inline int flood_out(struct __sk_buff *skb, __u32 net_id, enum bnet_origin origin)
{
	trace(BNET_T_FLOOD, net_id, 0, 0);
	skb->cb[BNET_CB_FLOOD_NET] = net_id;
	skb->cb[BNET_CB_FLOOD_ORIGIN] = origin;
	bpf_tail_call(skb, &flood_prog, 0);
	return drop(skb, BNET_DROP_NO_PROG);
}

/*
 * replicate sends a frame to the network's flood list. Frames from a port
 * go to every other local port and out of the node (remote VTEPs or the
 * physnet NIC); frames from outside go to local ports only (split
 * horizon). The original is freed with TC_ACT_SHOT without counting: it
 * was delivered as clones. A copy that cannot be sent is counted, the
 * others still go. The fan-out loops are bounded loops (5.3) kept
 * rolled, each turn a call to a global flood_copy_*.
 */
static __always_inline int replicate(struct __sk_buff *skb, __u32 net_id, const struct net_info *net,
				     const struct bnet_eth *eth, __u32 origin)
{
	struct flood_entry *fl = bpf_map_lookup_elem(&flood, &net_id);
	__u32 zero = 0, i, n, vtep, self = 0, vxlan = 0;
	/* Read once: a map value may change between two reads. */
	__u32 type = net->type, segment = net->segment;
	struct node_cfg *cfg;

	if (!fl)
		return drop(skb, BNET_DROP_FDB_MISS);

	n = fl->n_local;
#pragma clang loop unroll(disable)
	for (i = 0; i < BNET_FLOOD_LOCAL && i < n; i++)
		flood_copy_local(skb, fl->local[i]);

	if (origin != BNET_FROM_PORT)
		return TC_ACT_SHOT;

	if (type != BNET_NET_LOCAL && too_big(skb, eth, net->mtu)) {
		count_drop(skb, BNET_DROP_FRAG_NEEDED);
		return TC_ACT_SHOT;
	}

	if (type == BNET_NET_GRE || type == BNET_NET_VXLAN) {
		n = fl->n_remote;
		if (n == 0)
			return TC_ACT_SHOT;
		cfg = bpf_map_lookup_elem(&node_cfg, &zero);
		if (!cfg || (type == BNET_NET_GRE ? cfg->underlay_ifindex == 0 || cfg->local_ip == 0
							: cfg->vxlan_ifindex == 0)) {
			count_drop(skb, BNET_DROP_NO_TUNNEL);
			return TC_ACT_SHOT;
		}
		self = cfg->local_ip;
		vxlan = cfg->vxlan_ifindex;
	}

	if (type == BNET_NET_GRE) {
		__u32 reason;

		/* Last use of the plain frame: local copies are out already. */
		reason = gre_push(skb, eth, segment, self, 0);
		if (reason != BNET_DROP_NONE) {
			count_drop(skb, reason);
			return TC_ACT_SHOT;
		}
#pragma clang loop unroll(disable)
		for (i = 0; i < BNET_FLOOD_REMOTE && i < n; i++) {
			vtep = fl->remote[i];
			if (vtep != 0 && vtep != self)
				flood_copy_gre(skb, segment, vtep);
		}
	} else if (type == BNET_NET_VXLAN) {
#pragma clang loop unroll(disable)
		for (i = 0; i < BNET_FLOOD_REMOTE && i < n; i++) {
			vtep = fl->remote[i];
			if (vtep != 0 && vtep != self)
				flood_copy_vxlan(skb, segment, vtep, vxlan);
		}
	} else if (type == BNET_NET_FLAT || type == BNET_NET_VLAN) {
		/* Last copy: the VLAN push changes the frame itself. */
		if (net->phys_ifindex == 0) {
			count_drop(skb, BNET_DROP_NO_PHYSNET);
		} else if (type == BNET_NET_VLAN &&
			   bpf_skb_vlan_push(skb, bpf_htons(BNET_ETH_P_8021Q),
					     segment & BNET_VID_MASK) < 0) {
			count_drop(skb, BNET_DROP_VLAN_PUSH);
		} else {
			trace(BNET_T_PHYS, net->phys_ifindex, type == BNET_NET_VLAN ? segment & BNET_VID_MASK : 0, 1);
			if (!bnet_trace && bpf_clone_redirect(skb, net->phys_ifindex, 0) < 0)
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
	/*
	 * The sender asking for its own address (duplicate address
	 * detection), or announcing one (a gratuitous request: a VIP taken
	 * over): never answered, flooded.
	 */
	if (mac_equal(ans->mac, ah->sha) || ah->spa == ah->tpa)
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
	trace(BNET_T_ARP_REPLY, key.ip, 0, 0);

	return bpf_redirect(skb->ifindex, 0);
}

/*
 * claim_vip notes a gratuitous ARP from a secured port (spoofed() has
 * checked the port may hold that address with that MAC) in vip_claims, for
 * the agent to publish where the address lives now. Written only when the
 * claim changes: a VRRP master repeating itself costs a lookup.
 */
static __always_inline void claim_vip(struct __sk_buff *skb, __u32 net_id, __u32 ifindex)
{
	struct arp_key key = { .net_id = net_id };
	struct vip_claim c = { .ifindex = ifindex }, *old;
	struct bnet_arp ah;

	if (bpf_skb_load_bytes(skb, sizeof(struct bnet_eth), &ah, sizeof(ah)) < 0 || ah.spa == 0 ||
	    ah.spa != ah.tpa || (ah.op != bpf_htons(1) && ah.op != bpf_htons(2)))
		return;
	key.ip = ah.spa;
	old = bpf_map_lookup_elem(&vip_claims, &key);
	if (old && old->ifindex == ifindex && mac_equal(old->mac, ah.sha))
		return;
	mac_copy(c.mac, ah.sha);
	c.seen = bpf_ktime_get_ns();
	bpf_map_update_elem(&vip_claims, &key, &c, BPF_ANY);
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
	struct rif_info *rif;
	struct ext_gw_info *ext;
	struct bnet_eth eth;
	__u32 net_id;

	port = bpf_map_lookup_elem(&ports, &in);
	if (!port)
		return drop(skb, BNET_DROP_NO_PORT);
	net_id = port->net_id;
	trace(BNET_T_PORT, in, net_id, 0);
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
	if (port->flags & BNET_PORT_SECURE) {
		__u32 why = spoofed(skb, in, &eth);

		if (why != BNET_DROP_NONE)
			return drop(skb, why);
	}
	if (port->flags & BNET_PORT_POLICY) {
		__u32 why = policy_check(skb, in, BNET_DIR_EGRESS);

		if (why != BNET_DROP_NONE)
			return drop(skb, why);
	}
	/*
	 * Distributed DHCP: the agent's packet socket on this port saw the
	 * request before this program ran and answers it; broadcast or
	 * unicast to the DHCP address, it goes nowhere else.
	 */
	if ((port->flags & BNET_PORT_DHCP) && eth.proto == bpf_htons(ETH_P_IP) && is_dhcp_client(skb))
		return drop(skb, BNET_DROP_DHCP_LOCAL);

	if (eth.proto == bpf_htons(ETH_P_ARP)) {
		int rc;

		if (port->flags & BNET_PORT_SECURE)
			claim_vip(skb, net_id, in);
		rc = arp_respond(skb, net_id);

		if (rc != BNET_CONTINUE)
			return rc;
	}

	if (eth.dst[0] & 1)
		return flood_out(skb, net_id, BNET_FROM_PORT);

	rif = (net.flags & BNET_NETF_ROUTED) ? bpf_map_lookup_elem(&rifs, &net_id) : NULL;
	if (rif && mac_equal(eth.dst, rif->gw_mac))
		return route(skb, net_id, rif, &eth);

	/* A port of an external network talking to a floating IP served here. */
	ext = (net.flags & BNET_NETF_EXT_GW) ? bpf_map_lookup_elem(&ext_gw, &net_id) : NULL;
	if (ext && eth.proto == bpf_htons(ETH_P_IP) && mac_equal(eth.dst, ext->fg_mac)) {
		__u32 to = 0;
		int rc = fip_in(skb, net_id, 0, &to);

		if (rc == BNET_DELIVER)
			return deliver_local(skb, to);
		if (rc != BNET_CONTINUE)
			return rc;
	}

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
			if (too_big(skb, &eth, net.mtu))
				return frag_needed(skb, &eth, net.mtu);
			return to_vxlan(skb, &net, dst->vtep, &eth);
		case BNET_NET_GRE:
			if (too_big(skb, &eth, net.mtu))
				return frag_needed(skb, &eth, net.mtu);
			return to_gre(skb, &net, dst->vtep, &eth);
		case BNET_NET_FLAT:
		case BNET_NET_VLAN:
			if (too_big(skb, &eth, net.mtu))
				return frag_needed(skb, &eth, net.mtu);
			return to_phys(skb, &net);
		default:
			/* A local network has no remote MACs. */
			return drop(skb, BNET_DROP_FDB_MISS);
		}
	}

	/* Unknown unicast: the physical network may know it; overlays flood. */
	if (net.type == BNET_NET_FLAT || net.type == BNET_NET_VLAN) {
		if (too_big(skb, &eth, net.mtu))
			return frag_needed(skb, &eth, net.mtu);
		return to_phys(skb, &net);
	}
	return flood_out(skb, net_id, BNET_FROM_PORT);
}

/*
 * from_overlay forwards a frame that arrived decapsulated from another
 * node (VXLAN or GRE): broadcast and multicast to the local ports only
 * (split horizon), unicast to its local port.
 */
static __always_inline int from_overlay(struct __sk_buff *skb, __u32 net_id, const struct net_info *net,
					struct bnet_eth *eth)
{
	struct fdb_key key = { .net_id = net_id };
	struct fdb_entry *dst;

	if (eth->dst[0] & 1)
		return flood_out(skb, net_id, BNET_FROM_TUNNEL);
	/* Only a network routed here has DVR-masked frames to unmask. */
	if ((net->flags & BNET_NETF_ROUTED) && dvr_unmask(skb, net_id, eth) < 0)
		return drop(skb, BNET_DROP_MALFORMED);
	mac_copy(key.mac, eth->dst);
	dst = bpf_map_lookup_elem(&fdb, &key);
	if (!dst || dst->ifindex == 0)
		return drop(skb, BNET_DROP_FDB_MISS);
	return deliver_local(skb, dst->ifindex);
}

SEC("tc")
int bnet_tun_in(struct __sk_buff *skb)
{
	struct bpf_tunnel_key tkey = {};
	struct segment_key skey = { .type = BNET_NET_VXLAN };
	struct peer_key pk = {};
	struct net_info *netp, net;
	struct bnet_eth eth;
	__u32 *nid, net_id;

	if (bnet_trace) {
		/* BPF_PROG_TEST_RUN has no tunnel metadata: the trace says it. */
		tkey.tunnel_id = trace_tun.vni;
		tkey.remote_ipv4 = bpf_ntohl(trace_tun.remote);
	} else if (bpf_skb_get_tunnel_key(skb, &tkey, BNET_TUNNEL_KEY_SIZE, 0) < 0) {
		return drop(skb, BNET_DROP_TUNNEL_KEY);
	}
	skey.segment = tkey.tunnel_id;
	nid = bpf_map_lookup_elem(&segments, &skey);
	if (!nid)
		return drop(skb, BNET_DROP_UNKNOWN_SEGMENT);
	net_id = *nid;
	trace(BNET_T_TUNNEL_IN, net_id, tkey.tunnel_id, bpf_htonl(tkey.remote_ipv4));
	/*
	 * A VXLAN device in external mode takes packets from anyone: only a
	 * VTEP that hosts this network (a port, or a router on it) is heard,
	 * as for GRE in bnet_ul_in.
	 */
	pk.net_id = net_id;
	pk.vtep = bpf_htonl(tkey.remote_ipv4);
	if (!bpf_map_lookup_elem(&tunnel_peers, &pk))
		return drop(skb, BNET_DROP_TUNNEL_PEER);
	netp = bpf_map_lookup_elem(&networks, &net_id);
	if (!netp)
		return drop(skb, BNET_DROP_NO_NETWORK);
	net = *netp;
	if (load_eth(skb, &eth) < 0)
		return drop(skb, BNET_DROP_MALFORMED);
	return from_overlay(skb, net_id, &net, &eth);
}

SEC("tc")
int bnet_phys_in(struct __sk_buff *skb)
{
	struct segment_key skey = { .ifindex = skb->ifindex };
	struct fdb_key key = {};
	struct fdb_entry *dst;
	struct net_info *netp, net;
	struct ext_gw_info *ext;
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
	trace(BNET_T_PHYS_IN, net_id, tagged ? skey.segment : 0, 0);
	net = *netp;
	if (load_eth(skb, &eth) < 0)
		return drop(skb, BNET_DROP_MALFORMED);

	ext = (net.flags & BNET_NETF_EXT_GW) ? bpf_map_lookup_elem(&ext_gw, &net_id) : NULL;
	/*
	 * ARP for a floating IP served here: broadcast, or unicast to the fg
	 * MAC when a neighbour cache revalidates the entry it has.
	 */
	if (eth.proto == bpf_htons(ETH_P_ARP) && ((eth.dst[0] & 1) || (ext && mac_equal(eth.dst, ext->fg_mac)))) {
		int rc = proxy_arp(skb, net_id);

		if (rc != BNET_CONTINUE)
			return rc;
	}
	if (eth.dst[0] & 1) {
		if (tagged && bpf_skb_vlan_pop(skb) < 0)
			return drop(skb, BNET_DROP_VLAN_PUSH);
		return flood_out(skb, net_id, BNET_FROM_PHYS);
	}

	if (ext && eth.proto == bpf_htons(ETH_P_IP) && mac_equal(eth.dst, ext->fg_mac)) {
		__u32 to = 0;
		int rc = fip_in(skb, net_id, tagged, &to);

		if (rc == BNET_DELIVER)
			return deliver_local(skb, to);
		if (rc != BNET_CONTINUE)
			return rc;
	}

	key.net_id = net_id;
	mac_copy(key.mac, eth.dst);
	dst = bpf_map_lookup_elem(&fdb, &key);
	if (!dst || dst->ifindex == 0)
		return TCX_NEXT;
	if (tagged && bpf_skb_vlan_pop(skb) < 0)
		return drop(skb, BNET_DROP_VLAN_PUSH);
	if ((net.flags & BNET_NETF_ROUTED) && dvr_unmask(skb, net_id, &eth) < 0)
		return drop(skb, BNET_DROP_MALFORMED);
	return deliver_local(skb, dst->ifindex);
}

/*
 * vxlan_in takes apart, on the underlay NIC, VXLAN that bnet_ul_in would
 * otherwise hand to the VXLAN device: plain VXLAN (no IP options, no
 * VXLAN extensions, not a fragment) to our VTEP and port, of a network
 * here, from a VTEP that hosts it. Anything else — a stranger, an unknown
 * VNI, a bad header — continues to the device, where the nftables member
 * set and bnet_tun_in judge and count it as before: this is a fast path,
 * never a second set of rules.
 */
static __always_inline int vxlan_in(struct __sk_buff *skb, const struct bnet_iph *ip, __u32 len, __u32 gso)
{
	struct segment_key skey = { .type = BNET_NET_VXLAN };
	struct fdb_key fk = {};
	struct fdb_entry *dst;
	struct port_info *port;
	struct bnet_vxlan_hdrs h;
	struct peer_key pk = {};
	struct net_info *netp, net;
	struct node_cfg *cfg;
	struct bnet_eth inner;
	__u32 zero = 0, *nid, net_id;
	__u64 dflags = BPF_F_ADJ_ROOM_FIXED_GSO;
	__u16 tot;

	cfg = bpf_map_lookup_elem(&node_cfg, &zero);
	if (!cfg || !(cfg->flags & BNET_NODE_VXLAN_BPF) || cfg->local_ip == 0 || ip->daddr != cfg->local_ip)
		return TCX_NEXT;
	if (ip->ver_ihl != 0x45 || (ip->frag_off & bpf_htons(BNET_IP_MF | BNET_IP_OFFMASK)))
		return TCX_NEXT;
	if (bpf_skb_load_bytes(skb, sizeof(struct bnet_eth), &h, sizeof(h)) < 0 ||
	    bpf_skb_load_bytes(skb, sizeof(struct bnet_eth) + sizeof(h), &inner, sizeof(inner)) < 0)
		return TCX_NEXT;
	/*
	 * A UDP checksum is not verified: RFC 7348 lets a receiver skip it
	 * (the inner frame carries its own), as the kernel does for VXLAN
	 * offloaded by a NIC.
	 */
	if (h.dport != (__be16)cfg->vxlan_port || h.flags != bpf_htonl(BNET_VXLAN_I) || (h.vni & bpf_htonl(0xff)))
		return TCX_NEXT;
	if (csum_fold(bpf_csum_diff(0, 0, (__be32 *)&h.ip, sizeof(h.ip), 0)) != 0)
		return TCX_NEXT;
	tot = bpf_ntohs(ip->tot_len);
	/* GRO-merged packets carry their own length rules; judge the rest. */
	if (!gso && (tot > len - sizeof(struct bnet_eth) || tot < sizeof(h) + sizeof(inner) ||
		     bpf_ntohs(h.len) != tot - sizeof(struct bnet_iph)))
		return TCX_NEXT;
	skey.segment = bpf_ntohl(h.vni) >> 8;
	nid = bpf_map_lookup_elem(&segments, &skey);
	if (!nid)
		return TCX_NEXT;
	net_id = *nid;
	pk.net_id = net_id;
	pk.vtep = ip->saddr;
	if (!bpf_map_lookup_elem(&tunnel_peers, &pk))
		return TCX_NEXT;
	netp = bpf_map_lookup_elem(&networks, &net_id);
	if (!netp)
		return TCX_NEXT;
	net = *netp;
	/*
	 * bpf_skb_adjust_room leaves a decapsulated skb marked encapsulated.
	 * A VM only receives it, but a router's namespace may route it on
	 * into a tunnel, whose encapsulation then refuses it: traffic for
	 * router ports takes the device, which clears the mark. Floods do
	 * too, bnet_tun_in replicates them.
	 */
	if (inner.dst[0] & 1)
		return TCX_NEXT;
	/* IPv6 inside needs the decap flag; the device takes it without. */
	if (inner.proto == bpf_htons(ETH_P_IPV6) && !(cfg->flags & BNET_NODE_DECAP_L3))
		return TCX_NEXT;
	fk.net_id = net_id;
	mac_copy(fk.mac, inner.dst);
	dst = bpf_map_lookup_elem(&fdb, &fk);
	if (!dst || dst->ifindex == 0)
		return TCX_NEXT;
	port = bpf_map_lookup_elem(&ports, &dst->ifindex);
	if (!port || (port->flags & BNET_PORT_STACK))
		return TCX_NEXT;
	trace(BNET_T_TUNNEL_IN, net_id, skey.segment, ip->saddr);

	/* As for GRE: drop the outer headers, put the inner Ethernet back. */
	if (inner.proto == bpf_htons(ETH_P_IPV6))
		dflags |= BPF_F_ADJ_ROOM_DECAP_L3_IPV6;
	if (bpf_skb_adjust_room(skb, -(__s32)(sizeof(h) + sizeof(inner)), BPF_ADJ_ROOM_MAC, dflags) < 0)
		return drop(skb, BNET_DROP_ENCAP);
	if (bpf_skb_store_bytes(skb, 0, &inner, sizeof(inner), BPF_F_RECOMPUTE_CSUM) < 0)
		return drop(skb, BNET_DROP_ENCAP);
	return from_overlay(skb, net_id, &net, &inner);
}

/*
 * bnet_ul_in decapsulates GRE, and VXLAN (vxlan_in), on the underlay NIC.
 * Only IPv4 GRE with protocol TEB addressed to our VTEP is ours;
 * everything else (the host's own traffic, somebody's IP-in-GRE) passes untouched with
 * TCX_NEXT. What is ours is judged strictly: a sound outer header, a key
 * that is one of our GRE networks, and a sender that is a VTEP hosting
 * that network (tunnel_peers). Then the outer headers go and the inner
 * frame is forwarded like one from the VXLAN device.
 */
SEC("tc")
int bnet_ul_in(struct __sk_buff *skb)
{
	struct segment_key skey = { .type = BNET_NET_GRE };
	struct peer_key pk = {};
	struct net_info *netp, net;
	struct node_cfg *cfg;
	struct bnet_iph ip;
	struct bnet_eth inner;
	__u32 zero = 0, hlen, koff, key, *nid, net_id, len, gso;
	__u16 gre[2], flags, tot;
	__u64 dflags = BPF_F_ADJ_ROOM_FIXED_GSO;

	ctx_barrier(skb);
	if (skb->protocol != bpf_htons(ETH_P_IP) || skb->vlan_present)
		return TCX_NEXT;
	len = skb->len;
	gso = skb->gso_size;
	if (bpf_skb_load_bytes(skb, sizeof(struct bnet_eth), &ip, sizeof(ip)) < 0)
		return TCX_NEXT;
	if (ip.protocol == BNET_IPPROTO_UDP)
		return vxlan_in(skb, &ip, len, gso);
	if (ip.protocol != BNET_IPPROTO_GRE || (ip.ver_ihl >> 4) != 4)
		return TCX_NEXT;
	cfg = bpf_map_lookup_elem(&node_cfg, &zero);
	if (!cfg || cfg->local_ip == 0 || ip.daddr != cfg->local_ip)
		return TCX_NEXT;
	if (bpf_skb_load_bytes(skb, sizeof(struct bnet_eth) + sizeof(ip), gre, sizeof(gre)) < 0)
		return TCX_NEXT;
	if (gre[1] != bpf_htons(BNET_ETH_P_TEB))
		return TCX_NEXT;

	/* GRE/TEB to our VTEP: from here on it is ours to judge. */
	if (ip.ver_ihl != 0x45 || csum_fold(bpf_csum_diff(0, 0, (__be32 *)&ip, sizeof(ip), 0)) != 0)
		return drop(skb, BNET_DROP_MALFORMED);
	if (ip.frag_off & bpf_htons(BNET_IP_MF | BNET_IP_OFFMASK))
		return drop(skb, BNET_DROP_TUNNEL_FRAG);
	flags = bpf_ntohs(gre[0]);
	if (flags & (BNET_GRE_ROUTING | BNET_GRE_VERSION))
		return drop(skb, BNET_DROP_MALFORMED);
	if (!(flags & BNET_GRE_KEY))
		return drop(skb, BNET_DROP_UNKNOWN_SEGMENT);
	koff = 4 + ((flags & BNET_GRE_CSUM) ? 4 : 0);
	hlen = koff + 4 + ((flags & BNET_GRE_SEQ) ? 4 : 0);
	tot = bpf_ntohs(ip.tot_len);
	/* GRO-merged packets carry their own length rules; judge the rest. */
	if (!gso && (tot > len - sizeof(struct bnet_eth) || tot < sizeof(ip) + hlen + sizeof(inner)))
		return drop(skb, BNET_DROP_MALFORMED);
	if (bpf_skb_load_bytes(skb, sizeof(struct bnet_eth) + sizeof(ip) + koff, &key, sizeof(key)) < 0 ||
	    bpf_skb_load_bytes(skb, sizeof(struct bnet_eth) + sizeof(ip) + hlen, &inner, sizeof(inner)) < 0)
		return drop(skb, BNET_DROP_MALFORMED);

	skey.segment = bpf_ntohl(key);
	nid = bpf_map_lookup_elem(&segments, &skey);
	if (!nid)
		return drop(skb, BNET_DROP_UNKNOWN_SEGMENT);
	net_id = *nid;
	trace(BNET_T_TUNNEL_IN, net_id, skey.segment, ip.saddr);
	pk.net_id = net_id;
	pk.vtep = ip.saddr;
	if (!bpf_map_lookup_elem(&tunnel_peers, &pk))
		return drop(skb, BNET_DROP_TUNNEL_PEER);
	netp = bpf_map_lookup_elem(&networks, &net_id);
	if (!netp)
		return drop(skb, BNET_DROP_NO_NETWORK);
	net = *netp;

	/*
	 * Remove outer IPv4 + GRE + inner Ethernet after the outer Ethernet
	 * header, then put the inner Ethernet header in its place. IPv4 inside
	 * keeps the outer skb->protocol, which is right, so it needs no decap
	 * flag (DECAP_L3_IPV4 only rewrites it under an IPv6 outer header) and
	 * this works on kernels before 6.3. Any other inner frame keeps it
	 * too (IPv6 only where the kernel has no DECAP_L3_IPV6): deliver_local's
	 * plain bpf_redirect lets the receiving veth recompute it (KERNEL-NOTES).
	 */
	if (inner.proto == bpf_htons(ETH_P_IPV6) && (cfg->flags & BNET_NODE_DECAP_L3))
		dflags |= BPF_F_ADJ_ROOM_DECAP_L3_IPV6;
	if (bpf_skb_adjust_room(skb, -(__s32)(sizeof(ip) + hlen + sizeof(inner)), BPF_ADJ_ROOM_MAC, dflags) < 0)
		return drop(skb, BNET_DROP_ENCAP);
	if (bpf_skb_store_bytes(skb, 0, &inner, sizeof(inner), BPF_F_RECOMPUTE_CSUM) < 0)
		return drop(skb, BNET_DROP_ENCAP);
	return from_overlay(skb, net_id, &net, &inner);
}

/*
 * bnet_flood is reached only by tail call from flood_out, which leaves the
 * network and the frame's origin in skb->cb. The frame is as flood_out
 * left it (any VLAN tag of a physnet frame already popped).
 */
SEC("tc")
int bnet_flood(struct __sk_buff *skb)
{
	__u32 net_id = skb->cb[BNET_CB_FLOOD_NET];
	__u32 origin = skb->cb[BNET_CB_FLOOD_ORIGIN];
	struct net_info *net = bpf_map_lookup_elem(&networks, &net_id);
	struct bnet_eth eth;

	if (!net)
		return drop(skb, BNET_DROP_NO_NETWORK);
	if (bpf_skb_load_bytes(skb, 0, &eth, sizeof(eth)) < 0)
		return drop(skb, BNET_DROP_MALFORMED);
	return replicate(skb, net_id, net, &eth, origin);
}
