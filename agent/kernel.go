package agent

import (
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
	"strings"
	"sync"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/features"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"

	"github.com/bnet-dev/bnet/config"
)

// kernelNeed is one thing bpf/bnet.c cannot run without. Each is probed on
// its own rather than inferred from the kernel version: distribution
// kernels backport BPF features, and a version check would refuse those
// for nothing.
type kernelNeed struct {
	what  string // as the operator reads it: "helper bpf_loop"
	since string // the mainline kernel that brought it
	probe func() error
}

// datapathHelpers are the helpers bpf/bnet.c calls, with the mainline
// version that added each (for SchedCLS programs). kernel_test.go checks
// the compiled object against this list, so a helper added to bnet.c
// without an entry here fails the tests rather than a node at start.
var datapathHelpers = []struct {
	fn    asm.BuiltinFunc
	name  string
	since string
}{
	{asm.FnMapLookupElem, "bpf_map_lookup_elem", "3.19"},
	{asm.FnMapUpdateElem, "bpf_map_update_elem", "3.19"},
	{asm.FnMapDeleteElem, "bpf_map_delete_elem", "3.19"},
	{asm.FnKtimeGetNs, "bpf_ktime_get_ns", "4.1"},
	{asm.FnSkbStoreBytes, "bpf_skb_store_bytes", "4.1"},
	{asm.FnL3CsumReplace, "bpf_l3_csum_replace", "4.1"},
	{asm.FnL4CsumReplace, "bpf_l4_csum_replace", "4.1"},
	{asm.FnCloneRedirect, "bpf_clone_redirect", "4.2"},
	{asm.FnTailCall, "bpf_tail_call", "4.2"},
	{asm.FnSkbVlanPush, "bpf_skb_vlan_push", "4.3"},
	{asm.FnSkbVlanPop, "bpf_skb_vlan_pop", "4.3"},
	{asm.FnSkbGetTunnelKey, "bpf_skb_get_tunnel_key", "4.3"},
	{asm.FnSkbSetTunnelKey, "bpf_skb_set_tunnel_key", "4.3"},
	{asm.FnRedirect, "bpf_redirect", "4.4"},
	{asm.FnSkbLoadBytes, "bpf_skb_load_bytes", "4.5"},
	{asm.FnCsumDiff, "bpf_csum_diff", "4.6"},
	{asm.FnGetHashRecalc, "bpf_get_hash_recalc", "4.8"},
	{asm.FnSkbChangeTail, "bpf_skb_change_tail", "4.9"},
	{asm.FnSkbPullData, "bpf_skb_pull_data", "4.9"},
	{asm.FnSkbChangeHead, "bpf_skb_change_head", "4.10"},
	{asm.FnSkbAdjustRoom, "bpf_skb_adjust_room", "4.13"},
	{asm.FnRingbufReserve, "bpf_ringbuf_reserve", "5.8"},
	{asm.FnRingbufSubmit, "bpf_ringbuf_submit", "5.8"},
	{asm.FnRedirectNeigh, "bpf_redirect_neigh", "5.10"},
}

// datapathMaps are the map types bnet.h declares; cilium/ebpf knows the
// version of each.
var datapathMaps = []struct {
	typ   ebpf.MapType
	since string
}{
	{ebpf.Hash, "3.19"}, {ebpf.Array, "3.19"}, {ebpf.ProgramArray, "4.2"}, {ebpf.PerCPUHash, "4.6"}, {ebpf.PerCPUArray, "4.6"},
	{ebpf.LRUHash, "4.10"}, {ebpf.LPMTrie, "4.11"}, {ebpf.RingBuf, "5.8"},
}

