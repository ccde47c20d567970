package maps

import (
	"encoding/binary"
	"net/netip"
	"testing"
)

func kinds(steps []TraceStep) []uint32 {
	var k []uint32
	for _, s := range steps {
		k = append(k, s.Kind)
	}
	return k
}

func be32(a netip.Addr) uint32 {
	b := a.As4()
	return binary.NativeEndian.Uint32(b[:])
}

// The tracing copy reports what the live program would do, and neither
// the live maps nor the devices see anything of it.
func TestTraceReportsDecisionsAndChangesNothing(t *testing.T) {
	tp := newTopo(t)
	tp.must(tp.m.PutFlood(FloodRow{NetID: 1, Local: []uint32{tp.a, tp.b, tp.c}, Remote: []netip.Addr{vtep}}))
	tr, err := NewTracer(tp.m)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	p := tr.Programs()
	before := tp.snapshot()
	tx := func() [3]uint64 { return [3]uint64{txPackets(t, tp.b), txPackets(t, tp.c), txPackets(t, tp.vx)} }

	r, err := tr.Run(p.PortIn, tp.a, ethFrame(macR, macA, 0x0800, 80), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if r.Ret != ActRedirect || len(r.Steps) != 2 || r.Steps[0] != (TraceStep{TracePort, tp.a, 1, 0}) ||
		r.Steps[1] != (TraceStep{TraceVXLAN, 100, be32(vtep), 0}) {
		t.Fatalf("unicast to a remote MAC: ret %d steps %+v", r.Ret, r.Steps)
	}

	sent := tx()
	r, err = tr.Run(p.PortIn, tp.a, ethFrame(broadcast, macA, 0x0800, 64), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got := tx(); got != sent {
		t.Fatalf("a traced flood sent packets: tx (b, c, vxlan) %v -> %v", sent, got)
	}
	want := []uint32{TracePort, TraceFlood, TraceDeliver, TraceDeliver, TraceVXLAN}
	if r.Ret != ActShot || len(r.Steps) != len(want) {
		t.Fatalf("broadcast: ret %d steps %+v", r.Ret, r.Steps)
	}
	for i, k := range kinds(r.Steps) {
		if k != want[i] {
			t.Fatalf("broadcast: steps %+v, want kinds %v", r.Steps, want)
		}
	}
	if r.Steps[2].A != tp.b || r.Steps[3].A != tp.c || r.Steps[2].B != 1 || r.Steps[4].C != 1 {
		t.Fatalf("broadcast copies: %+v", r.Steps)
	}

	r, err = tr.Run(p.PortIn, tp.vx, ethFrame(macB, macA, 0x0800, 64), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if r.Ret != ActShot || len(r.Steps) != 1 || r.Steps[0] != (TraceStep{TraceDrop, 2 /* no_port */, tp.vx, 0}) {
		t.Fatalf("not a port: ret %d steps %+v", r.Ret, r.Steps)
	}

	// A frame from the tunnel: the trace supplies the tunnel metadata.
	tp.must(tp.m.PutPeer(PeerRow{NetID: 1, VTEP: vtep}))
	tr2, err := NewTracer(tp.m)
	if err != nil {
		t.Fatal(err)
	}
	defer tr2.Close()
	r, err = tr2.Run(tr2.Programs().TunIn, tp.vx, ethFrame(macB, macR, 0x0800, 64), 100, be32(vtep))
	if err != nil {
		t.Fatal(err)
	}
	if r.Ret != ActRedirect || len(r.Steps) != 2 || r.Steps[0] != (TraceStep{TraceTunnelIn, 1, 100, be32(vtep)}) ||
		r.Steps[1] != (TraceStep{TraceDeliver, tp.b, 0, 0}) {
		t.Fatalf("from the tunnel: ret %d steps %+v", r.Ret, r.Steps)
	}
	before = tp.snapshot() // the peer was added on purpose

	if after := tp.snapshot(); after != before {
		t.Fatalf("live maps changed by a trace:\n%s\n%s", before, after)
	}
	tp.wantDrops(nil)
}
