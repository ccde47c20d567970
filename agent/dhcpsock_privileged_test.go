package agent

import (
	"encoding/binary"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// TestDHCPSocket runs the server's packet socket on one end of a veth (the
// port's host end) in a private namespace: a DISCOVER sent from the other
// end (the VM's) is answered on it; other UDP is not.
func TestDHCPSocket(t *testing.T) {
	privateNetns(t)
	la := netlink.NewLinkAttrs()
	la.Name = "tapx"
	if err := netlink.LinkAdd(&netlink.Veth{LinkAttrs: la, PeerName: "vmx", PeerHardwareAddr: vmMAC}); err != nil {
		t.Fatal(err)
	}
	host, err := netlink.LinkByName("tapx")
	if err != nil {
		t.Fatal(err)
	}
	vm, err := netlink.LinkByName("vmx")
	if err != nil {
		t.Fatal(err)
	}
	// As in a reconcile, the socket is opened while the port is still down.
	l := testLease(t, nil)
	srv := newDHCPServer(slog.New(slog.NewTextHandler(io.Discard, nil)))
	srv.sync(map[int]string{host.Attrs().Index: "tapx"}, map[int]dhcpLease{host.Attrs().Index: l})
	defer srv.sync(nil, nil)
	time.Sleep(50 * time.Millisecond)
	for _, lk := range []netlink.Link{host, vm} {
		if err := netlink.LinkSetUp(lk); err != nil {
			t.Fatal(err)
		}
	}

	// The VM's side: a raw socket on vmx, as dhclient's LPF.
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, int(htons(unix.ETH_P_ALL)))
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: vm.Attrs().Index}); err != nil {
		t.Fatal(err)
	}
	tv := unix.NsecToTimeval(int64(200 * time.Millisecond))
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		t.Fatal(err)
	}
	send := func(frame []byte) {
		t.Helper()
		if err := unix.Sendto(fd, frame, 0, &unix.SockaddrLinklayer{Ifindex: vm.Attrs().Index, Protocol: htons(unix.ETH_P_IP)}); err != nil {
			t.Fatal(err)
		}
	}
	// answers reads what reaches the VM from port 67 within a second.
	answers := func() []*dhcpv4.DHCPv4 {
		var out []*dhcpv4.DHCPv4
		buf := make([]byte, 2048)
		deadline := time.Now().Add(time.Second)
		for time.Now().Before(deadline) {
			n, from, err := unix.Recvfrom(fd, buf, 0)
			if err != nil {
				continue
			}
			if ll, ok := from.(*unix.SockaddrLinklayer); ok && ll.Pkttype == unix.PACKET_OUTGOING {
				continue
			}
			f := buf[:n]
			if len(f) < 42 || binary.BigEndian.Uint16(f[12:]) != unix.ETH_P_IP || binary.BigEndian.Uint16(f[34:]) != 67 {
				continue
			}
			m, err := dhcpv4.FromBytes(f[42:])
			if err != nil {
				t.Fatalf("answer does not parse: %v", err)
			}
			out = append(out, m)
		}
		return out
	}
	// A client frame is a reply frame turned around: from the VM to 67.
	clientFrame := func(m *dhcpv4.DHCPv4, dport uint16) []byte {
		f := replyFrame(m, m, dhcpLease{mac: net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, serverMAC: vmMAC,
			server: netip.IPv4Unspecified()})
		copy(f[0:6], []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
		binary.BigEndian.PutUint16(f[34:], 68)
		binary.BigEndian.PutUint16(f[36:], dport)
		binary.BigEndian.PutUint16(f[40:], 0) // no UDP checksum
		return f
	}
	d := discover(t, vmMAC)
	d.SetBroadcast()
	send(clientFrame(d, 67))
	got := answers()
	if len(got) != 1 || got[0].MessageType() != dhcpv4.MessageTypeOffer || got[0].YourIPAddr.String() != "10.0.0.11" {
		t.Fatalf("answers to DISCOVER: %v", got)
	}
	send(clientFrame(d, 1067))
	if got := answers(); len(got) != 0 {
		t.Fatalf("answers to UDP 1067: %v", got)
	}
}
