package cli

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/bnet-dev/bnet/maps"
	"github.com/bnet-dev/bnet/model"
)

// protoNames are the protocols the views print by name.
var protoNames = map[uint8]string{1: "icmp", 6: "tcp", 17: "udp", 58: "ipv6-icmp", 132: "sctp"}

func protoName(p uint8) string {
	if p == 0 {
		return "any"
	}
	if n, ok := protoNames[p]; ok {
		return n
	}
	return strconv.Itoa(int(p))
}

type policyEntry struct {
	Ifindex   uint32 `json:"ifindex"`
	Policy    uint32 `json:"policy"`
	Direction string `json:"direction"`
	Remote    string `json:"remote"`
	Class     uint32 `json:"class"`
	Protocol  string `json:"protocol"`
	Ports     string `json:"ports"`
	Rule      string `json:"rule"`
}

// portRanges prints a class's blocks of one protocol as ranges ("22",
// "1000-1999"); ICMP's are "type T" or "type T code C"; no blocks is "any".
func portRanges(proto uint8, blocks []maps.PolicyPortRow) []string {
	var out []string
	if proto == 1 || proto == 58 {
		for _, b := range blocks {
			switch {
			case b.PortBits == 0:
				out = append(out, "any")
			case b.PortBits <= 8:
				out = append(out, fmt.Sprintf("type %d", b.Port>>8))
			default:
				out = append(out, fmt.Sprintf("type %d code %d", b.Port>>8, b.Port&0xff))
			}
		}
		return out
	}
	var lo, hi int = -1, -1
	flush := func() {
		switch {
		case lo < 0:
		case lo == hi:
			out = append(out, strconv.Itoa(lo))
		case lo == 0 && hi == 65535:
			out = append(out, "any")
		default:
			out = append(out, fmt.Sprintf("%d-%d", lo, hi))
		}
	}
	for _, b := range blocks {
		if b.PortBits == 0 {
			flush()
			lo, hi = 0, 65535
			continue
		}
		l := int(b.Port)
		h := l + 1<<(16-int(b.PortBits)) - 1
		if lo >= 0 && l <= hi+1 {
			hi = max(hi, h)
			continue
		}
		flush()
		lo, hi = l, h
	}
	flush()
	return out
}

// portIfindex finds the local device of a port: the ports map row with
// the port's MAC.
func portIfindex(c *cli.Context, m mapReader, nameOrID string) (uint32, error) {
	id, err := resolve(c, ports, nameOrID)
	if err != nil {
		return 0, err
	}
	var body struct {
		Port model.Port `json:"port"`
	}
	if err := client(c).Do(c.Context, "GET", ports.item(id), nil, &body); err != nil {
		return 0, fmt.Errorf("look up port %q: %w", nameOrID, err)
	}
	rows, err := m.PortRows()
	if err != nil {
		return 0, fmt.Errorf("read ports map: %w", err)
	}
	for _, r := range rows {
		if strings.EqualFold(macString(r.MAC), body.Port.MACAddress) {
			return r.Ifindex, nil
		}
	}
	return 0, fmt.Errorf("port %s (%s) is not programmed on this node", nameOrID, body.Port.MACAddress)
}

