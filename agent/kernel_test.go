package agent

import (
	"errors"
	"fmt"
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
	helpers := map[asm.BuiltinFunc]bool{}
	for _, h := range datapathHelpers {
		helpers[h.fn] = true
	}
	for name, p := range spec.Programs {
		if p.Type != ebpf.SchedCLS {
			t.Errorf("program %s is %v: the start-up check probes helpers for SchedCLS only", name, p.Type)
		}
		for _, ins := range p.Instructions {
			if ins.IsBuiltinCall() && !helpers[asm.BuiltinFunc(ins.Constant)] {
				t.Errorf("program %s calls %v: add it to datapathHelpers with the kernel that brought it", name, asm.BuiltinFunc(ins.Constant))
				helpers[asm.BuiltinFunc(ins.Constant)] = true
			}
		}
		if n := len(p.Instructions); n > 4096 {
			t.Logf("program %s: %d instructions", name, n)
		}
	}
	types := map[ebpf.MapType]bool{}
	for _, m := range datapathMaps {
		types[m.typ] = true
	}
	for name, m := range spec.Maps {
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
}

func TestCheckKernelListsEveryMissingFeature(t *testing.T) {
	ok := func() error { return nil }
	no := func() error { return fmt.Errorf("probe: %w", ebpf.ErrNotSupported) }
	perm := func() error { return errors.New("operation not permitted") }
	needs := []kernelNeed{
		{what: "helper bpf_redirect", since: "4.4", probe: ok},
		{what: "helper bpf_redirect_neigh", since: "5.10", probe: no},
		{what: "map type RingBuf", since: "5.8", probe: perm},
		{what: "helper bpf_loop", since: "5.17", probe: no},
	}
	err := checkKernel("5.4.0-test", needs)
	if err == nil {
		t.Fatal("missing features not reported")
	}
	want := "kernel 5.4.0-test cannot run the bnet datapath: missing helper bpf_redirect_neigh (kernel >= 5.10), helper bpf_loop (kernel >= 5.17)"
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
