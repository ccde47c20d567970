package maps

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// TC verdicts as BPF_PROG_TEST_RUN reports them.
const (
	actShot     = 2
	actRedirect = 7
	tcxNext     = 0xffffffff // TCX_NEXT (-1) as the u32 the kernel returns
)

// pinDir returns a fresh pin directory removed at cleanup. It lives under
// /sys/fs/bpf when that is a bpffs; otherwise (some containers) the test
// mounts a private bpffs so it still exercises real pinning.
func pinDir(t *testing.T) string { return testPinDir(t, "bnet-test-") }

// testPinDir makes the pin directory of one test (or fuzz worker) process,
// named prefix<pid>-. A process killed before its cleanup (a fuzz worker
// at the end of -fuzztime, an interrupted run) leaves its pins behind:
// those of processes that no longer exist are removed here first.
func testPinDir(tb testing.TB, prefix string) string {
	tb.Helper()
	if os.Geteuid() != 0 {
		tb.Skip("BPF tests need root")
	}
	var st unix.Statfs_t
	if err := unix.Statfs("/sys/fs/bpf", &st); err == nil && st.Type == unix.BPF_FS_MAGIC {
		sweepStalePins(prefix)
		dir, err := os.MkdirTemp("/sys/fs/bpf", fmt.Sprintf("%s%d-", prefix, os.Getpid()))
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { os.RemoveAll(dir) })
		return filepath.Join(dir, "pins")
	}
	mnt := tb.TempDir()
	if err := unix.Mount("bpf", mnt, "bpf", 0, ""); err != nil {
		tb.Fatalf("mount bpffs on %s: %v", mnt, err)
	}
	tb.Cleanup(func() { _ = unix.Unmount(mnt, unix.MNT_DETACH) })
	return filepath.Join(mnt, "pins")
}

func sweepStalePins(prefix string) {
	dirs, _ := filepath.Glob(filepath.Join("/sys/fs/bpf", prefix+"*"))
	for _, d := range dirs {
		var pid int
		if _, err := fmt.Sscanf(strings.TrimPrefix(filepath.Base(d), prefix), "%d-", &pid); err != nil {
			os.RemoveAll(d) // from before pids were in the name
			continue
		}
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); os.IsNotExist(err) {
			os.RemoveAll(d)
		}
	}
}

// inNetns moves the test goroutine's thread into a new network namespace
// for the rest of the test, so test devices vanish with it.
// BPF_PROG_TEST_RUN resolves the context ifindex in the caller's netns.
func inNetns(t *testing.T) {
	t.Helper()
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		t.Fatal(err)
	}
	ns, err := netns.New()
	if err != nil {
		orig.Close()
		runtime.UnlockOSThread()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := netns.Set(orig); err != nil {
			// Leave the thread locked: the runtime discards it.
			t.Errorf("restore netns: %v", err)
			return
		}
		ns.Close()
		orig.Close()
		runtime.UnlockOSThread()
	})
}

// veth creates an up veth pair and returns the host end's ifindex.
func veth(t *testing.T, name string) uint32 {
	t.Helper()
	la := netlink.NewLinkAttrs()
	la.Name = name
	if err := netlink.LinkAdd(&netlink.Veth{LinkAttrs: la, PeerName: name + "p"}); err != nil {
		t.Fatalf("add veth %s: %v", name, err)
	}
	for _, n := range []string{name, name + "p"} {
		l, err := netlink.LinkByName(n)
		if err != nil {
			t.Fatal(err)
		}
		// No IPv6 autoconfiguration: its own packets (DAD, MLD) would
		// add to the transmit counters the flood tests read.
		if err := os.WriteFile("/proc/sys/net/ipv6/conf/"+n+"/disable_ipv6", []byte("1"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := netlink.LinkSetUp(l); err != nil {
			t.Fatal(err)
		}
	}
	l, err := netlink.LinkByName(name)
	if err != nil {
		t.Fatal(err)
	}
	return uint32(l.Attrs().Index)
}

// txPackets reads a device's transmitted packet count (what the clones
// of a flood leave through).
func txPackets(t *testing.T, ifindex uint32) uint64 {
	t.Helper()
	l, err := netlink.LinkByIndex(int(ifindex))
	if err != nil {
		t.Fatal(err)
	}
	return l.Attrs().Statistics.TxPackets
}

// skbCtx is the head of struct __sk_buff up to ifindex: the kernel
// accepts a short context and lets a test set ifindex (a device that
// exists in the caller's netns, or 1 for lo) but not vlan_present.
type skbCtx struct {
	Len, PktType, Mark, QueueMapping, Protocol, VlanPresent, VlanTCI, VlanProto, Priority, IngressIfindex, Ifindex uint32
}

type env struct {
	t    *testing.T
	m    *Maps
	p    *Programs
	pins string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	dir := pinDir(t)
	inNetns(t)
	m, p, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close(); m.Close() })
	return &env{t: t, m: m, p: p, pins: dir}
}

