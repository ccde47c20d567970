package agent

import (
	"testing"
	"time"

	"github.com/bnet-dev/bnet/gossip"
	"github.com/bnet-dev/bnet/model"
)

func TestSNATHostsFailoverFencesFirst(t *testing.T) {
	now := time.Now()
	const fence = 5 * time.Second
	routers := map[string]model.Router{"r1": {ID: "r1", AdminStateUp: true, Distributed: true, ExternalGateway: &model.ExternalGateway{}}}
	up := func(network bool) nodeView {
		return nodeView{alive: true, live: true, state: gossip.StateAlive, upSince: now.Add(-time.Hour), network: network}
	}
	dead := func(network bool, ago time.Duration) nodeView {
		return nodeView{alive: true, state: gossip.StateDead, since: now.Add(-ago), network: network}
	}
	nodes := map[string]nodeView{"net1": up(true), "net2": up(true), "c1": up(false), "c2": up(false)}
	first := snatHosts(routers, nodes, "c1", fence, now)["r1"]
	if first != "net1" && first != "net2" {
		t.Fatalf("SNAT host %q, want a network node", first)
	}
	other := map[string]string{"net1": "net2", "net2": "net1"}[first]

	// Its node just died: nobody takes over until the fence delay is over.
	nodes[first] = dead(true, time.Second)
	for _, view := range []string{"c1", other} {
		if got := snatHosts(routers, nodes, view, fence, now)["r1"]; got != first {
			t.Fatalf("%s's view during the fence: host %q, want still %q (unanswered)", view, got, first)
		}
	}
	nodes[first] = dead(true, fence+time.Second)
	if got := snatHosts(routers, nodes, other, fence, now)["r1"]; got != other {
		t.Fatalf("after the fence: host %q, want %q", got, other)
	}

	// It comes back: the other keeps SNAT until the returning node has been
	// up for the fence delay, then lets go; the returning node takes over
	// only then (its own view says the same).
	back := up(true)
	back.upSince = now.Add(-time.Second)
	nodes[first] = back
	for _, view := range []string{other, first, "c1"} {
		if got := snatHosts(routers, nodes, view, fence, now)["r1"]; got != other {
			t.Fatalf("%s's view right after %s came back: host %q, want %q", view, first, got, other)
		}
	}
	back.upSince = now.Add(-fence)
	nodes[first] = back
	if got := snatHosts(routers, nodes, other, fence, now)["r1"]; got != first {
		t.Fatalf("after the fence delay, host %q in %s's view, want %q back", got, other, first)
	}
	// ...which it takes only a fence delay later: nobody answers in between.
	if got := snatHosts(routers, nodes, first, fence, now)["r1"]; got == first {
		t.Fatalf("%s took SNAT back as soon as %s let go", first, other)
	}
	back.upSince = now.Add(-2 * fence)
	nodes[first] = back
	if got := snatHosts(routers, nodes, first, fence, now)["r1"]; got != first {
		t.Fatalf("%s's own view after twice the fence delay: host %q", first, got)
	}
	// A suspicion does not move it.
	sus := nodes[first]
	sus.state = gossip.StateSuspect
	nodes[first] = sus
	if got := snatHosts(routers, nodes, other, fence, now)["r1"]; got != first {
		t.Fatalf("a suspect host lost SNAT to %q", got)
	}

	// The old host's own view when it is the one cut off: everyone else
	// dead, no majority, it holds nothing.
	cut := map[string]nodeView{first: up(true), other: dead(true, time.Second), "c1": dead(false, time.Second), "c2": dead(false, time.Second)}
	if got, ok := snatHosts(routers, cut, first, fence, now)["r1"]; ok {
		t.Fatalf("a node without a majority still holds SNAT (%q)", got)
	}
	// Half is not a majority either: a 2+2 split leaves both sides without.
	half := map[string]nodeView{first: up(true), other: dead(true, time.Minute), "c1": up(false), "c2": dead(false, time.Minute)}
	if got, ok := snatHosts(routers, half, first, fence, now)["r1"]; ok {
		t.Fatalf("half the cluster still holds SNAT (%q)", got)
	}
	// Drained members do not count against the majority.
	half["c2"] = nodeView{state: gossip.StateLeft}
	if got := snatHosts(routers, half, first, fence, now)["r1"]; got != first {
		t.Fatalf("with c2 drained, host %q, want %q", got, first)
	}

	// One network node: nobody could take over, so nothing to fence.
	single := map[string]nodeView{"net1": up(true), "c1": dead(false, time.Minute)}
	if got := snatHosts(routers, single, "net1", fence, now)["r1"]; got != "net1" {
		t.Fatalf("single network node: host %q", got)
	}
}