// kernelNeeds is everything the start-up check probes, oldest first.
func kernelNeeds() []kernelNeed {
	needs := []kernelNeed{
		{what: "TC BPF programs (BPF_PROG_TYPE_SCHED_CLS)", since: "4.1", probe: func() error { return features.HaveProgramType(ebpf.SchedCLS) }},
		{what: "map flag BPF_F_NO_PREALLOC", since: "4.6", probe: func() error { return features.HaveMapFlag(features.BPF_F_NO_PREALLOC) }},
		// bnet_port_in is far beyond the old limit of 4096 instructions.
		{what: "programs of more than 4096 instructions", since: "5.2", probe: features.HaveLargeInstructions},
		// The programs call subprograms, among them global functions
		// (bnet_flood's copies), and tail-call bnet_flood.
		{what: "tail calls from programs with global functions", since: "5.10 on x86-64, 6.0 on arm64", probe: probeTailCallGlobalFunc},
		// GRE, and VXLAN in BPF, push their headers with it.
		{what: "bpf_skb_adjust_room flag BPF_F_ADJ_ROOM_ENCAP_L2_ETH", since: "5.13", probe: probeEncapL2Eth},
	}
	for _, m := range datapathMaps {
		needs = append(needs, kernelNeed{what: "map type " + m.typ.String(), since: m.since, probe: func() error { return features.HaveMapType(m.typ) }})
	}
	for _, h := range datapathHelpers {
		needs = append(needs, kernelNeed{what: "helper " + h.name, since: h.since, probe: func() error { return features.HaveProgramHelper(ebpf.SchedCLS, h.fn) }})
	}
	return needs
}

// KernelFeature is one thing the datapath needs or uses, as probed on
// this kernel: State is "yes", "missing", or "unknown: " and why the probe
// could not tell (no privilege, say).
type KernelFeature struct {
	What  string `json:"feature"`
	Since string `json:"since"`
	State string `json:"state"`
	Need  bool   `json:"needed"` // the agent refuses to start without it
}

// KernelReport probes, for an operator weighing a host, what the agent's
// start-up check does (every need) and the capabilities that only change
// a path (TCX; the decap flag), without loading or attaching anything.
// The error is the one the agent would refuse to start with, nil if none.
func KernelReport() (release string, features []KernelFeature, err error) {
	features = probeNeeds(kernelNeeds())
	// Oldest first: the last need is the kernel a host must have.
	slices.SortStableFunc(features, func(a, b KernelFeature) int { return compareKernel(a.Since, b.Since) })
	features = append(features,
		KernelFeature{What: "BPF_F_ADJ_ROOM_DECAP_L3_IPV6 (else IPv6 inside VXLAN goes through the kernel's device)", Since: "6.3", State: probeState(haveDecapL3())},
		KernelFeature{What: "TCX links (else clsact filters: datapath.attach tc)", Since: "6.6", State: probeState(haveTCX())})
	release = kernelRelease()
	return release, features, MissingNeeds(release, features)
}

const stateMissing = "missing"

// probeState says what a probe's error means: only a definite "not
// supported" is missing; any other failure (no CAP_BPF, say) leaves it
// unknown, for the program load to report.
func probeState(err error) string {
	switch {
	case err == nil:
		return "yes"
	case errors.Is(err, ebpf.ErrNotSupported):
		return stateMissing
	}
	return "unknown: " + err.Error()
}

// probeNeeds probes each need, in order.
func probeNeeds(needs []kernelNeed) []KernelFeature {
	out := make([]KernelFeature, 0, len(needs))
	for _, n := range needs {
		out = append(out, KernelFeature{What: n.what, Since: n.since, State: probeState(n.probe()), Need: true})
	}
	return out
}

// MissingNeeds is the agent's refusal to start on kernel release for the
// needed features missing among features, in one line so that an operator
// upgrades once rather than once per feature; nil when none is.
func MissingNeeds(release string, features []KernelFeature) error {
	var missing []string
	for _, f := range features {
		if f.Need && f.State == stateMissing {
			missing = append(missing, fmt.Sprintf("%s (kernel >= %s)", f.What, f.Since))
		}
	}
	if len(missing) == 0 {
		return nil
	}
	return fmt.Errorf("kernel %s cannot run the bnet datapath: missing %s", release, strings.Join(missing, ", "))
}

// compareKernel orders "5.10", "5.13", "5.10 on x86-64, ..." by the
// version they start with.
func compareKernel(a, b string) int {
	ver := func(s string) (int, int) {
		var major, minor int
		fmt.Sscanf(s, "%d.%d", &major, &minor)
		return major, minor
	}
	am, an := ver(a)
	bm, bn := ver(b)
	if am != bm {
		return am - bm
	}
	return an - bn
}

// checkKernel probes needs and reports every missing one (MissingNeeds).
func checkKernel(release string, needs []kernelNeed) error {
	return MissingNeeds(release, probeNeeds(needs))
}