// policyCommand shows what security groups compiled to: per local port,
// for each direction and remote prefix, what may start a connection.
func policyCommand() *cli.Command {
	cmd := mapView("policy", "security groups as enforced: per port, direction and remote, the protocols and ports allowed",
		func(c *cli.Context, m mapReader, asJSON bool) error {
			var only uint32
			if p := c.String("port"); p != "" {
				idx, err := portIfindex(c, m, p)
				if err != nil {
					return err
				}
				only = idx
			}
			prows, err := m.PortRows()
			if err != nil {
				return fmt.Errorf("read ports map: %w", err)
			}
			ips, err := m.PolicyIPRows()
			if err != nil {
				return fmt.Errorf("read policy_ips map: %w", err)
			}
			blocks, err := m.PolicyPortRows()
			if err != nil {
				return fmt.Errorf("read policy_ports map: %w", err)
			}
			byClass := map[uint32][]maps.PolicyPortRow{}
			for _, b := range blocks {
				byClass[b.Class] = append(byClass[b.Class], b)
			}
			entries := []policyEntry{}
			for _, p := range prows {
				if !p.Policy || only != 0 && p.Ifindex != only {
					continue
				}
				for _, ip := range ips {
					if ip.PolicyID != p.PolicyID {
						continue
					}
					perProto := map[uint8][]maps.PolicyPortRow{}
					rules := map[uint8][]string{}
					for _, b := range byClass[ip.Class] {
						perProto[b.Proto] = append(perProto[b.Proto], b)
						rules[b.Proto] = append(rules[b.Proto], fmt.Sprintf("%08x", b.Rule))
					}
					protos := make([]uint8, 0, len(perProto))
					for pr := range perProto {
						protos = append(protos, pr)
					}
					slices.Sort(protos)
					for _, pr := range protos {
						rs := slices.Compact(slices.Sorted(slices.Values(rules[pr])))
						entries = append(entries, policyEntry{Ifindex: p.Ifindex, Policy: p.PolicyID,
							Direction: maps.DirName(ip.Dir), Remote: ip.Prefix.String(), Class: ip.Class,
							Protocol: protoName(pr), Ports: strings.Join(portRanges(pr, perProto[pr]), ","),
							Rule: strings.Join(rs, ",")})
					}
				}
			}
			out := getEnv(c).stdout
			if asJSON {
				return printJSON(out, map[string]any{"policy": entries})
			}
			t := make([][]string, 0, len(entries))
			for _, e := range entries {
				t = append(t, []string{u32(e.Ifindex), u32(e.Policy), e.Direction, e.Remote, e.Protocol, e.Ports, e.Rule})
			}
			return table(out, []string{"ifindex", "policy", "direction", "remote", "protocol", "ports", "rule"}, t)
		})
	cmd.Subcommands[0].Flags = []cli.Flag{&cli.StringFlag{Name: "port", Usage: "only this port (name or ID; must be on this node)"}}
	return cmd
}

type ctEntry struct {
	Ifindex    uint32  `json:"ifindex"`
	Protocol   string  `json:"protocol"`
	Local      string  `json:"local"`
	LocalPort  uint16  `json:"local_port"`
	Remote     string  `json:"remote"`
	RemotePort uint16  `json:"remote_port"`
	Origin     string  `json:"origin"`
	State      string  `json:"state"`
	ExpiresIn  float64 `json:"expires_in"`
	Packets    uint64  `json:"packets"`
}

func ctState(s uint8) string {
	var parts []string
	if s&maps.CTReplied != 0 {
		parts = append(parts, "replied")
	} else {
		parts = append(parts, "new")
	}
	if s&maps.CTFinOut != 0 {
		parts = append(parts, "fin-out")
	}
	if s&maps.CTFinIn != 0 {
		parts = append(parts, "fin-in")
	}
	if s&maps.CTRst != 0 {
		parts = append(parts, "rst")
	}
	return strings.Join(parts, ",")
}

