package cli

import (
	"encoding/json"
	"net/netip"
	"strings"
	"testing"

	"github.com/bnet-dev/bnet/maps"
)

func TestPolicyView(t *testing.T) {
	dir := withFakeMaps(t, &fakeMaps{
		ports: []maps.PortRow{{Ifindex: 7, MAC: mac("fa:16:3e:00:00:07"), Up: true, Secure: true, Policy: true, PolicyID: 40},
			{Ifindex: 8, MAC: mac("fa:16:3e:00:00:08"), Up: true}},
		polIPs: []maps.PolicyIPRow{
			{PolicyID: 40, Dir: maps.DirIngress, Prefix: netip.MustParsePrefix("10.0.0.0/28"), Class: 3},
			{PolicyID: 40, Dir: maps.DirEgress, Prefix: netip.MustParsePrefix("0.0.0.0/0"), Class: 1},
			{PolicyID: 41, Dir: maps.DirEgress, Prefix: netip.MustParsePrefix("0.0.0.0/0"), Class: 1},
		},
		polPts: []maps.PolicyPortRow{
			{Class: 1, Rule: 0xa},
			{Class: 3, Proto: 6, Port: 22, PortBits: 16, Rule: 0xb},
			// 1000-1999 as the agent splits it, and one ICMP type.
			{Class: 3, Proto: 17, Port: 1000, PortBits: 13, Rule: 0xc}, {Class: 3, Proto: 17, Port: 1008, PortBits: 12, Rule: 0xc},
			{Class: 3, Proto: 17, Port: 1024, PortBits: 7, Rule: 0xc}, {Class: 3, Proto: 17, Port: 1536, PortBits: 8, Rule: 0xc},
			{Class: 3, Proto: 17, Port: 1792, PortBits: 9, Rule: 0xc}, {Class: 3, Proto: 17, Port: 1920, PortBits: 10, Rule: 0xc},
			{Class: 3, Proto: 17, Port: 1984, PortBits: 12, Rule: 0xc},
			{Class: 3, Proto: 1, Port: 8 << 8, PortBits: 8, Rule: 0xd},
		},
	})
	var got struct {
		Policy []policyEntry `json:"policy"`
	}
	if err := json.Unmarshal([]byte(mustRun(t, "--pin-dir", dir, "policy", "list", "-o", "json")), &got); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"7 ingress 10.0.0.0/28 icmp type 8 0000000d",
		"7 ingress 10.0.0.0/28 tcp 22 0000000b",
		"7 ingress 10.0.0.0/28 udp 1000-1999 0000000c",
		"7 egress 0.0.0.0/0 any any 0000000a",
	}
	var lines []string
	for _, e := range got.Policy {
		lines = append(lines, strings.Join([]string{u32(e.Ifindex), e.Direction, e.Remote, e.Protocol, e.Ports, e.Rule}, " "))
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Fatalf("policy view:\n%s\nwant\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
}

func TestCTViewHidesExpired(t *testing.T) {
	now := maps.Monotonic()
	dir := withFakeMaps(t, &fakeMaps{ct: []maps.CTRow{
		{Ifindex: 7, Proto: 6, Local: netip.MustParseAddr("10.0.0.5"), LocalPort: 22, Remote: netip.MustParseAddr("10.0.0.9"),
			RemotePort: 40000, Origin: maps.DirIngress, State: maps.CTReplied, Expires: now + 3600e9, Packets: 12},
		{Ifindex: 7, Proto: 17, Local: netip.MustParseAddr("10.0.0.5"), Remote: netip.MustParseAddr("10.0.0.9"), Expires: now - 1},
	}})
	out := mustRun(t, "--pin-dir", dir, "ct", "list")
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("want the header and one live entry:\n%s", out)
	}
	f := strings.Fields(lines[1])
	if strings.Join(f[:6], " ") != "7 tcp 10.0.0.5:22 10.0.0.9:40000 ingress replied" || f[7] != "12" {
		t.Fatalf("row %q", lines[1])
	}
}

// TestCTBudgetView: each port with what it holds of its budget, and under
// it each sender with what it holds of its share; JSON has the same.
func TestCTBudgetView(t *testing.T) {
	dir := withFakeMaps(t, &fakeMaps{
		counts: map[uint32]uint32{7: 20, 9: 1, 11: 0},
		srcs: []maps.CTSrcRow{
			{Ifindex: 7, Remote: netip.MustParseAddr("10.0.0.9"), Count: 16},
			{Ifindex: 7, Remote: netip.MustParseAddr("10.0.0.12"), Count: 3},
		},
		ctCfg: maps.CTConfig{PortMax: 64, SrcMax: 16},
	})
	out := mustRun(t, "--pin-dir", dir, "ct", "budget")
	var rows []string
	for _, l := range strings.Split(strings.TrimRight(out, "\n"), "\n")[1:] {
		rows = append(rows, strings.Join(strings.Fields(l), " "))
	}
	want := []string{"7 (port) 20 64", "7 10.0.0.9 16 16", "7 10.0.0.12 3 16", "9 (port) 1 64"}
	if strings.Join(rows, "\n") != strings.Join(want, "\n") {
		t.Fatalf("ct budget:\n%s\nwant\n%s", out, strings.Join(want, "\n"))
	}
	var got struct {
		Budgets []ctPortBudget `json:"budgets"`
	}
	if err := json.Unmarshal([]byte(mustRun(t, "--pin-dir", dir, "-o", "json", "ct", "budget")), &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Budgets) != 2 || got.Budgets[0].Holds != 20 || len(got.Budgets[0].Senders) != 2 ||
		got.Budgets[0].Senders[0] != (ctShare{Remote: "10.0.0.9", Holds: 16, Max: 16}) || len(got.Budgets[1].Senders) != 0 {
		t.Fatalf("ct budget json: %+v", got)
	}
}