// probeTailCallGlobalFunc loads what the datapath's programs are made of,
// in a few instructions: a program that calls a global function (verified
// on its own, 5.6) and then makes a tail call, which a JIT must support
// beside BPF-to-BPF calls (x86-64 from 5.10). A kernel without either
// refuses the load with EINVAL.
func probeTailCallGlobalFunc() error {
	jmp, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.ProgramArray, KeySize: 4, ValueSize: 4, MaxEntries: 1})
	if err != nil {
		return fmt.Errorf("probe tail calls: %w", err)
	}
	defer jmp.Close()
	i32 := &btf.Int{Name: "int", Size: 4, Encoding: btf.Signed}
	mainFn := &btf.Func{Name: "bnet_probe", Linkage: btf.GlobalFunc, Type: &btf.FuncProto{Return: i32}}
	subFn := &btf.Func{Name: "bnet_probe_sub", Linkage: btf.GlobalFunc,
		Type: &btf.FuncProto{Return: i32, Params: []btf.FuncParam{{Name: "x", Type: i32}}}}
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Type: ebpf.SchedCLS, License: "GPL",
		Instructions: asm.Instructions{
			btf.WithFuncMetadata(asm.Mov.Reg(asm.R6, asm.R1), mainFn),
			asm.Mov.Imm(asm.R1, 1),
			asm.Call.Label("bnet_probe_sub"),
			asm.Mov.Reg(asm.R1, asm.R6),
			asm.LoadMapPtr(asm.R2, jmp.FD()),
			asm.Mov.Imm(asm.R3, 0),
			asm.FnTailCall.Call(),
			asm.Mov.Imm(asm.R0, 0),
			asm.Return(),
			btf.WithFuncMetadata(asm.Mov.Reg(asm.R0, asm.R1).WithSymbol("bnet_probe_sub"), subFn),
			asm.Return(),
		},
	})
	if errors.Is(err, unix.EINVAL) {
		return fmt.Errorf("probe tail calls: %w: %w", ebpf.ErrNotSupported, err)
	}
	if err != nil {
		return fmt.Errorf("probe tail calls: %w", err)
	}
	return prog.Close()
}

// haveDecapL3 says whether the kernel knows BPF_F_ADJ_ROOM_DECAP_L3_*
// (6.3). A helper's flags are checked when it runs, not at load, so this
// runs what bnet_ul_in does on an outer Ethernet + IPv4 + GRE (with key) +
// inner Ethernet + IPv4 frame; a kernel without the flag refuses it with
// EINVAL. Only IPv6 inside a tunnel needs the flag (bpf/bnet.h,
// BNET_NODE_DECAP_L3), so it is a capability, not a need.
var haveDecapL3 = sync.OnceValue(probeDecapL3)

func probeDecapL3() error {
	const strip = 20 + 8 + 14 // outer IPv4, GRE with key, inner Ethernet
	frame := make([]byte, 14+strip+20+8)
	frame[12], frame[13] = 0x08, 0x00
	probeIPv4(frame[14:], 47)
	frame[34], frame[35], frame[36], frame[37] = 0x20, 0, 0x65, 0x58 // GRE K, TEB
	frame[54], frame[55] = 0x08, 0x00
	probeIPv4(frame[56:], 17)
	// BPF_F_ADJ_ROOM_FIXED_GSO | BPF_F_ADJ_ROOM_DECAP_L3_IPV4
	return probeAdjustRoom("decap flag", -strip, 1|1<<7, frame)
}

// probeEncapL2Eth says whether the kernel knows BPF_F_ADJ_ROOM_ENCAP_L2_ETH
// (5.13), with which bnet_port_in pushes GRE and VXLAN headers in front of
// an Ethernet frame (the flag marks the inner protocol as Ethernet, so GSO
// can segment the tunnelled frame). It runs the GRE push of gre_push.
func probeEncapL2Eth() error {
	const push = 20 + 8 + 14 // outer IPv4, GRE with key, inner Ethernet
	frame := make([]byte, 14+20+8)
	frame[12], frame[13] = 0x08, 0x00
	probeIPv4(frame[14:], 17)
	// FIXED_GSO | ENCAP_L3_IPV4 | ENCAP_L4_GRE | ENCAP_L2_ETH | ENCAP_L2(14)
	return probeAdjustRoom("encap flag", push, 1|1<<1|1<<3|1<<6|14<<56, frame)
}

