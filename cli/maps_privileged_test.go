package cli

import (
	"net/netip"
	"os"
	"strings"
	"testing"

	"github.com/bnet-dev/bnet/maps"
)

// TestFDBViewRealPins loads the datapath with real pins and reads them back
// through `bnet fdb list` with no agent running, as an operator would.
func TestFDBViewRealPins(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to load BPF and pin under /sys/fs/bpf")
	}
	dir, err := os.MkdirTemp("/sys/fs/bpf", "bnet-clitest-")
	if err != nil {
		t.Skipf("bpffs not available: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })

	m, progs, err := maps.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { progs.Close(); m.Close() })

	if out := mustRun(t, "--pin-dir", dir, "fdb", "list", "-o", "json"); out != "{\n  \"fdb\": []\n}\n" {
		t.Errorf("empty fdb json = %q", out)
	}
	if err := m.PutFDB(maps.FDBRow{NetID: 3, MAC: mac("FA:16:3E:AA:BB:01"), Ifindex: 11}); err != nil {
		t.Fatal(err)
	}
	if err := m.PutFDB(maps.FDBRow{NetID: 3, MAC: mac("fa:16:3e:aa:bb:02"), VTEP: netip.MustParseAddr("192.168.120.22")}); err != nil {
		t.Fatal(err)
	}
	out := mustRun(t, "--pin-dir", dir, "fdb", "list", "-o", "json")
	got := jsonOf(t, out)["fdb"].([]any)
	if len(got) != 2 {
		t.Fatalf("fdb json:\n%s", out)
	}
	want := []map[string]any{
		{"net_id": 3.0, "mac": "fa:16:3e:aa:bb:01", "ifindex": 11.0, "vtep": ""},
		{"net_id": 3.0, "mac": "fa:16:3e:aa:bb:02", "ifindex": 0.0, "vtep": "192.168.120.22"},
	}
	for i := range want {
		for k, v := range want[i] {
			if got[i].(map[string]any)[k] != v {
				t.Errorf("entry %d %s = %v, want %v", i, k, got[i].(map[string]any)[k], v)
			}
		}
	}

	// map list sees the same pins and counts the two entries.
	out = mustRun(t, "--pin-dir", dir, "map", "list")
	var fdbLine string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "fdb ") {
			fdbLine = l
		}
	}
	if f := strings.Fields(fdbLine); len(f) != 5 || f[2] != "2" {
		t.Errorf("map list fdb row %q in:\n%s", fdbLine, out)
	}

	// map dump decodes any map with its bnet.h field names; per-CPU maps
	// give a value per CPU; a wrong name says which names exist.
	out = mustRun(t, "--pin-dir", dir, "map", "dump", "fdb")
	dump := jsonOf(t, out)
	entries, _ := dump["entries"].([]any)
	if dump["map"] != "fdb" || len(entries) != 2 {
		t.Fatalf("map dump fdb:\n%s", out)
	}
	e := entries[0].(map[string]any)
	if e["key"].(map[string]any)["NetId"] != 3.0 {
		t.Errorf("dump key %v", e["key"])
	}
	if out := mustRun(t, "--pin-dir", dir, "map", "dump", "ct"); !strings.Contains(out, `"entries": []`) {
		t.Errorf("empty ct dump: %s", out)
	}
	if _, stderr, code := run(t, "--pin-dir", dir, "map", "dump", "nosuch"); code == 0 || !strings.Contains(stderr, "policy_ips") {
		t.Errorf("map dump nosuch: exit %d, %q", code, stderr)
	}
}

// TestAgentKernelHere: on this machine's kernel every need is there, probed
// for real.
func TestAgentKernelHere(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to probe BPF features")
	}
	out := mustRun(t, "agent", "kernel")
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, " needed ") && !strings.HasSuffix(strings.TrimSpace(l), " yes") {
			t.Errorf("a need is not there on this kernel: %s", l)
		}
	}
	if !strings.Contains(out, "tail calls from programs with global functions") {
		t.Fatalf("agent kernel lists no needs:\n%s", out)
	}
	t.Log(out)
}
