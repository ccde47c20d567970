package cli

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/bnet-dev/bnet/maps"
)

// Map views read the pinned maps directly and read-only, so they work with
// the agent stopped; their names never reuse an API resource's (`port`,
// `network` stay API verbs).

// mapReader is the part of *maps.Maps the views use; tests substitute rows.
type mapReader interface {
	FDBRows() ([]maps.FDBRow, error)
	ARPRows() ([]maps.ARPRow, error)
	NetRows() ([]maps.NetRow, error)
	FloodRows() ([]maps.FloodRow, error)
	MapRows() ([]maps.MapRow, error)
	DropRows() ([]maps.DropRow, error)
	RouteRows() ([]maps.RouteRow, error)
	RIFRows() ([]maps.RIFRow, error)
	DVRMACRows() ([]maps.DVRMACRow, error)
	FIPRows() ([]maps.FIPRow, error)
	ExtGWRows() ([]maps.ExtGWRow, error)
	PortAddrRows() ([]maps.PortAddrRow, error)
	PortRows() ([]maps.PortRow, error)
	PolicyIPRows() ([]maps.PolicyIPRow, error)
	PolicyPortRows() ([]maps.PolicyPortRow, error)
	CTRows() ([]maps.CTRow, error)
	CTCounts() (map[uint32]uint32, error)
	CTSrcRows() ([]maps.CTSrcRow, error)
	CTConfigRow() (maps.CTConfig, error)
	NodeCfgRow() (maps.NodeCfg, error)
	Dump(name string, limit int) ([]maps.DumpEntry, error)
}

// openMaps opens the pins read-only: a view must never create or change
// state behind a running (or stopped) agent.
var openMaps = func(dir string) (mapReader, func(), error) {
	m, err := maps.Open(dir, true)
	if err != nil {
		return nil, nil, err
	}
	return m, func() { m.Close() }, nil
}

// mapAction is the Action of a view of the pinned maps.
func mapAction(run func(c *cli.Context, m mapReader, asJSON bool) error) cli.ActionFunc {
	return viewAction(func(c *cli.Context, asJSON bool) error {
		return withMaps(c, func(m mapReader) error { return run(c, m, asJSON) })
	})
}

// withMaps opens the pins and hands them to fn.
func withMaps(c *cli.Context, fn func(mapReader) error) error {
	dir := global(c, "pin-dir")
	if _, err := os.Stat(dir); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("no pinned maps in %s (agent never started here? wrong --pin-dir or BNET_PIN_DIR?)", dir)
		}
		return fmt.Errorf("pin dir %s: %w", dir, err)
	}
	m, closeMaps, err := openMaps(dir)
	if err != nil {
		return err // maps.Open names the directory and the likely cause
	}
	defer closeMaps()
	return fn(m)
}

func mapView(name, usage string, run func(c *cli.Context, m mapReader, asJSON bool) error) *cli.Command {
	return &cli.Command{
		Name:  name,
		Usage: usage,
		Subcommands: []*cli.Command{{
			Name:        "list",
			Usage:       usage,
			Description: "Reads the pinned BPF maps in --pin-dir directly; works with the agent stopped.",
			Action:      mapAction(run),
		}},
	}
}

// macString prints MACs lower-case colon hex; a nil MAC stays empty.
func macString(hw net.HardwareAddr) string {
	if len(hw) == 0 {
		return ""
	}
	return strings.ToLower(hw.String())
}

// addrString is "" for the zero (or 0.0.0.0) Addr, which the maps use for
// "none": a local FDB entry has no VTEP.
func addrString(a netip.Addr) string {
	if !a.IsValid() || a.IsUnspecified() {
		return ""
	}
	return a.String()
}

func u32(v uint32) string { return strconv.FormatUint(uint64(v), 10) }

type fdbEntry struct {
	NetID   uint32 `json:"net_id"`
	MAC     string `json:"mac"`
	Ifindex uint32 `json:"ifindex"`
	VTEP    string `json:"vtep"`
}

func fdbCommand() *cli.Command {
	return mapView("fdb", "forwarding database: network, MAC -> local port or remote VTEP",
		func(c *cli.Context, m mapReader, asJSON bool) error {
			rows, err := m.FDBRows()
			if err != nil {
				return fmt.Errorf("read fdb: %w", err)
			}
			sort.Slice(rows, func(i, j int) bool {
				if rows[i].NetID != rows[j].NetID {
					return rows[i].NetID < rows[j].NetID
				}
				return bytes.Compare(rows[i].MAC, rows[j].MAC) < 0
			})
			entries := make([]fdbEntry, 0, len(rows))
			for _, r := range rows {
				entries = append(entries, fdbEntry{r.NetID, macString(r.MAC), r.Ifindex, addrString(r.VTEP)})
			}
			out := getEnv(c).stdout
			if asJSON {
				return printJSON(out, map[string]any{"fdb": entries})
			}
			t := make([][]string, 0, len(entries))
			for _, e := range entries {
				t = append(t, []string{u32(e.NetID), e.MAC, u32(e.Ifindex), orDash(e.VTEP)})
			}
			return table(out, []string{"net_id", "mac", "ifindex", "vtep"}, t)
		})
}

