package agent

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"sync"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// vmSide is how a --netns port looks from inside its namespace, the way a
// container runtime would set it up.
type vmSide struct {
	Netns   string
	IfName  string // inside the namespace; "" is eth0
	MAC     net.HardwareAddr
	MTU     int
	Addr    netip.Prefix // invalid: no address (DHCP will configure)
	Gateway netip.Addr   // invalid: no default route
}

// hostIfName is Neutron's tap naming, so operators recognise the device.
func hostIfName(portID string) string {
	id := portID
	if len(id) > 11 {
		id = id[:11]
	}
	return "tap" + id
}

// withNetns runs fn with the calling OS thread inside ns, then puts it back.
func withNetns(ns netns.NsHandle, fn func() error) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		return fmt.Errorf("current netns: %w", err)
	}
	defer orig.Close()
	if err := netns.Set(ns); err != nil {
		return fmt.Errorf("enter netns: %w", err)
	}
	defer func() { _ = netns.Set(orig) }()
	return fn()
}

// openOrCreateNetns returns a handle on the named namespace, creating it
// (bind-mounted under /run/netns) when it does not exist.
func openOrCreateNetns(name string) (netns.NsHandle, error) {
	if h, err := netns.GetFromName(name); err == nil {
		return h, nil
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		return 0, err
	}
	defer orig.Close()
	h, err := netns.NewNamed(name)
	if serr := netns.Set(orig); serr != nil {
		// The thread is stuck in the wrong namespace; never hand it back to the runtime.
		panic(fmt.Sprintf("restore netns: %v", serr))
	}
	if err != nil {
		return 0, fmt.Errorf("create netns %s: %w", name, err)
	}
	return h, nil
}

// hostSideMTU is the MTU of a port's host end. A veth drops frames larger
// than the receiving end's MTU without a trace, so the host end takes
// anything: a VM with a wrong MTU reaches bnet_port_in, which answers
// with ICMP fragmentation-needed instead of a black hole. What a VM is
// told is the VM end's MTU, the network's.
const hostSideMTU = 65535

// plugNetns creates the veth pair of a --netns port: host end hostIf in the
// node's namespace (left DOWN: it must not forward before its program is
// attached), VM end eth0 inside the VM namespace, configured and up.
// An existing host end is taken as already plugged.
func plugNetns(hostIf string, vm vmSide) (int, error) {
	if l, err := netlink.LinkByName(hostIf); err == nil {
		return l.Attrs().Index, nil
	}
	ns, err := openOrCreateNetns(vm.Netns)
	if err != nil {
		return 0, err
	}
	defer ns.Close()
	vh, err := netlink.NewHandleAt(ns)
	if err != nil {
		return 0, fmt.Errorf("netlink in %s: %w", vm.Netns, err)
	}
	defer vh.Close()
	vmIf := vm.IfName
	if vmIf == "" {
		vmIf = "eth0"
	}
	if _, err := vh.LinkByName(vmIf); err == nil {
		return 0, fmt.Errorf("netns %s already has an %s (another port is plugged there)", vm.Netns, vmIf)
	}
	peer := "vm" + hostIf[3:]
	veth := &netlink.Veth{
		LinkAttrs:     netlink.LinkAttrs{Name: hostIf, MTU: hostSideMTU},
		PeerName:      peer,
		PeerMTU:       uint32(vm.MTU),
		PeerNamespace: netlink.NsFd(int(ns)),
	}
	if err := netlink.LinkAdd(veth); err != nil {
		return 0, fmt.Errorf("create veth %s: %w", hostIf, err)
	}
	fail := func(err error) (int, error) {
		_ = netlink.LinkDel(veth)
		return 0, err
	}
	host, err := netlink.LinkByName(hostIf)
	if err != nil {
		return fail(fmt.Errorf("find %s: %w", hostIf, err))
	}
	// The host end carries only VM frames, all of them consumed by TC: no
	// addresses, no IPv6 chatter of its own.
	_ = os.WriteFile("/proc/sys/net/ipv6/conf/"+hostIf+"/disable_ipv6", []byte("1"), 0o644)

	vl, err := vh.LinkByName(peer)
	if err != nil {
		return fail(fmt.Errorf("find %s in %s: %w", peer, vm.Netns, err))
	}
	if err := vh.LinkSetName(vl, vmIf); err != nil {
		return fail(fmt.Errorf("rename VM end: %w", err))
	}
	if err := vh.LinkSetHardwareAddr(vl, vm.MAC); err != nil {
		return fail(fmt.Errorf("set VM MAC %s: %w", vm.MAC, err))
	}
	// Only IPv4 subnets exist so far; keep the VM from multicasting IPv6
	// DAD/MLD/RS across the cloud for addresses nobody serves.
	if err := withNetns(ns, func() error {
		return os.WriteFile("/proc/sys/net/ipv6/conf/"+vmIf+"/disable_ipv6", []byte("1"), 0o644)
	}); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fail(fmt.Errorf("disable ipv6 in %s: %w", vm.Netns, err))
	}
	if vm.Addr.IsValid() {
		a := &netlink.Addr{IPNet: &net.IPNet{IP: vm.Addr.Addr().AsSlice(), Mask: net.CIDRMask(vm.Addr.Bits(), 32)}}
		if err := vh.AddrAdd(vl, a); err != nil {
			return fail(fmt.Errorf("address %s in %s: %w", vm.Addr, vm.Netns, err))
		}
	}
	if lo, err := vh.LinkByName("lo"); err == nil {
		_ = vh.LinkSetUp(lo)
	}
	if err := vh.LinkSetUp(vl); err != nil {
		return fail(fmt.Errorf("VM end up: %w", err))
	}
	if vm.Addr.IsValid() && vm.Gateway.IsValid() {
		r := &netlink.Route{LinkIndex: vl.Attrs().Index, Gw: vm.Gateway.AsSlice()}
		if err := vh.RouteReplace(r); err != nil {
			return fail(fmt.Errorf("default route via %s in %s: %w", vm.Gateway, vm.Netns, err))
		}
	}
	vmEnds.Store(host.Attrs().Index, vmEnd{netns: vm.Netns, ifname: vmIf})
	return host.Attrs().Index, nil
}

