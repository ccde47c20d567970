// Package config reads the agent's YAML configuration. Unknown keys are an
// error: a misspelt key silently ignored is how a node ends up on the wrong
// VTEP address.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Gossip is where the memberlist cluster listens and whom it joins first.
type Gossip struct {
	Bind      string   `yaml:"bind"`
	Advertise string   `yaml:"advertise"`
	Join      []string `yaml:"join"`
	// Fast shortens memberlist's probe and push/pull intervals: for labs and
	// tests on one machine, not for production links.
	Fast bool `yaml:"fast"`
	// KeyFile holds the cluster's gossip keys, base64, one per line (16,
	// 24 or 32 bytes each; `bnet keygen` makes one). The first encrypts,
	// all decrypt: add a new key second on every node, then move it first,
	// then drop the old one — agent restarts never stop traffic. Unset:
	// gossip is neither encrypted nor authenticated.
	KeyFile string `yaml:"key_file"`
}

// Security sizes the datapath's connection tracking for security groups.
type Security struct {
	// CTMax is the capacity of the conntrack table shared by all ports of
	// the node. Changing it on a node with pinned maps migrates the table
	// at the next agent start: a new one of the new size, entries copied.
	CTMax uint32 `yaml:"ct_max"`
	// CTPortMax is how many of those entries one port may hold, so that one
	// VM opening connections without end cannot starve the others.
	CTPortMax uint32 `yaml:"ct_port_max"`
	// CTSourceMax is how many connections one remote address may open to
	// one port (default: a quarter of ct_port_max), so that one sender
	// flooding a VM with new connections leaves room for everyone else.
	CTSourceMax uint32 `yaml:"ct_source_max"`
}

// Datapath says how the programs are attached to the devices.
type Datapath struct {
	// Attach is tcx (BPF links, kernel >= 6.6), tc (a clsact qdisc and a
	// direct-action bpf filter, every kernel bnet runs on) or auto: tcx
	// where the kernel has it, else tc. Switching between restarts moves
	// every device over to the new mode; never both at once.
	Attach string `yaml:"attach"`
}

// Attach modes of datapath.attach.
const (
	AttachAuto = "auto"
	AttachTCX  = "tcx"
	AttachTC   = "tc"
)

// Identity names this node's certificate files (`bnet ca issue` makes
// them): with them every record this node writes is signed, and records and
// members of other nodes are only believed when their certificates, from
// the same CA, say so. All three or none.
type Identity struct {
	CA   string `yaml:"ca"`   // the cluster CA's ca.crt
	Cert string `yaml:"cert"` // NODE.crt
	Key  string `yaml:"key"`  // NODE.key
}

// Enabled reports whether the node has an identity configured.
func (i Identity) Enabled() bool { return i.CA != "" || i.Cert != "" || i.Key != "" }

// Config is /etc/bnet/bnet.yaml. Key names follow Neutron's where one exists.
type Config struct {
	Node      string            `yaml:"node"`
	LocalIP   string            `yaml:"local_ip"`
	Roles     []string          `yaml:"roles"`
	Physnets  map[string]string `yaml:"physnets"`
	Gossip    Gossip            `yaml:"gossip"`
	APISocket string            `yaml:"api_socket"`
	// APIListen is an optional TCP address (127.0.0.1:9696) serving the
	// same API as the socket, for the OpenStack client. Off by default; the
	// API has no authentication, so anything but loopback is the
	// operator's explicit choice.
	APIListen string `yaml:"api_listen"`
	PinDir    string `yaml:"pin_dir"`
	StateDir  string `yaml:"state_dir"`
	VXLANPort int    `yaml:"vxlan_port"`
	// VXLANEncap is where VXLAN IP frames are encapsulated and taken apart:
	// "bpf" in the TC programs, straight to and from the underlay NIC;
	// "device" through the kernel's VXLAN device only; "auto" (default)
	// is bpf. The device carries ARP and anything the fast path leaves
	// to it either way.
	VXLANEncap  string `yaml:"vxlan_encap"`
	UnderlayMTU int    `yaml:"underlay_mtu"`
	LogLevel    string `yaml:"log_level"`
	// NetnsPrefix is put before the names of the namespaces the agent
	// creates itself (snat-<router>). Empty in production, where each node
	// has its own /run/netns; set when several agents share one kernel.
	NetnsPrefix string `yaml:"netns_prefix"`
	// MetricsListen is an optional IP:PORT serving Prometheus metrics on
	// /metrics (bnet_ prefix). Off by default.
	MetricsListen string `yaml:"metrics_listen"`
	// ResyncSeconds is the period of the full reconcile that repairs what
	// was changed behind the agent's back (a detached TC link, a deleted map
	// entry, the nftables table): the bound on how long it stays wrong.
	ResyncSeconds int      `yaml:"resync_seconds"`
	Security      Security `yaml:"security"`
	Datapath      Datapath `yaml:"datapath"`
	Identity      Identity `yaml:"identity"`
	// DHCPLeaseDuration is the lease, in seconds, the node's DHCP server
	// gives (Neutron's dhcp_lease_duration). A VM learns of a changed
	// address, nameserver or route at its next renewal, half a lease later.
	DHCPLeaseDuration int `yaml:"dhcp_lease_duration"`
	// NodeDeadHold is how long, in seconds, peers keep a dead node's ports
	// and VTEP programmed before withdrawing them, so that an agent restart
	// or a gossip-only partition does not tear down a healthy dataplane
	// (Neutron's agent_down_time plays this part for l2pop).
	NodeDeadHold *int `yaml:"node_dead_hold"`
	// SNATFenceDelay is how long, in seconds, a router's SNAT stays
	// unanswered after its network node was declared dead before another
	// network node takes it over: the old node gives SNAT up as soon as it
	// sees itself without a majority, and this delay covers the difference
	// between the two sides' failure detection.
	SNATFenceDelay *int `yaml:"snat_fence_delay"`
	// StaticVTEPs are tunnel endpoints that are no bnet agents (a hardware
	// VTEP, a legacy node with a kernel vxlan or gretap device): gossip
	// cannot tell about them, so the operator lists them per segment.
	StaticVTEPs []StaticVTEP `yaml:"static_vteps"`
}