type arpEntry struct {
	NetID uint32 `json:"net_id"`
	IP    string `json:"ip"`
	MAC   string `json:"mac"`
}

func arpCommand() *cli.Command {
	return mapView("arp", "ARP responder table: network, IP -> MAC",
		func(c *cli.Context, m mapReader, asJSON bool) error {
			rows, err := m.ARPRows()
			if err != nil {
				return fmt.Errorf("read arp: %w", err)
			}
			sort.Slice(rows, func(i, j int) bool {
				if rows[i].NetID != rows[j].NetID {
					return rows[i].NetID < rows[j].NetID
				}
				return rows[i].IP.Less(rows[j].IP)
			})
			entries := make([]arpEntry, 0, len(rows))
			for _, r := range rows {
				entries = append(entries, arpEntry{r.NetID, addrString(r.IP), macString(r.MAC)})
			}
			out := getEnv(c).stdout
			if asJSON {
				return printJSON(out, map[string]any{"arp": entries})
			}
			t := make([][]string, 0, len(entries))
			for _, e := range entries {
				t = append(t, []string{u32(e.NetID), e.IP, e.MAC})
			}
			return table(out, []string{"net_id", "ip", "mac"}, t)
		})
}

type tunnelEntry struct {
	NetID       uint32   `json:"net_id"`
	Type        string   `json:"type"`
	Segment     uint32   `json:"segment"`
	PhysIfindex uint32   `json:"phys_ifindex"`
	MTU         uint32   `json:"mtu"`
	Encap       string   `json:"encap"`
	LocalPorts  []uint32 `json:"local_ports"`
	RemoteVTEPs []string `json:"remote_vteps"`
}

func tunnelCommand() *cli.Command {
	return mapView("tunnel", "datapath networks: segment (VNI), local ports, remote VTEP flood list",
		func(c *cli.Context, m mapReader, asJSON bool) error {
			nets, err := m.NetRows()
			if err != nil {
				return fmt.Errorf("read networks map: %w", err)
			}
			floods, err := m.FloodRows()
			if err != nil {
				return fmt.Errorf("read flood map: %w", err)
			}
			// Without a readable node_cfg (no agent ever ran here) VXLAN
			// shows as the device path, which is what would carry it.
			nc, _ := m.NodeCfgRow()
			entries := joinTunnels(nets, floods, nc.VXLANBPF)
			out := getEnv(c).stdout
			if asJSON {
				return printJSON(out, map[string]any{"tunnels": entries})
			}
			t := make([][]string, 0, len(entries))
			for _, e := range entries {
				local := make([]string, len(e.LocalPorts))
				for i, p := range e.LocalPorts {
					local[i] = u32(p)
				}
				t = append(t, []string{u32(e.NetID), orDash(e.Type), u32(e.Segment), u32(e.MTU), orDash(e.Encap),
					orDash(strings.Join(local, ",")), orDash(strings.Join(e.RemoteVTEPs, ","))})
			}
			return table(out, []string{"net_id", "type", "segment", "mtu", "encap", "local_ports", "remote_vteps"}, t)
		})
}

// encapOf says how a network of type typ leaves the node, so an operator
// sees which path this node takes without reading the code.
func encapOf(typ string, vxlanBPF bool) string {
	switch typ {
	case "vxlan":
		if vxlanBPF {
			return "bpf-vxlan" // IP frames in BPF; ARP and the rest through bnet-vxlan
		}
		return "kernel-vxlan" // the bnet-vxlan device, external mode
	case "gre":
		return "bpf-gre" // bnet_port_in encaps, bnet_ul_in decaps
	case "vlan":
		return "bpf-8021q" // tag pushed/popped in BPF on the physnet NIC
	case "flat":
		return "physnet"
	case "local":
		return "none"
	}
	return ""
}

