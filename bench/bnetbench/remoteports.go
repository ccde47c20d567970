package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"syscall"

	"github.com/bnet-dev/bnet/gossip"
	"github.com/bnet-dev/bnet/model"
	"github.com/bnet-dev/bnet/store"
)

// remotePorts is a simulated node holding n ports of one network: a real
// store and gossip member that joins the cloud and hands it the ports, so
// an agent's memory can be measured with a cloud's worth of remote ports
// without a VM, a veth or an API request each. It runs until signalled.
func remotePorts(args []string) (any, error) {
	fs := flag.NewFlagSet("remoteports", flag.ContinueOnError)
	node := fs.String("node", "sim", "node name")
	bind := fs.String("bind", "", "gossip ip:port (the simulated node's VTEP is the ip)")
	join := fs.String("join", "", "a member's gossip ip:port")
	dir := fs.String("dir", "", "scratch store dir")
	network := fs.String("network", "", "network id")
	subnet := fs.String("subnet", "", "subnet id")
	cidr := fs.String("cidr", "", "the subnet's CIDR (a /16 holds 65,000 ports)")
	n := fs.Int("n", 10000, "ports")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	pfx, err := netip.ParsePrefix(*cidr)
	host, _, herr := net.SplitHostPort(*bind)
	if *bind == "" || *join == "" || *dir == "" || *network == "" || *subnet == "" || err != nil || herr != nil ||
		!pfx.Addr().Is4() || *n < 1 || *n > 60000 {
		return nil, errors.New("usage: remoteports -bind IP:PORT -join IP:PORT -dir D -network ID -subnet ID -cidr CIDR [-n N]")
	}
	st, err := store.Open(*dir, *node)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	base := pfx.Masked().Addr().As4()
	objs := make([]store.Obj, 0, *n)
	now := model.Now()
	off := false
	for i := range *n {
		ip := base
		v := uint32(ip[0])<<24 | uint32(ip[1])<<16 | uint32(ip[2])<<8 | uint32(ip[3])
		v += uint32(1000 + i) // clear of the gateway, DHCP and test ports
		p := model.Port{ID: model.NewID(), NetworkID: *network, ProjectID: model.AdminProject, TenantID: model.AdminProject,
			MACAddress:          fmt.Sprintf("fa:16:3f:%02x:%02x:%02x", i>>16&0xff, i>>8&0xff, i&0xff),
			FixedIPs:            []model.FixedIP{{SubnetID: *subnet, IPAddress: netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}).String()}},
			PortSecurityEnabled: &off, AllowedAddressPairs: []model.AddressPair{}, SecurityGroups: []string{},
			AdminStateUp: true, HostID: *node, Status: model.StatusActive, CreatedAt: now, UpdatedAt: now,
			RevisionNumber: 1, Tags: []string{}}
		objs = append(objs, store.Obj{Kind: model.KindPort, ID: p.ID, Obj: p})
	}
	if _, err := st.PutAll(objs); err != nil {
		return nil, err
	}
	g, err := gossip.Start(gossip.Config{Node: *node, Bind: *bind, Join: []string{*join}, Store: st, Fast: true,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Meta:   gossip.Meta{V: 1, VTEP: host, Roles: []string{"compute"}}})
	if err != nil {
		return nil, err
	}
	defer g.Shutdown()
	fmt.Fprintf(os.Stderr, "remoteports: %s holds %d ports\n", *node, *n)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
	return nil, nil
}