// StaticVTEP is a non-bnet endpoint of one overlay segment: the segment's
// floods (broadcast, unknown unicast) are replicated to each of its VTEPs,
// and their tunnel traffic on that segment is admitted. Its MACs are not
// known in advance: frames for them reach it as unknown unicast.
type StaticVTEP struct {
	Type    string   `yaml:"type"`    // vxlan | gre
	Segment uint32   `yaml:"segment"` // VNI or GRE key
	VTEPs   []string `yaml:"vteps"`   // unicast IPv4 addresses
}

// Dead-node hold and SNAT fence delay an operator gets by default.
const (
	DefaultDeadHold   = 30
	DefaultFenceDelay = 5
)

// DeadHold is NodeDeadHold as a duration.
func (c *Config) DeadHold() time.Duration {
	if c.NodeDeadHold == nil {
		return DefaultDeadHold * time.Second
	}
	return time.Duration(*c.NodeDeadHold) * time.Second
}

// FenceDelay is SNATFenceDelay as a duration.
func (c *Config) FenceDelay() time.Duration {
	if c.SNATFenceDelay == nil {
		return DefaultFenceDelay * time.Second
	}
	return time.Duration(*c.SNATFenceDelay) * time.Second
}

// Defaults an operator gets without saying anything.
const (
	DefaultSocket   = "/run/bnet/bnet.sock"
	DefaultPinDir   = "/sys/fs/bpf/bnet"
	DefaultStateDir = "/var/lib/bnet"
	DefaultVXLAN    = 4789 // IANA and Neutron default
	DefaultMTU      = 1500
	DefaultGossip   = 7946
	DefaultCTMax    = 262144 // BNET_MAX_CT
	DefaultCTPort   = 16384
	DefaultLease    = 86400 // seconds, as Neutron's dhcp_lease_duration
	DefaultResync   = 10    // seconds between full reconciles
)

