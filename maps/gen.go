package maps

// node_cfg is not named with -type: the map and its struct share that name,
// which bpf2go's lookup rejects; bpf2go generates it anyway as a map value type.
//go:generate go tool bpf2go -cc clang -cflags "-O2 -g -Wall -Werror" -target bpfel -type port_info -type net_info -type segment_key -type fdb_key -type fdb_entry -type arp_key -type arp_entry -type flood_entry -type stat_key -type stat_val -type peer_key -type nh_entry -type rif_info -type route_key -type route_info -type mac_key -type fip_out_info -type fip_in_info -type ext_gw_info -type addr_key -type port_mac_key -type policy_ip_key -type policy_port_key -type ct_key -type ct_entry -type frag_key -type frag_ports -type ct_cfg -type vip_claim -type drop_event bnet ../bpf/bnet.c -- -I../bpf
