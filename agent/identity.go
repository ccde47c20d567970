package agent

import (
	"fmt"
	"log/slog"
	"strings"
	"sync"

	"github.com/bnet-dev/bnet/gossip"
	"github.com/bnet-dev/bnet/identity"
	"github.com/bnet-dev/bnet/model"
	"github.com/bnet-dev/bnet/store"
)

// identities is the agent's side of node identities (docs/gossip.md):
// which members it believes, remembered so that a change of verdict is
// logged once rather than at every reconcile.
type identities struct {
	st   *store.Store
	log  *slog.Logger
	self *identity.Identity

	mu      sync.Mutex
	verdict map[string]string // member -> why it is not trusted ("" trusted)
	// metaOK remembers the last meta signature verified per member (key,
	// meta and signature together): Members, hence trust, runs at every
	// reconcile for every member, and a verification costs ~60 µs.
	metaOK map[string]string
}

// useIdentity turns node identities on when the config names them: the
// certificate must verify under the CA and be this node's, with its VTEP,
// and this node's DVR MAC must be the one its name gives (peers check
// both). Then the store signs and checks records and publishes this node's
// certificate. It must run before gossip starts.
func (a *Agent) useIdentity() error {
	ic := a.cfg.Identity
	if !ic.Enabled() {
		return nil
	}
	caPub, self, err := identity.Load(ic.CA, ic.Cert, ic.Key)
	if err != nil {
		return fmt.Errorf("identity: %w", err)
	}
	if err := checkOwnIdentity(self.Cert, a.cfg.Node, a.cfg.LocalIP); err != nil {
		return fmt.Errorf("identity: %s: %w", ic.Cert, err)
	}
	mac, err := loadDVRMAC(a.cfg.StateDir, a.cfg.Node)
	if err != nil {
		return err
	}
	if want := dvrMACFor(a.cfg.Node); mac.String() != want.String() {
		return fmt.Errorf("identity: DVR MAC %s (state_dir/%s) is not %s, the one node %s's peers expect", mac, dvrMACFile, want, a.cfg.Node)
	}
	err = a.st.SetSecurity(store.Security{CA: caPub, Self: self, Authorize: func(r store.Record) error {
		return model.CheckOwner(r.Kind, r.ID, r.Data, r.Ver.Origin)
	}})
	if err != nil {
		return fmt.Errorf("identity: %w", err)
	}
	a.ids = &identities{st: a.st, log: a.log, self: self, verdict: map[string]string{}, metaOK: map[string]string{}}
	a.log.Info("node identity", "node", self.Cert.Node, "vtep", self.Cert.VTEP, "issued", self.Cert.Issued, "ca", ic.CA)
	return nil
}

// checkOwnIdentity: a node started under another node's certificate, or
// on another VTEP than certified, would be refused by every peer; better
// it never starts.
func checkOwnIdentity(c identity.Cert, node, localIP string) error {
	if c.Node != node {
		return fmt.Errorf("certificate is for node %q, this node is %q", c.Node, node)
	}
	if c.VTEP != localIP {
		return fmt.Errorf("certificate is for VTEP %s, local_ip is %s", c.VTEP, localIP)
	}
	return nil
}

// signMeta signs what this node announces of itself, so that a member
// speaking as this node without its key is not believed.
func (a *Agent) signMeta(m gossip.Meta) gossip.Meta {
	if a.ids != nil {
		m.Sig = a.ids.self.SignMeta(m.SigningBytes(a.cfg.Node))
	}
	return m
}

// trustFunc is gossip's Config.Trust: nil without identities (every member
// trusted, as before them).
func (a *Agent) trustFunc() func(string, gossip.Meta) bool {
	if a.ids == nil {
		return nil
	}
	return a.ids.trust
}

// trust believes a member's meta only within its certificate: signed with
// the certified key (the member is who it says), the VTEP it gives the
// certified one, and its DVR MAC the one its name derives. An untrusted
// member counts as not alive for the datapath: no FDB entry, flood entry,
// tunnel peer or VXLAN admission for its VTEP, no DVR MAC.
func (ids *identities) trust(name string, m gossip.Meta) bool {
	why := ""
	c, ok := ids.st.Cert(name)
	switch {
	case !ok:
		why = "no certificate from this cluster's CA (yet)"
	case !ids.metaSigned(name, c, m):
		why = "its meta is not signed with its certified key"
	case c.VTEP != m.VTEP:
		why = fmt.Sprintf("announces VTEP %q, its certificate says %s", m.VTEP, c.VTEP)
	case !strings.EqualFold(m.DVRMAC, dvrMACFor(name).String()):
		why = fmt.Sprintf("announces DVR MAC %q, its name gives %s", m.DVRMAC, dvrMACFor(name))
	}
	ids.mu.Lock()
	prev, seen := ids.verdict[name]
	if why != "" {
		delete(ids.metaOK, name)
	}
	ids.verdict[name] = why
	ids.mu.Unlock()
	switch {
	case seen && prev == why:
	case why == "" && seen:
		ids.log.Info("member trusted", "member", name, "vtep", m.VTEP)
	case why != "" && ok:
		ids.log.Warn("member not trusted: its VTEP carries no traffic", "member", name, "why", why)
	case why != "":
		ids.log.Info("member not trusted yet", "member", name, "why", why)
	}
	return why == ""
}

func (ids *identities) metaSigned(name string, c identity.Cert, m gossip.Meta) bool {
	msg := m.SigningBytes(name)
	key := string(c.Pub) + string(m.Sig) + string(msg)
	ids.mu.Lock()
	done := ids.metaOK[name] == key
	ids.mu.Unlock()
	if done {
		return true
	}
	if identity.VerifyMeta(c, msg, m.Sig) != nil {
		return false
	}
	ids.mu.Lock()
	ids.metaOK[name] = key
	ids.mu.Unlock()
	return true
}