// vmEnd is where the VM end of a veth the agent plugged lives, by the host
// end's ifindex, so that raising the host end can wait for it.
type vmEnd struct{ netns, ifname string }

var vmEnds sync.Map // int -> vmEnd

// forwardTimeout bounds the wait for a raised port's ends to come up. The
// wait is best effort: a port whose VM end stays down (its owner's doing)
// is not an error of the agent's.
const forwardTimeout = 5 * time.Second

// linkUp raises a port's host end, last, once its maps and program are in
// place, and waits until the port forwards. Raising it gives both veth
// ends carrier, but each end transmits through the noop qdisc, dropping
// every frame (tx_dropped), until the kernel's linkwatch work has
// activated its real qdisc, which it does when it sets the operstate UP.
// A VM whose first ARP fell into that window waited a second for the
// retry; `port create --netns` now returns only once both ends are UP.
func linkUp(ifindex int) error {
	l, err := netlink.LinkByIndex(ifindex)
	if err != nil {
		return err
	}
	if l.Attrs().Flags&net.FlagUp != 0 {
		return nil // raised before (the periodic reconcile of a port long up)
	}
	if err := netlink.LinkSetUp(l); err != nil {
		return err
	}
	deadline := time.Now().Add(forwardTimeout)
	waitOperUp(netlink.LinkByIndex, ifindex, deadline)
	if v, ok := vmEnds.Load(ifindex); ok {
		waitVMEnd(v.(vmEnd), deadline)
	}
	return nil
}

func waitVMEnd(end vmEnd, deadline time.Time) {
	ns, err := netns.GetFromName(end.netns)
	if err != nil {
		return
	}
	defer ns.Close()
	vh, err := netlink.NewHandleAt(ns)
	if err != nil {
		return
	}
	defer vh.Close()
	if vl, err := vh.LinkByName(end.ifname); err == nil {
		waitOperUp(vh.LinkByIndex, vl.Attrs().Index, deadline)
	}
}

// waitOperUp polls until the link's operstate is UP or the deadline.
// Polling, not a netlink subscription: it is UP within milliseconds but
// for a loaded machine's workqueue.
func waitOperUp(get func(int) (netlink.Link, error), ifindex int, deadline time.Time) bool {
	for {
		l, err := get(ifindex)
		if err != nil {
			return false
		}
		if l.Attrs().OperState == netlink.OperUp {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// adoptDevice takes an existing tap or veth (a hypervisor's) as a port.
func adoptDevice(ifname string, mtu int) (int, error) {
	l, err := netlink.LinkByName(ifname)
	if err != nil {
		return 0, fmt.Errorf("device %s: %w", ifname, err)
	}
	if mtu > 0 && l.Attrs().MTU != mtu {
		if err := netlink.LinkSetMTU(l, mtu); err != nil {
			return 0, fmt.Errorf("set MTU of %s: %w", ifname, err)
		}
	}
	return l.Attrs().Index, nil
}

// unplug deletes a veth the agent created (its VM end goes with it).
func unplug(hostIf string) error {
	l, err := netlink.LinkByName(hostIf)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) {
			return nil
		}
		return err
	}
	vmEnds.Delete(l.Attrs().Index)
	return netlink.LinkDel(l)
}

// ensureVXLAN creates (or checks) the node's VXLAN device in external
// (collect_md) mode: one device carries every VNI, the BPF programs pick the
// VNI and remote VTEP per packet.
func ensureVXLAN(name string, port, mtu int) (int, error) {
	if l, err := netlink.LinkByName(name); err == nil {
		vx, ok := l.(*netlink.Vxlan)
		if !ok || !vx.FlowBased || vx.Port != port {
			// Wrong shape (an old config): recreate rather than run on a lie.
			if err := netlink.LinkDel(l); err != nil {
				return 0, fmt.Errorf("replace %s: %w", name, err)
			}
		} else {
			if l.Attrs().MTU != mtu {
				_ = netlink.LinkSetMTU(l, mtu)
			}
			if err := netlink.LinkSetUp(l); err != nil {
				return 0, err
			}
			return l.Attrs().Index, nil
		}
	}
	vx := &netlink.Vxlan{
		LinkAttrs: netlink.LinkAttrs{Name: name, MTU: mtu},
		FlowBased: true,
		Port:      port,
		Learning:  false,
	}
	if err := netlink.LinkAdd(vx); err != nil {
		return 0, fmt.Errorf("create vxlan %s: %w", name, err)
	}
	l, err := netlink.LinkByName(name)
	if err != nil {
		return 0, err
	}
	_ = os.WriteFile("/proc/sys/net/ipv6/conf/"+name+"/disable_ipv6", []byte("1"), 0o644)
	if err := netlink.LinkSetUp(l); err != nil {
		return 0, fmt.Errorf("%s up: %w", name, err)
	}
	return l.Attrs().Index, nil
}
