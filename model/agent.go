package model

import (
	"crypto/sha1"
	"fmt"
	"time"
)

// Agent identity as Neutron clients see it.
const (
	AgentType   = "bnet agent"
	AgentBinary = "bnet"
	AgentTopic  = "N/A"
)

// AgentInfo is what a node tells the cluster about itself (gossip node meta).
type AgentInfo struct {
	Node        string
	LocalIP     string
	Roles       []string
	Physnets    []string
	TunnelTypes []string
	DVRMAC      string
	Alive       bool
	StartedAt   time.Time
	HeartbeatAt time.Time
}

// AgentID is a stable UUID-shaped id derived from the node name, so every
// node names an agent the same way without storing it.
func AgentID(node string) string {
	h := sha1.Sum([]byte("bnet-agent/" + node))
	h[6] = h[6]&0x0f | 0x50 // version 5 layout
	h[8] = h[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16])
}

// NewAgent builds the /v2.0/agents entry of one node.
func NewAgent(in AgentInfo) Agent {
	nz := func(s []string) []string {
		if s == nil {
			return []string{}
		}
		return s
	}
	ts := func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format(TimeFormat)
	}
	return Agent{
		ID:           AgentID(in.Node),
		AgentType:    AgentType,
		Binary:       AgentBinary,
		Host:         in.Node,
		Topic:        AgentTopic,
		Alive:        in.Alive,
		AdminStateUp: true,
		Configurations: map[string]any{
			"tunneling_ip": in.LocalIP,
			"local_ip":     in.LocalIP,
			"roles":        nz(in.Roles),
			"physnets":     nz(in.Physnets),
			"tunnel_types": nz(in.TunnelTypes),
			"dvr_mac":      in.DVRMAC,
			"agent_mode":   agentMode(in.Roles),
		},
		HeartbeatAt: ts(in.HeartbeatAt),
		CreatedAt:   ts(in.StartedAt),
		StartedAt:   ts(in.StartedAt),
	}
}

// agentMode is the L3 agent mode Neutron would give a node with these
// roles: every node routes east-west (dvr); network nodes also hold SNAT.
func agentMode(roles []string) string {
	for _, r := range roles {
		if r == "network" {
			return "dvr_snat"
		}
	}
	return "dvr"
}