var nodeName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`)

// Load reads and validates FILE.
func Load(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	c, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return c, nil
}

// Parse decodes YAML strictly and fills defaults.
func Parse(b []byte) (*Config, error) {
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	// An empty document is empty config: Validate then names what is missing.
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		// yaml.v3 lists type errors one per line: an agent that cannot
		// start says why on one line (a journal or a kselftest reads it).
		var te *yaml.TypeError
		if errors.As(err, &te) {
			return nil, fmt.Errorf("yaml: %s", strings.Join(te.Errors, "; "))
		}
		return nil, err
	}
	c.fillDefaults()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

func (c *Config) fillDefaults() {
	if c.APISocket == "" {
		c.APISocket = DefaultSocket
	}
	if c.PinDir == "" {
		c.PinDir = DefaultPinDir
	}
	if c.StateDir == "" {
		c.StateDir = DefaultStateDir
	}
	if c.VXLANPort == 0 {
		c.VXLANPort = DefaultVXLAN
	}
	if c.VXLANEncap == "" {
		c.VXLANEncap = "auto"
	}
	if c.UnderlayMTU == 0 {
		c.UnderlayMTU = DefaultMTU
	}
	if len(c.Roles) == 0 {
		c.Roles = []string{"compute"}
	}
	if c.Gossip.Bind == "" && c.LocalIP != "" {
		c.Gossip.Bind = net.JoinHostPort(c.LocalIP, strconv.Itoa(DefaultGossip))
	}
	if c.LogLevel == "" {
		c.LogLevel = "info"
	}
	if c.DHCPLeaseDuration == 0 {
		c.DHCPLeaseDuration = DefaultLease
	}
	if c.ResyncSeconds == 0 {
		c.ResyncSeconds = DefaultResync
	}
	if c.Datapath.Attach == "" {
		c.Datapath.Attach = AttachAuto
	}
	if c.Security.CTMax == 0 {
		c.Security.CTMax = DefaultCTMax
	}
	if c.Security.CTPortMax == 0 {
		c.Security.CTPortMax = min(DefaultCTPort, c.Security.CTMax)
	}
	if c.Security.CTSourceMax == 0 {
		c.Security.CTSourceMax = max(1, c.Security.CTPortMax/4)
	}
}

// Validate reports the first thing wrong, naming the key.
func (c *Config) Validate() error {
	if err := CheckNodeName(c.Node); err != nil {
		return fmt.Errorf("node: %w", err)
	}
	if err := CheckVTEP(c.LocalIP); err != nil {
		return fmt.Errorf("local_ip: %w", err)
	}
	for _, r := range c.Roles {
		if r != "compute" && r != "network" {
			return fmt.Errorf("roles: unknown role %q (compute | network)", r)
		}
	}
	for name, nic := range c.Physnets {
		if name == "" || nic == "" || len(nic) > 15 {
			return fmt.Errorf("physnets: %q -> %q: need a name and an interface name (at most 15 characters)", name, nic)
		}
	}
	if _, err := netip.ParseAddrPort(c.Gossip.Bind); err != nil {
		return fmt.Errorf("gossip.bind: %q: want IP:PORT: %w", c.Gossip.Bind, err)
	}
	if c.Gossip.Advertise != "" {
		if _, err := netip.ParseAddrPort(c.Gossip.Advertise); err != nil {
			return fmt.Errorf("gossip.advertise: %q: want IP:PORT: %w", c.Gossip.Advertise, err)
		}
	}
	for _, j := range c.Gossip.Join {
		if _, _, err := net.SplitHostPort(j); err != nil {
			return fmt.Errorf("gossip.join: %q: want HOST:PORT: %w", j, err)
		}
	}
	if c.APIListen != "" {
		if _, err := netip.ParseAddrPort(c.APIListen); err != nil {
			return fmt.Errorf("api_listen: %q: want IP:PORT (e.g. 127.0.0.1:9696): %w", c.APIListen, err)
		}
	}
	if c.NodeDeadHold != nil && (*c.NodeDeadHold < 0 || *c.NodeDeadHold > 86400) {
		return fmt.Errorf("node_dead_hold: %d: want 0-86400 seconds", *c.NodeDeadHold)
	}
	if c.SNATFenceDelay != nil && (*c.SNATFenceDelay < 0 || *c.SNATFenceDelay > 600) {
		return fmt.Errorf("snat_fence_delay: %d: want 0-600 seconds", *c.SNATFenceDelay)
	}
	if c.MetricsListen != "" {
		if _, err := netip.ParseAddrPort(c.MetricsListen); err != nil {
			return fmt.Errorf("metrics_listen: %q: want IP:PORT (e.g. 127.0.0.1:9464): %w", c.MetricsListen, err)
		}
	}
	if c.VXLANPort < 1 || c.VXLANPort > 65535 {
		return fmt.Errorf("vxlan_port: %d out of range", c.VXLANPort)
	}
	if !slices.Contains([]string{"auto", "bpf", "device"}, c.VXLANEncap) {
		return fmt.Errorf("vxlan_encap: %q (auto | bpf | device)", c.VXLANEncap)
	}
	if c.UnderlayMTU < 1280 || c.UnderlayMTU > 65535 {
		return fmt.Errorf("underlay_mtu: %d out of range (1280-65535)", c.UnderlayMTU)
	}
	if !slices.Contains([]string{"debug", "info", "warn", "error"}, c.LogLevel) {
		return fmt.Errorf("log_level: %q (debug | info | warn | error)", c.LogLevel)
	}
	if c.NetnsPrefix != "" && (strings.ContainsAny(c.NetnsPrefix, "/\x00 ") || len(c.NetnsPrefix) > 64) {
		return fmt.Errorf("netns_prefix: %q is not usable in a namespace name", c.NetnsPrefix)
	}
	if c.DHCPLeaseDuration < 10 || c.DHCPLeaseDuration > 1<<31-1 {
		return fmt.Errorf("dhcp_lease_duration: %d seconds out of range (10-2147483647)", c.DHCPLeaseDuration)
	}
	if c.ResyncSeconds < 1 || c.ResyncSeconds > 3600 {
		return fmt.Errorf("resync_seconds: %d out of range (1-3600)", c.ResyncSeconds)
	}
	if c.Security.CTMax < 1024 || c.Security.CTMax > 1<<24 {
		return fmt.Errorf("security.ct_max: %d out of range (1024-16777216)", c.Security.CTMax)
	}
	if c.Security.CTPortMax > c.Security.CTMax {
		return fmt.Errorf("security.ct_port_max: %d is more than security.ct_max %d", c.Security.CTPortMax, c.Security.CTMax)
	}
	if c.Security.CTSourceMax > c.Security.CTPortMax {
		return fmt.Errorf("security.ct_source_max: %d is more than security.ct_port_max %d", c.Security.CTSourceMax, c.Security.CTPortMax)
	}
	if !slices.Contains([]string{AttachAuto, AttachTCX, AttachTC}, c.Datapath.Attach) {
		return fmt.Errorf("datapath.attach: %q (auto | tcx | tc)", c.Datapath.Attach)
	}
	if id := c.Identity; id.Enabled() && (id.CA == "" || id.Cert == "" || id.Key == "") {
		return errors.New("identity: ca, cert and key go together (all three or none)")
	}
	for i, sv := range c.StaticVTEPs {
		if err := sv.validate(); err != nil {
			return fmt.Errorf("static_vteps[%d]: %w", i, err)
		}
	}
	if c.PinDir == c.StateDir {
		return errors.New("pin_dir and state_dir must differ")
	}
	return nil
}

// CheckNodeName accepts what may name a node: it is a memberlist name, a
// file name (NODE.crt) and part of interface aliases.
func CheckNodeName(name string) error {
	if !nodeName.MatchString(name) {
		return fmt.Errorf("%q is not a valid node name (letters, digits, . _ -; at most 63)", name)
	}
	return nil
}

// CheckVTEP accepts a unicast IPv4 address, what a VTEP must be.
func CheckVTEP(s string) error {
	ip, err := netip.ParseAddr(s)
	if err != nil || !ip.Is4() || ip.IsUnspecified() || ip.IsMulticast() || ip == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
		return fmt.Errorf("%q is not a unicast IPv4 address", s)
	}
	return nil
}

// HasRole reports whether the node has role r.
func (c *Config) HasRole(r string) bool { return slices.Contains(c.Roles, r) }

func (sv StaticVTEP) validate() error {
	if sv.Type != "vxlan" && sv.Type != "gre" {
		return fmt.Errorf("type: %q (vxlan | gre)", sv.Type)
	}
	// VNIs are 24 bits; Neutron's GRE key range starts at 1 as well.
	if sv.Segment < 1 || (sv.Type == "vxlan" && sv.Segment > 1<<24-1) {
		return fmt.Errorf("segment: %d out of range for %s", sv.Segment, sv.Type)
	}
	if len(sv.VTEPs) == 0 {
		return errors.New("vteps: empty")
	}
	for _, v := range sv.VTEPs {
		if err := CheckVTEP(v); err != nil {
			return fmt.Errorf("vteps: %w", err)
		}
	}
	return nil
}

// StaticVTEPsOf is the static VTEPs of segment SEG of type TYP.
func (c *Config) StaticVTEPsOf(typ string, seg uint32) []netip.Addr {
	var out []netip.Addr
	for _, sv := range c.StaticVTEPs {
		if sv.Type != typ || sv.Segment != seg {
			continue
		}
		for _, v := range sv.VTEPs {
			if a, err := netip.ParseAddr(v); err == nil {
				out = append(out, a)
			}
		}
	}
	return out
}

// AllStaticVTEPs is every static VTEP of every segment.
func (c *Config) AllStaticVTEPs() []netip.Addr {
	var out []netip.Addr
	for _, sv := range c.StaticVTEPs {
		for _, v := range sv.VTEPs {
			if a, err := netip.ParseAddr(v); err == nil {
				out = append(out, a)
			}
		}
	}
	return out
}
