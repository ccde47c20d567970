package agent

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// dhcpServer answers DHCP on the local ports of networks with a DHCP
// server, one packet socket per port device. A packet socket (ETH_P_ALL,
// bound to the device) is handed each frame the VM sends before TC
// ingress runs, so it sees the requests that bnet_port_in then consumes
// (dhcp_local) — also a renewal from an address the port no longer
// holds, which port security drops and the server must NAK. Answers are
// written onto the same device: they leave towards the VM, nowhere else.
type dhcpServer struct {
	log    *slog.Logger
	leases atomic.Pointer[map[int]dhcpLease] // by port ifindex

	mu    sync.Mutex
	socks map[int]*dhcpSock
}

type dhcpSock struct {
	ifname string
	f      *os.File
}

func newDHCPServer(log *slog.Logger) *dhcpServer {
	d := &dhcpServer{log: log, socks: map[int]*dhcpSock{}}
	d.leases.Store(&map[int]dhcpLease{})
	return d
}

// sync serves exactly the ports in want (ifindex -> device name) from
// now on, with leases (ports without one are listened to and never
// answered). Sockets of ports gone are closed; a socket that cannot be
// opened is retried on the next call.
func (d *dhcpServer) sync(want map[int]string, leases map[int]dhcpLease) {
	d.leases.Store(&leases)
	d.mu.Lock()
	defer d.mu.Unlock()
	for idx, s := range d.socks {
		if want[idx] != s.ifname {
			s.f.Close()
			delete(d.socks, idx)
		}
	}
	for idx, name := range want {
		if _, ok := d.socks[idx]; ok {
			continue
		}
		f, err := openDHCPSocket(idx)
		if err != nil {
			d.log.Warn("DHCP socket", "dev", name, "err", err)
			continue
		}
		d.socks[idx] = &dhcpSock{ifname: name, f: f}
		go d.serve(idx, name, f)
	}
}

// dhcpFilter passes untagged IPv4 UDP to port 67, first fragments only:
// everything else the VM sends never reaches the agent.
var dhcpFilter = func() []unix.SockFilter {
	ins, err := bpf.Assemble([]bpf.Instruction{
		bpf.LoadExtension{Num: bpf.ExtVLANTagPresent},
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: 0, SkipTrue: 9},
		bpf.LoadAbsolute{Off: 12, Size: 2},
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: unix.ETH_P_IP, SkipTrue: 7},
		bpf.LoadAbsolute{Off: 23, Size: 1},
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: unix.IPPROTO_UDP, SkipTrue: 5},
		bpf.LoadAbsolute{Off: 20, Size: 2},
		bpf.JumpIf{Cond: bpf.JumpBitsSet, Val: 0x1fff, SkipTrue: 3},
		bpf.LoadMemShift{Off: 14},
		bpf.LoadIndirect{Off: 14 + 2, Size: 2},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: 67, SkipTrue: 1},
		bpf.RetConstant{Val: 0},
		bpf.RetConstant{Val: 1 << 16},
	})
	if err != nil {
		panic(err)
	}
	out := make([]unix.SockFilter, len(ins))
	for i, in := range ins {
		out[i] = unix.SockFilter{Code: in.Op, Jt: in.Jt, Jf: in.Jf, K: in.K}
	}
	return out
}()

// openDHCPSocket opens the packet socket of one port device. It is
// created with protocol 0, which receives nothing, and only bound to
// ETH_P_ALL on the device once the filter is in place: no frame of
// another device or another protocol slips in. Outgoing frames (the
// answers, and what other ports send the VM) are never handed to it.
func openDHCPSocket(ifindex int) (*os.File, error) {
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("packet socket: %w", err)
	}
	prog := unix.SockFprog{Len: uint16(len(dhcpFilter)), Filter: &dhcpFilter[0]}
	if err := unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &prog); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("attach filter: %w", err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_IGNORE_OUTGOING, 1); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("ignore outgoing: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifindex}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("bind to ifindex %d: %w", ifindex, err)
	}
	return os.NewFile(uintptr(fd), fmt.Sprintf("dhcp@%d", ifindex)), nil
}

// serve answers what arrives on one port until its socket is closed.
func (d *dhcpServer) serve(ifindex int, ifname string, f *os.File) {
	rc, err := f.SyscallConn()
	if err != nil {
		d.log.Warn("DHCP socket", "dev", ifname, "err", err)
		return
	}
	buf := make([]byte, 2048)
	for {
		var n int
		var from unix.Sockaddr
		var rerr error
		err := rc.Read(func(fd uintptr) bool {
			n, from, rerr = unix.Recvfrom(int(fd), buf, 0)
			return !errors.Is(rerr, unix.EAGAIN)
		})
		if err != nil {
			return // closed: the port is gone or no longer served
		}
		if rerr != nil {
			// ENETDOWN is reported once when the socket is bound to a
			// device still down (a port is opened before it is raised);
			// the kernel hooks the socket in when the device comes up.
			continue
		}
		if ll, ok := from.(*unix.SockaddrLinklayer); ok && ll.Pkttype == unix.PACKET_OUTGOING {
			continue
		}
		l, ok := (*d.leases.Load())[ifindex]
		if !ok {
			d.log.Debug("DHCP request on a port without a lease", "dev", ifname)
			continue
		}
		frame, err := d.handle(buf[:n], l, ifname)
		if err != nil {
			d.log.Debug("DHCP request ignored", "dev", ifname, "err", err)
			continue
		}
		if frame == nil {
			continue
		}
		to := &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_IP), Ifindex: ifindex}
		var werr error
		err = rc.Write(func(fd uintptr) bool {
			werr = unix.Sendto(int(fd), frame, 0, to)
			return !errors.Is(werr, unix.EAGAIN)
		})
		if err == nil {
			err = werr
		}
		if err != nil {
			d.log.Warn("DHCP answer not sent", "dev", ifname, "err", err)
		}
	}
}

