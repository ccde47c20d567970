// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
//go:build ignore
/*
 * A VLAN-aware "outside host" for tests: the test kernel has no 8021q module,
 * so the host tags its own frames in TC. Built twice by provider_net.sh:
 * -DEGRESS pushes VID on transmit, otherwise ingress accepts only VID and
 * pops it (what an 802.1Q access port would do).
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#ifndef VID
#define VID 100
#endif

SEC("tc")
int tagger(struct __sk_buff *skb)
{
#ifdef EGRESS
	if (skb->vlan_present)
		return TC_ACT_OK;
	if (bpf_skb_vlan_push(skb, bpf_htons(0x8100), VID))
		return TC_ACT_SHOT;
	return TC_ACT_OK;
#else
	if (!skb->vlan_present || (skb->vlan_tci & 0x0fff) != VID)
		return TC_ACT_SHOT;
	if (bpf_skb_vlan_pop(skb))
		return TC_ACT_SHOT;
	return TC_ACT_OK;
#endif
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
