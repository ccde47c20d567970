package agent

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"

	"github.com/bnet-dev/bnet/config"
)

// TestKernelNeedsCoverObject: every helper the compiled programs call and
// every map type and flag they declare is probed at start, with a version
// to name. A helper added to bnet.c must be added to datapathHelpers.
func TestKernelNeedsCoverObject(t *testing.T) {
	spec, err := ebpf.LoadCollectionSpec("../maps/bnet_bpfel.o")
	if err != nil {
		t.Fatal(err)
	}
	helpers, called := map[asm.BuiltinFunc]bool{}, map[asm.BuiltinFunc]bool{}
	for _, h := range datapathHelpers {
		helpers[h.fn] = true
	}
	for name, p := range spec.Programs {
		if p.Type != ebpf.SchedCLS {
			t.Errorf("program %s is %v: the start-up check probes helpers for SchedCLS only", name, p.Type)
		}
		for _, ins := range p.Instructions {
			if ins.IsBuiltinCall() {
				called[asm.BuiltinFunc(ins.Constant)] = true
			}
			if ins.IsBuiltinCall() && !helpers[asm.BuiltinFunc(ins.Constant)] {
				t.Errorf("program %s calls %v: add it to datapathHelpers with the kernel that brought it", name, asm.BuiltinFunc(ins.Constant))
				helpers[asm.BuiltinFunc(ins.Constant)] = true
			}
		}
		if n := len(p.Instructions); n > 4096 {
			t.Logf("program %s: %d instructions", name, n)
		}
	}
	// The other way round: a need the programs no longer have would
	// refuse kernels for nothing (bpf_loop once kept out 5.15).
	for _, h := range datapathHelpers {
		if !called[h.fn] {
			t.Errorf("datapathHelpers lists %s, which no program calls", h.name)
		}
	}
	types := map[ebpf.MapType]bool{}
	for _, m := range datapathMaps {
		types[m.typ] = true
	}
	used := map[ebpf.MapType]bool{ebpf.Array: true} // .rodata, .bss
	for name, m := range spec.Maps {
		used[m.Type] = true
		if strings.HasPrefix(name, ".") {
			continue // .rodata, .bss: arrays
		}
		if !types[m.Type] {
			t.Errorf("map %s is a %v: add the type to datapathMaps", name, m.Type)
		}
		if f := m.Flags &^ uint32(1); f != 0 { // BPF_F_NO_PREALLOC is probed
			t.Errorf("map %s has flags %#x: probe them at start", name, f)
		}
	}
	for _, m := range datapathMaps {
		if !used[m.typ] {
			t.Errorf("datapathMaps lists %v, which no map is", m.typ)
		}
	}
}

func TestCheckKernelListsEveryMissingFeature(t *testing.T) {
	ok := func() error { return nil }
	no := func() error { return fmt.Errorf("probe: %w", ebpf.ErrNotSupported) }
	perm := func() error { return errors.New("operation not permitted") }
	needs := []kernelNeed{
		{what: "helper bpf_redirect", since: "4.4", probe: ok},
		{what: "helper bpf_redirect_neigh", since: "5.10", probe: no},
		{what: "map type RingBuf", since: "5.8", probe: perm},
		{what: "tail calls from programs with global functions", since: "5.10", probe: no},
	}
	err := checkKernel("5.4.0-test", needs)
	if err == nil {
		t.Fatal("missing features not reported")
	}
	want := "kernel 5.4.0-test cannot run the bnet datapath: missing helper bpf_redirect_neigh (kernel >= 5.10), tail calls from programs with global functions (kernel >= 5.10)"
	if err.Error() != want {
		t.Fatalf("error\n got %q\nwant %q", err, want)
	}
	if err := checkKernel("6.18", needs[:1]); err != nil {
		t.Fatalf("nothing missing: %v", err)
	}
	if err := checkKernel("6.18", needs[2:3]); err != nil {
		t.Fatalf("an inconclusive probe failed the start: %v", err)
	}
}