func probeIPv4(b []byte, proto byte) {
	b[0], b[2], b[3], b[8], b[9] = 0x45, 0, byte(len(b)), 64, proto
}

// probeAdjustRoom runs bpf_skb_adjust_room(skb, diff, BPF_ADJ_ROOM_MAC,
// flags) on frame. A helper's flags are checked when it runs, not at load:
// a kernel that does not know one returns EINVAL.
func probeAdjustRoom(what string, diff int32, flags uint64, frame []byte) error {
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Type: ebpf.SchedCLS, License: "GPL",
		Instructions: asm.Instructions{
			asm.Mov.Imm(asm.R2, diff),
			asm.Mov.Imm(asm.R3, 1), // BPF_ADJ_ROOM_MAC
			asm.LoadImm(asm.R4, int64(flags), asm.DWord),
			asm.FnSkbAdjustRoom.Call(),
			asm.Return(),
		},
	})
	if err != nil {
		return fmt.Errorf("probe %s: %w", what, err)
	}
	defer prog.Close()
	ret, err := prog.Run(&ebpf.RunOptions{Data: frame})
	if err != nil {
		return fmt.Errorf("probe %s: %w", what, err)
	}
	if int32(ret) == -int32(unix.EINVAL) {
		return ebpf.ErrNotSupported
	}
	if ret != 0 {
		return fmt.Errorf("probe %s: bpf_skb_adjust_room returned %d", what, int32(ret))
	}
	return nil
}

func kernelRelease() string {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return "(unknown)"
	}
	return unix.ByteSliceToString(u.Release[:])
}

// haveTCX reports whether the kernel has TCX: cilium/ebpf's link package
// probes it when an attach fails, and an attach to an ifindex no device has
// fails with ENODEV exactly when TCX itself exists.
func haveTCX() error {
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Type: ebpf.SchedCLS, License: "GPL",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, -1), asm.Return()},
	})
	if err != nil {
		return fmt.Errorf("probe TCX: load a probe program: %w", err)
	}
	defer prog.Close()
	l, err := link.AttachTCX(link.TCXOptions{Interface: math.MaxInt32, Program: prog, Attach: ebpf.AttachTCXIngress})
	switch {
	case err == nil:
		l.Close()
		return nil
	case errors.Is(err, unix.ENODEV):
		return nil
	case errors.Is(err, ebpf.ErrNotSupported):
		return ebpf.ErrNotSupported
	}
	return fmt.Errorf("probe TCX: %w", err)
}

// chooseAttach resolves datapath.attach against what the kernel has.
func chooseAttach(want string, tcx func() error) (string, error) {
	if want == config.AttachTC {
		return config.AttachTC, nil
	}
	err := tcx()
	if err != nil && !errors.Is(err, ebpf.ErrNotSupported) {
		return "", err
	}
	switch {
	case err == nil:
		return config.AttachTCX, nil
	case want == config.AttachTCX:
		return "", fmt.Errorf("datapath.attach: tcx: TCX (kernel >= 6.6) not available on kernel %s; set datapath.attach: tc (or auto)", kernelRelease())
	}
	return config.AttachTC, nil
}

// checkDatapathKernel is the agent's start-up check: every feature the
// programs need, then the attach mode. Cheap: each probe loads a program
// of a few instructions, once per process.
func checkDatapathKernel(cfg *config.Config) (mode string, err error) {
	if err = checkKernel(kernelRelease(), kernelNeeds()); err != nil {
		return "", err
	}
	return chooseAttach(cfg.Datapath.Attach, func() error {
		if testKernelLacks("tcx") {
			return ebpf.ErrNotSupported
		}
		return haveTCX()
	})
}

// testKernelLacksEnv names capabilities (tcx, decap_l3) the agent is to
// act as if the kernel lacked: the kselftests run the paths an older
// kernel takes, with real packets, on this one. Not for production: the
// agent warns at start while it is set.
const testKernelLacksEnv = "BNET_TEST_KERNEL_LACKS"

func testKernelLacks(what string) bool {
	return slices.Contains(strings.Split(os.Getenv(testKernelLacksEnv), ","), what)
}