// joinTunnels merges the per-network datapath config with its flood list; a
// flood list without a network row (a half-written state) is still shown.
func joinTunnels(nets []maps.NetRow, floods []maps.FloodRow, vxlanBPF bool) []tunnelEntry {
	byID := map[uint32]*tunnelEntry{}
	for _, n := range nets {
		byID[n.NetID] = &tunnelEntry{NetID: n.NetID, Type: n.Type, Segment: n.Segment,
			PhysIfindex: n.PhysIfindex, MTU: n.MTU, Encap: encapOf(n.Type, vxlanBPF)}
	}
	for _, f := range floods {
		e, ok := byID[f.NetID]
		if !ok {
			e = &tunnelEntry{NetID: f.NetID}
			byID[f.NetID] = e
		}
		e.LocalPorts = append(e.LocalPorts, f.Local...)
		for _, v := range f.Remote {
			e.RemoteVTEPs = append(e.RemoteVTEPs, addrString(v))
		}
	}
	entries := make([]tunnelEntry, 0, len(byID))
	for _, e := range byID {
		if e.LocalPorts == nil {
			e.LocalPorts = []uint32{}
		}
		if e.RemoteVTEPs == nil {
			e.RemoteVTEPs = []string{}
		}
		sort.Slice(e.LocalPorts, func(i, j int) bool { return e.LocalPorts[i] < e.LocalPorts[j] })
		sort.Strings(e.RemoteVTEPs)
		entries = append(entries, *e)
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].NetID < entries[j].NetID })
	return entries
}

type mapEntry struct {
	Name        string  `json:"name"`
	Type        string  `json:"type"`
	Entries     int     `json:"entries"`
	Capacity    int     `json:"capacity"`
	FillPercent float64 `json:"fill_percent"`
}

func mapCommand() *cli.Command {
	cmd := mapView("map", "every pinned map with its fill and capacity",
		func(c *cli.Context, m mapReader, asJSON bool) error {
			rows, err := m.MapRows()
			if err != nil {
				return fmt.Errorf("read maps: %w", err)
			}
			sort.Slice(rows, func(i, j int) bool { return rows[i].Name < rows[j].Name })
			entries := make([]mapEntry, 0, len(rows))
			for _, r := range rows {
				fill := 0.0
				if r.Capacity > 0 {
					// One decimal: enough to see a map creeping to full.
					fill = float64(int(float64(r.Entries)*1000/float64(r.Capacity)+0.5)) / 10
				}
				entries = append(entries, mapEntry{r.Name, r.Type, r.Entries, r.Capacity, fill})
			}
			out := getEnv(c).stdout
			if asJSON {
				return printJSON(out, map[string]any{"maps": entries})
			}
			t := make([][]string, 0, len(entries))
			for _, e := range entries {
				t = append(t, []string{e.Name, e.Type, strconv.Itoa(e.Entries), strconv.Itoa(e.Capacity),
					strconv.FormatFloat(e.FillPercent, 'f', 1, 64) + "%"})
			}
			return table(out, []string{"name", "type", "entries", "capacity", "fill"}, t)
		})
	cmd.Subcommands = append(cmd.Subcommands, &cli.Command{
		Name:        "dump",
		Usage:       "every entry of one map (any of `bnet map list`), as JSON, fields as bnet.h names them",
		ArgsUsage:   "NAME",
		Description: "Reads the pinned map in --pin-dir directly; works with the agent stopped. Addresses are the raw network-order words the datapath holds.",
		Flags:       []cli.Flag{&cli.IntFlag{Name: "limit", Usage: "at most this many entries (0: all)"}},
		Action: func(c *cli.Context) error {
			name, err := oneArg(c, "NAME")
			if err != nil {
				return err
			}
			dir := global(c, "pin-dir")
			m, done, err := openMaps(dir)
			if err != nil {
				return err
			}
			defer done()
			entries, err := m.Dump(name, c.Int("limit"))
			if err != nil {
				return err
			}
			if entries == nil {
				entries = []maps.DumpEntry{}
			}
			return printJSON(getEnv(c).stdout, map[string]any{"map": name, "entries": entries})
		},
	})
	return cmd
}

type dropEntry struct {
	Ifindex uint32 `json:"ifindex"`
	Reason  string `json:"reason"`
	Packets uint64 `json:"packets"`
	Bytes   uint64 `json:"bytes"`
}

func dropCommand() *cli.Command {
	return mapView("drop", "datapath drop counters per port and reason",
		func(c *cli.Context, m mapReader, asJSON bool) error {
			rows, err := m.DropRows()
			if err != nil {
				return fmt.Errorf("read drop counters: %w", err)
			}
			sort.Slice(rows, func(i, j int) bool {
				if rows[i].Ifindex != rows[j].Ifindex {
					return rows[i].Ifindex < rows[j].Ifindex
				}
				return rows[i].Reason < rows[j].Reason
			})
			entries := make([]dropEntry, 0, len(rows))
			for _, r := range rows {
				entries = append(entries, dropEntry{r.Ifindex, r.Reason, r.Packets, r.Bytes})
			}
			out := getEnv(c).stdout
			if asJSON {
				return printJSON(out, map[string]any{"drops": entries})
			}
			t := make([][]string, 0, len(entries))
			for _, e := range entries {
				t = append(t, []string{u32(e.Ifindex), e.Reason,
					strconv.FormatUint(e.Packets, 10), strconv.FormatUint(e.Bytes, 10)})
			}
			return table(out, []string{"ifindex", "reason", "packets", "bytes"}, t)
		})
}