func TestChooseAttach(t *testing.T) {
	have := func() error { return nil }
	lack := func() error { return fmt.Errorf("tcx: %w", ebpf.ErrNotSupported) }
	broken := func() error { return errors.New("probe TCX: operation not permitted") }
	called := false
	never := func() error { called = true; return nil }
	for _, c := range []struct {
		want string
		tcx  func() error
		got  string
		err  string
	}{
		{config.AttachAuto, have, config.AttachTCX, ""},
		{config.AttachAuto, lack, config.AttachTC, ""},
		{config.AttachTCX, have, config.AttachTCX, ""},
		{config.AttachTCX, lack, "", "TCX (kernel >= 6.6) not available"},
		{config.AttachTC, never, config.AttachTC, ""},
		{config.AttachAuto, broken, "", "operation not permitted"},
	} {
		got, err := chooseAttach(c.want, c.tcx)
		if got != c.got || (err == nil) != (c.err == "") || (err != nil && !strings.Contains(err.Error(), c.err)) {
			t.Errorf("%s: got %q, %v; want %q, error with %q", c.want, got, err, c.got, c.err)
		}
	}
	if called {
		t.Error("datapath.attach: tc probed TCX")
	}
	_, err := chooseAttach(config.AttachTCX, lack)
	if err == nil || !strings.Contains(err.Error(), "set datapath.attach: tc") {
		t.Errorf("tcx on a kernel without it: %v; want the fix named", err)
	}
}

// TestTunnelKeySizeEveryKernelTakes: bpf_skb_{get,set}_tunnel_key refuse a
// size the kernel does not know, and struct bpf_tunnel_key grew in 6.0;
// sizeof() from this machine's headers would fail every VXLAN packet on
// 5.x. The programs must pass the layout up to tunnel_label (24 bytes),
// which every kernel takes.
func TestTunnelKeySizeEveryKernelTakes(t *testing.T) {
	calls := 0
	eachInstruction(t, func(name string, insns asm.Instructions, i int) {
		fn := asm.BuiltinFunc(insns[i].Constant)
		if !insns[i].IsBuiltinCall() || (fn != asm.FnSkbSetTunnelKey && fn != asm.FnSkbGetTunnelKey) {
			return
		}
		calls++
		size := int64(-1)
		for j := i - 1; j >= 0 && j >= i-16; j-- {
			if insns[j].Dst == asm.R3 && insns[j].OpCode.Class().IsALU() {
				if insns[j].OpCode.ALUOp() == asm.Mov && insns[j].OpCode.Source() == asm.ImmSource {
					size = insns[j].Constant
				}
				break
			}
		}
		if size != 24 {
			t.Errorf("program %s: %v at %d passes size %d (want 24: offsetof(struct bpf_tunnel_key, tunnel_label))", name, fn, i, size)
		}
	})
	// bnet_port_in sets keys (flood copies are bnet_flood's), bnet_tun_in
	// reads them.
	if calls < 2 {
		t.Fatalf("%d tunnel key helper calls found, want at least 2: the check misses some", calls)
	}
}

// TestObjectInstructionsEveryKernelRuns: instructions the start-up check
// does not probe must be ones every supported kernel runs. Atomics other
// than a plain add (fetch, and, or, xor, xchg, cmpxchg: clang emits them
// for __sync_* whose result is used) came in 5.12, and kfuncs differ from
// one kernel to the next.
func TestObjectInstructionsEveryKernelRuns(t *testing.T) {
	atomics := 0
	eachInstruction(t, func(name string, insns asm.Instructions, i int) {
		ins := insns[i]
		if ins.OpCode.Class() == asm.StXClass && ins.OpCode.Mode() == asm.AtomicMode {
			atomics++
			if ins.Constant != 0 { // BPF_ADD without BPF_FETCH
				t.Errorf("program %s: %v at %d is an atomic of kernel 5.12", name, ins, i)
			}
		}
		if ins.IsKfuncCall() {
			t.Errorf("program %s: kfunc call at %d (%v): probe it at start", name, i, ins)
		}
	})
	if atomics == 0 {
		t.Fatal("no atomic instruction found: the check looks at nothing (drop counters use them)")
	}
}

func TestCompareKernel(t *testing.T) {
	in := []string{"5.13", "5.10 on x86-64, 6.0 on arm64", "4.2", "3.19", "5.2", "5.10"}
	slices.SortStableFunc(in, compareKernel)
	if want := []string{"3.19", "4.2", "5.2", "5.10 on x86-64, 6.0 on arm64", "5.10", "5.13"}; !slices.Equal(in, want) {
		t.Fatalf("sorted %q, want %q", in, want)
	}
}

// eachInstruction calls fn for every instruction (insns[i]) of every
// program in the compiled object.
func eachInstruction(t *testing.T, fn func(prog string, insns asm.Instructions, i int)) {
	t.Helper()
	spec, err := ebpf.LoadCollectionSpec("../maps/bnet_bpfel.o")
	if err != nil {
		t.Fatal(err)
	}
	for name, p := range spec.Programs {
		for i := range p.Instructions {
			fn(name, p.Instructions, i)
		}
	}
}