// run feeds one frame to prog as if it arrived on ifindex and returns the
// verdict and the frame as the program left it.
func (e *env) run(prog *ebpf.Program, ifindex uint32, frame []byte) (uint32, []byte) {
	e.t.Helper()
	ret, out, err := e.tryRun(prog, ifindex, frame)
	if err != nil {
		e.t.Fatalf("run: %v", err)
	}
	return ret, out
}

func (e *env) tryRun(prog *ebpf.Program, ifindex uint32, frame []byte) (uint32, []byte, error) {
	out := make([]byte, len(frame)+256)
	opts := &ebpf.RunOptions{Data: frame, DataOut: out, Context: skbCtx{Ifindex: ifindex}}
	ret, err := prog.Run(opts)
	if err != nil {
		return 0, nil, err
	}
	return ret, opts.DataOut, nil
}

func (e *env) must(err error) {
	e.t.Helper()
	if err != nil {
		e.t.Fatal(err)
	}
}

// drops returns drop_stats as "ifindex/reason" -> packets.
func (e *env) drops() map[string]uint64 {
	e.t.Helper()
	rows, err := e.m.DropRows()
	e.must(err)
	got := map[string]uint64{}
	for _, r := range rows {
		got[fmt.Sprintf("%d/%s", r.Ifindex, r.Reason)] = r.Packets
	}
	return got
}

func (e *env) wantDrops(want map[string]uint64) {
	e.t.Helper()
	got := e.drops()
	if len(got) != len(want) {
		e.t.Fatalf("drop_stats = %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			e.t.Fatalf("drop_stats = %v, want %v", got, want)
		}
	}
}

func (e *env) resetDrops() {
	e.t.Helper()
	var k bnetStatKey
	for {
		if err := e.m.DropStats.NextKey(nil, &k); err != nil {
			return
		}
		e.must(e.m.DropStats.Delete(&k))
	}
}

// snapshot renders every map but drop_stats, to prove a frame changed nothing.
func (e *env) snapshot() string {
	e.t.Helper()
	var b bytes.Buffer
	ports, err := e.m.PortRows()
	e.must(err)
	nets, err := e.m.NetRows()
	e.must(err)
	segs, err := e.m.SegmentRows()
	e.must(err)
	fdb, err := e.m.FDBRows()
	e.must(err)
	arp, err := e.m.ARPRows()
	e.must(err)
	flood, err := e.m.FloodRows()
	e.must(err)
	cfg, err := e.m.NodeCfgRow()
	e.must(err)
	peers, err := e.m.PeerRows()
	e.must(err)
	nhs, err := e.m.NHRows()
	e.must(err)
	fmt.Fprintln(&b, ports, nets, segs, fdb, arp, flood, cfg, peers, nhs)
	return b.String()
}

// ---- frames ----------------------------------------------------------------

func mac(s string) net.HardwareAddr {
	m, err := net.ParseMAC(s)
	if err != nil {
		panic(err)
	}
	return m
}

var broadcast = mac("ff:ff:ff:ff:ff:ff")

// ethFrame is an Ethernet frame with an arbitrary IPv4-looking payload.
func ethFrame(dst, src net.HardwareAddr, proto uint16, payloadLen int) []byte {
	f := make([]byte, 14+payloadLen)
	copy(f[0:6], dst)
	copy(f[6:12], src)
	binary.BigEndian.PutUint16(f[12:14], proto)
	for i := 14; i < len(f); i++ {
		f[i] = byte(i)
	}
	return f
}

// arpFrame builds an Ethernet/IPv4 ARP packet.
func arpFrame(ethDst, ethSrc net.HardwareAddr, op uint16, sha net.HardwareAddr, spa netip.Addr, tha net.HardwareAddr, tpa netip.Addr) []byte {
	f := make([]byte, 42)
	copy(f[0:6], ethDst)
	copy(f[6:12], ethSrc)
	binary.BigEndian.PutUint16(f[12:], 0x0806)
	binary.BigEndian.PutUint16(f[14:], 1)      // htype Ethernet
	binary.BigEndian.PutUint16(f[16:], 0x0800) // ptype IPv4
	f[18], f[19] = 6, 4
	binary.BigEndian.PutUint16(f[20:], op)
	copy(f[22:28], sha)
	s := spa.As4()
	copy(f[28:32], s[:])
	copy(f[32:38], tha)
	d := tpa.As4()
	copy(f[38:42], d[:])
	return f
}

// setNetFlag sets flag (netRouted, netExtGW) on network id, as the agent
// does for a network with a router interface or floating IPs here; a
// network not written yet is left alone.
func setNetFlag(m *Maps, id uint32, flag uint32) error {
	rows, err := m.NetRows()
	if err != nil {
		return err
	}
	for _, r := range rows {
		if r.NetID == id {
			r.Routed = r.Routed || flag&netRouted != 0
			r.ExtGW = r.ExtGW || flag&netExtGW != 0
			return m.PutNetwork(r)
		}
	}
	return nil
}