// ctCommand lists the tracked connections of every port, from the port's
// side (local is the VM); expired entries the GC has not swept are left out.
func ctCommand() *cli.Command {
	cmd := mapView("ct", "security group connection tracking: each port's connections, from the VM's side",
		func(c *cli.Context, m mapReader, asJSON bool) error {
			rows, err := m.CTRows()
			if err != nil {
				return fmt.Errorf("read ct map: %w", err)
			}
			now := maps.Monotonic()
			entries := []ctEntry{}
			for _, r := range rows {
				if r.Expires <= now {
					continue
				}
				entries = append(entries, ctEntry{Ifindex: r.Ifindex, Protocol: protoName(r.Proto), Local: r.Local.String(),
					LocalPort: r.LocalPort, Remote: r.Remote.String(), RemotePort: r.RemotePort, Origin: maps.DirName(r.Origin),
					State: ctState(r.State), ExpiresIn: (time.Duration(r.Expires-now) * time.Nanosecond).Round(time.Second).Seconds(),
					Packets: r.Packets})
			}
			out := getEnv(c).stdout
			if asJSON {
				return printJSON(out, map[string]any{"ct": entries})
			}
			t := make([][]string, 0, len(entries))
			for _, e := range entries {
				t = append(t, []string{u32(e.Ifindex), e.Protocol, fmt.Sprintf("%s:%d", e.Local, e.LocalPort),
					fmt.Sprintf("%s:%d", e.Remote, e.RemotePort), e.Origin, e.State, fmt.Sprintf("%.0fs", e.ExpiresIn),
					strconv.FormatUint(e.Packets, 10)})
			}
			return table(out, []string{"ifindex", "proto", "local", "remote", "origin", "state", "expires", "packets"}, t)
		})
	cmd.Subcommands = append(cmd.Subcommands, &cli.Command{
		Name:  "budget",
		Usage: "what each port holds of its conntrack budget, and each sender of its share (ct_full, ct_src_full)",
		Description: "Per port: the tracked connections it holds, of security.ct_port_max. Under it, per remote\n" +
			"address that opened connections to the port: how many it holds, of security.ct_source_max.\n" +
			"Counts are the datapath's own, made true by the agent's GC every few seconds.\n" +
			"Reads the pinned BPF maps in --pin-dir directly; works with the agent stopped.",
		Action: mapAction(ctBudget),
	})
	return cmd
}

type ctShare struct {
	Remote string `json:"remote"`
	Holds  uint32 `json:"holds"`
	Max    uint32 `json:"max"`
}

type ctPortBudget struct {
	Ifindex uint32    `json:"ifindex"`
	Holds   uint32    `json:"holds"`
	Max     uint32    `json:"max"`
	Senders []ctShare `json:"senders"`
}

func ctBudget(c *cli.Context, m mapReader, asJSON bool) error {
	cfg, err := m.CTConfigRow()
	if err != nil {
		return err
	}
	counts, err := m.CTCounts()
	if err != nil {
		return err
	}
	srcs, err := m.CTSrcRows()
	if err != nil {
		return err
	}
	byPort := map[uint32]*ctPortBudget{}
	get := func(ifindex uint32) *ctPortBudget {
		if byPort[ifindex] == nil {
			byPort[ifindex] = &ctPortBudget{Ifindex: ifindex, Holds: counts[ifindex], Max: cfg.PortMax, Senders: []ctShare{}}
		}
		return byPort[ifindex]
	}
	for ifindex, n := range counts {
		if n > 0 {
			get(ifindex)
		}
	}
	for _, s := range srcs {
		b := get(s.Ifindex)
		b.Senders = append(b.Senders, ctShare{Remote: s.Remote.String(), Holds: s.Count, Max: cfg.SrcMax})
	}
	budgets := make([]ctPortBudget, 0, len(byPort))
	for _, b := range byPort {
		budgets = append(budgets, *b)
	}
	slices.SortFunc(budgets, func(a, b ctPortBudget) int { return cmp.Compare(a.Ifindex, b.Ifindex) })
	out := getEnv(c).stdout
	if asJSON {
		return printJSON(out, map[string]any{"budgets": budgets})
	}
	var t [][]string
	for _, b := range budgets {
		t = append(t, []string{u32(b.Ifindex), "(port)", u32(b.Holds), u32(b.Max)})
		for _, s := range b.Senders {
			t = append(t, []string{u32(b.Ifindex), s.Remote, u32(s.Holds), u32(s.Max)})
		}
	}
	return table(out, []string{"ifindex", "sender", "holds", "of"}, t)
}
