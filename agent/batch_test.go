package agent

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/bnet-dev/bnet/maps"
)

// putBatch makes one batch call when it works and, when it does not, the
// single writes' errors, one per row that failed.
func TestPutBatch(t *testing.T) {
	var batches, singles []int
	var errs []error
	keep := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	batchOK := func(rows []int) error { batches = append(batches, len(rows)); return nil }
	batchBad := func(rows []int) error { batches = append(batches, len(rows)); return errors.New("batch failed") }
	one := func(r int) error {
		singles = append(singles, r)
		if r%2 == 1 {
			return errors.New("row failed")
		}
		return nil
	}
	putBatch(nil, batchOK, one, keep)
	if batches != nil || singles != nil || errs != nil {
		t.Fatalf("no rows: batches %v singles %v errs %v", batches, singles, errs)
	}
	putBatch([]int{1, 2, 3}, batchOK, one, keep)
	if !slices.Equal(batches, []int{3}) || singles != nil || errs != nil {
		t.Fatalf("batch ok: batches %v singles %v errs %v", batches, singles, errs)
	}
	batches = nil
	putBatch([]int{1, 2, 3, 4}, batchBad, one, keep)
	if !slices.Equal(batches, []int{4}) || !slices.Equal(singles, []int{1, 2, 3, 4}) || len(errs) != 2 {
		t.Fatalf("batch failed: batches %v singles %v errs %v", batches, singles, errs)
	}
}

// A batch into a full fdb, and one with a row the maps refuse: the rows
// that fit are written and each row that does not is named in its own
// error, as with one write per row.
func TestPutBatchPartialFailure(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	dir, err := os.MkdirTemp("/sys/fs/bpf", "bnet-batch-test-")
	if err != nil {
		t.Skip("no bpffs: ", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	m, p, err := maps.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close(); m.Close() })
	var errs []error
	keep := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}

	vtep := netip.MustParseAddr("10.254.0.12")
	row := func(i int) maps.FDBRow {
		return maps.FDBRow{NetID: 1, MAC: net.HardwareAddr{0xfa, 0x16, 0x3e, byte(i >> 16), byte(i >> 8), byte(i)}, VTEP: vtep}
	}
	limit := int(m.FDB.MaxEntries())
	fill := make([]maps.FDBRow, limit-2)
	for i := range fill {
		fill[i] = row(i)
	}
	if err := m.PutFDBs(fill); err != nil {
		t.Fatal(err)
	}
	// One changed entry, then four new ones for two free slots.
	changed := row(0)
	changed.VTEP = netip.MustParseAddr("10.254.0.13")
	rows := []maps.FDBRow{changed, row(limit), row(limit + 1), row(limit + 2), row(limit + 3)}
	if err := m.PutFDBs(rows); !errors.Is(err, maps.ErrFull) {
		t.Fatalf("batch past capacity: %v, want ErrFull", err)
	}
	putBatch(rows, m.PutFDBs, m.PutFDB, keep)
	if len(errs) != 2 {
		t.Fatalf("errors %v, want two", errs)
	}
	for i, err := range errs {
		want := "put fdb 1/" + row(limit+2+i).MAC.String() + ": fdb is full: "
		if !errors.Is(err, maps.ErrFull) || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("error %q, want ErrFull and %q...", err, want)
		}
	}
	have, err := m.FDBRows()
	if err != nil || len(have) != limit {
		t.Fatalf("%d fdb entries (%v), want %d", len(have), err, limit)
	}
	got := map[string]maps.FDBRow{}
	for _, r := range have {
		got[r.MAC.String()] = r
	}
	if got[changed.MAC.String()].VTEP != changed.VTEP {
		t.Errorf("changed entry %+v, want VTEP %v", got[changed.MAC.String()], changed.VTEP)
	}
	for _, r := range rows[1:3] {
		if _, ok := got[r.MAC.String()]; !ok {
			t.Errorf("%s not written", r.MAC)
		}
	}

	// A row the maps refuse fails the whole batch before it writes
	// anything; the others still go in.
	errs = nil
	mac := net.HardwareAddr{0xfa, 0x16, 0x3e, 0, 0, 1}
	arp := []maps.ARPRow{
		{NetID: 1, IP: netip.MustParseAddr("10.0.0.1"), MAC: mac},
		{NetID: 1, IP: netip.MustParseAddr("fd00::1"), MAC: mac},
		{NetID: 1, IP: netip.MustParseAddr("10.0.0.2"), MAC: mac},
	}
	putBatch(arp, m.PutARPs, m.PutARP, keep)
	if len(errs) != 1 || !strings.HasPrefix(errs[0].Error(), "put arp 1/fd00::1: ") {
		t.Fatalf("errors %v, want one for fd00::1", errs)
	}
	if have, err := m.ARPRows(); err != nil || len(have) != 2 {
		t.Fatalf("arp %v (%v), want 10.0.0.1 and 10.0.0.2", have, err)
	}
}