// handle turns one frame from the VM into the frame answering it (nil:
// no answer).
func (d *dhcpServer) handle(frame []byte, l dhcpLease, ifname string) ([]byte, error) {
	src, payload, err := dhcpPayload(frame)
	if err != nil {
		return nil, err
	}
	// Port security drops a frame from another MAC after this socket saw
	// it: never answer what the port may not send.
	if !equalMAC(src, l.mac) {
		return nil, fmt.Errorf("source MAC %s is not the port's %s", src, l.mac)
	}
	req, err := dhcpv4.FromBytes(payload)
	if err != nil {
		return nil, fmt.Errorf("not DHCP: %w", err)
	}
	reply, err := dhcpReply(req, l)
	if err != nil || reply == nil {
		return nil, err
	}
	lvl := slog.LevelDebug
	if reply.MessageType() == dhcpv4.MessageTypeNak {
		lvl = slog.LevelInfo
	}
	d.log.Log(context.Background(), lvl, "DHCP", "dev", ifname, "mac", l.mac.String(), "request", req.MessageType(), "reply", reply.MessageType(),
		"ip", l.ip)
	return replyFrame(req, reply, l), nil
}

func equalMAC(a, b net.HardwareAddr) bool { return string(a) == string(b) }

// dhcpPayload checks that frame is Ethernet/IPv4/UDP to port 67 and
// returns its source MAC and UDP payload.
func dhcpPayload(frame []byte) (net.HardwareAddr, []byte, error) {
	if len(frame) < 14+20+8 || binary.BigEndian.Uint16(frame[12:]) != unix.ETH_P_IP {
		return nil, nil, errors.New("not IPv4")
	}
	ip := frame[14:]
	ihl := int(ip[0]&0xf) * 4
	total := int(binary.BigEndian.Uint16(ip[2:]))
	if ip[0]>>4 != 4 || ihl < 20 || total < ihl+8 || total > len(ip) || ip[9] != unix.IPPROTO_UDP {
		return nil, nil, errors.New("bad IPv4 header")
	}
	udp := ip[ihl:total]
	ulen := int(binary.BigEndian.Uint16(udp[4:]))
	if binary.BigEndian.Uint16(udp[2:]) != 67 || ulen < 8 || ulen > len(udp) {
		return nil, nil, errors.New("bad UDP header")
	}
	return net.HardwareAddr(frame[6:12]), udp[8:ulen], nil
}

// replyFrame wraps reply for the wire, addressed as RFC 2131 4.1 says for
// a client on the server's own link: to ciaddr when the client has one
// (renewal, INFORM), broadcast when it asked for it or for a NAK, else to
// the offered address at the client's MAC. From the DHCP port's address
// and MAC, whichever node answers.
func replyFrame(req, reply *dhcpv4.DHCPv4, l dhcpLease) []byte {
	dstMAC := net.HardwareAddr(l.mac)
	dstIP := reply.YourIPAddr.To4()
	switch {
	case reply.MessageType() == dhcpv4.MessageTypeNak || (req.ClientIPAddr.IsUnspecified() && req.IsBroadcast()):
		dstMAC = net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
		dstIP = net.IPv4bcast.To4()
	case !req.ClientIPAddr.IsUnspecified() && req.ClientIPAddr.To4() != nil:
		dstIP = req.ClientIPAddr.To4()
	}
	payload := reply.ToBytes()
	f := make([]byte, 14+20+8+len(payload))
	copy(f[0:6], dstMAC)
	copy(f[6:12], l.serverMAC)
	binary.BigEndian.PutUint16(f[12:], unix.ETH_P_IP)
	ip := f[14:34]
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:], uint16(20+8+len(payload)))
	ip[8] = 64
	ip[9] = unix.IPPROTO_UDP
	src := l.server.As4()
	copy(ip[12:16], src[:])
	copy(ip[16:20], dstIP)
	binary.BigEndian.PutUint16(ip[10:], ^csum(ip, 0))
	udp := f[34:]
	binary.BigEndian.PutUint16(udp[0:], 67)
	binary.BigEndian.PutUint16(udp[2:], 68)
	binary.BigEndian.PutUint16(udp[4:], uint16(8+len(payload)))
	copy(udp[8:], payload)
	// Pseudo-header: addresses, protocol, UDP length.
	pseudo := uint32(unix.IPPROTO_UDP) + uint32(8+len(payload))
	sum := csum(ip[12:20], pseudo)
	sum = ^csum(udp, uint32(sum))
	if sum == 0 {
		sum = 0xffff
	}
	binary.BigEndian.PutUint16(udp[6:], sum)
	return f
}

// csum is the ones' complement sum of b (RFC 1071) added to initial,
// folded, not inverted.
func csum(b []byte, initial uint32) uint16 {
	s := initial
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return uint16(s)
}
