package agent

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/bnet-dev/bnet/config"
)

// attacher keeps one program on each device's ingress, in one of two modes
// (datapath.attach, resolved at start by chooseAttach):
//
// tcx: one pinned TCX link per device. Links are pinned so that programs
// stay attached while the agent is down (traffic keeps flowing through a
// restart); a restarted agent swaps the program inside the existing link
// (link.Update), which never leaves the device without a program.
//
// tc (kernels without TCX, before 6.6): a clsact qdisc and one
// direct-action bpf filter at a fixed priority and handle. A filter holds
// its program without any pin and stays until deleted or its device goes;
// a restarted agent swaps the program by replacing the filter at the same
// priority and handle, which the kernel does in place (cls_bpf swaps the
// program under RCU: every packet sees the old program or the new one).
//
// Whatever the mode, the other mode's attachment of a device, left by a
// run in the other mode, is removed once this mode's is in place: both
// would run, one after the other.
type attacher struct {
	dir  string // <pin_dir>/links: TCX link pins
	mode string // config.AttachTCX or config.AttachTC
	// keep leaves a device that already runs some program (in either mode)
	// as it is: set from start until the new maps are programmed, so that
	// the previous agent's programs, consistent with the maps they were
	// loaded against (an upgrade may have migrated some), carry the traffic
	// until then.
	keep bool
	// tcChecked are the devices (name -> ifindex) already looked at for a
	// tc filter left by a tc-mode run: in tcx mode that costs a netlink
	// dump, done once per device and process rather than every reconcile.
	tcChecked map[string]int
	progIDs   map[*ebpf.Program]int
}

// bnet's tc filters: a priority of their own, so that no other user of
// the clsact qdisc is replaced or deleted. Lower priorities run first: the
// underlay NIC's program comes after a physnet program on the same NIC, as
// with TCX, where the underlay link is attached last.
const (
	tcPrio         = 0xbe00
	tcPrioUnderlay = 0xbe01
	tcHandle       = 1
	tcName         = "bnet"
)

// newAttacher checks that the kernel can run the datapath as configured,
// then resolves datapath.attach against it. The mode is logged with "agent
// up": a start that fails later says one line, its error.
func newAttacher(cfg *config.Config, log *slog.Logger) (*attacher, error) {
	mode, err := checkDatapathKernel(cfg)
	if err != nil {
		return nil, err
	}
	return openAttacher(cfg.PinDir, mode)
}

func openAttacher(pinDir, mode string) (*attacher, error) {
	if mode != config.AttachTCX && mode != config.AttachTC {
		return nil, fmt.Errorf("attach mode %q: want tcx or tc", mode)
	}
	dir := filepath.Join(pinDir, "links")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("links pin dir: %w", err)
	}
	return &attacher{dir: dir, mode: mode, tcChecked: map[string]int{}, progIDs: map[*ebpf.Program]int{}}, nil
}

func (a *attacher) pin(name string) string { return filepath.Join(a.dir, name) }

// attach makes prog the program on ifindex's ingress under the pin name
// name (the device's name, or underlayPin's).
func (a *attacher) attach(name string, ifindex int, prog *ebpf.Program) error {
	if a.mode == config.AttachTC {
		return a.attachTC(name, ifindex, prog)
	}
	return a.attachTCX(name, ifindex, prog)
}

// attachTCX makes prog the program of name's TCX link, reusing a pinned
// link when it still belongs to this very device.
func (a *attacher) attachTCX(name string, ifindex int, prog *ebpf.Program) error {
	p := a.pin(name)
	if l, err := link.LoadPinnedLink(p, nil); err == nil {
		defer l.Close()
		if info, err := l.Info(); err == nil && info.TCX() != nil && int(info.TCX().Ifindex) == ifindex {
			if !a.keep {
				if err := l.Update(prog); err != nil {
					return fmt.Errorf("update program on %s: %w", name, err)
				}
			}
			return a.dropTC(name, ifindex)
		}
		// A pin left by a device of the same name that is gone (or moved):
		// drop it and attach afresh.
		_ = l.Unpin()
	} else if !errors.Is(err, os.ErrNotExist) {
		_ = os.Remove(p)
	}
	if a.keep {
		if f, err := findTCFilter(ifindex, tcPrioOf(name)); err != nil {
			return fmt.Errorf("attach %s: %w", name, err)
		} else if f != nil {
			return nil // a tc-mode run's program: it carries on until the switch
		}
	}
	l, err := link.AttachTCX(link.TCXOptions{Interface: ifindex, Program: prog, Attach: ebpf.AttachTCXIngress})
	if err != nil {
		return fmt.Errorf("attach tcx ingress %s: %w", name, err)
	}
	defer l.Close()
	if err := l.Pin(p); err != nil {
		_ = l.Detach()
		return fmt.Errorf("pin link of %s: %w", name, err)
	}
	delete(a.tcChecked, name)
	return a.dropTC(name, ifindex)
}

// dropTC deletes a tc filter of bnet's on ifindex, once the TCX link is in
// place (so that the device is never without a program).
func (a *attacher) dropTC(name string, ifindex int) error {
	if a.tcChecked[name] == ifindex {
		return nil
	}
	f, err := findTCFilter(ifindex, tcPrioOf(name))
	if err == nil && f != nil {
		err = netlink.FilterDel(f)
	}
	if err != nil {
		return fmt.Errorf("remove tc filter of %s (now on TCX): %w", name, err)
	}
	a.tcChecked[name] = ifindex
	return nil
}

// attachTC makes prog the program of bnet's tc filter on ifindex's
// ingress, then removes a TCX link a tcx-mode run left there.
func (a *attacher) attachTC(name string, ifindex int, prog *ebpf.Program) error {
	prio := tcPrioOf(name)
	cur, err := findTCFilter(ifindex, prio)
	if err != nil {
		return fmt.Errorf("attach %s: %w", name, err)
	}
	tcxLink, err := a.pinnedTCX(name, ifindex)
	if err != nil {
		return fmt.Errorf("attach %s: %w", name, err)
	}
	if tcxLink != nil {
		defer tcxLink.Close()
	}
	if a.keep && (cur != nil || tcxLink != nil) {
		return nil
	}
	id, err := a.progID(prog)
	if err != nil {
		return fmt.Errorf("attach %s: %w", name, err)
	}
	if cur == nil || cur.Id != id {
		if err := replaceTCFilter(ifindex, prio, prog); err != nil {
			return fmt.Errorf("attach tc ingress %s: %w", name, err)
		}
	}
	if tcxLink != nil {
		// The filter runs: the TCX link, which would run first, can go.
		if err := tcxLink.Unpin(); err != nil {
			return fmt.Errorf("attach %s: unpin TCX link: %w", name, err)
		}
		if err := tcxLink.Detach(); err != nil && !errors.Is(err, ebpf.ErrNotSupported) {
			return fmt.Errorf("attach %s: detach TCX link: %w", name, err)
		}
	}
	return nil
}

// pinnedTCX is name's pinned TCX link when it sits on ifindex. A pin of a
// device that is gone is dropped.
func (a *attacher) pinnedTCX(name string, ifindex int) (link.Link, error) {
	p := a.pin(name)
	l, err := link.LoadPinnedLink(p, nil)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		// Not a link (or not one this kernel can load): nothing runs
		// through it.
		return nil, os.Remove(p)
	}
	if info, err := l.Info(); err == nil && info.TCX() != nil && int(info.TCX().Ifindex) == ifindex {
		return l, nil
	}
	_ = l.Unpin()
	l.Close()
	return nil, nil
}

func (a *attacher) progID(prog *ebpf.Program) (int, error) {
	if id, ok := a.progIDs[prog]; ok {
		return id, nil
	}
	info, err := prog.Info()
	if err != nil {
		return 0, fmt.Errorf("program info: %w", err)
	}
	id, ok := info.ID()
	if !ok {
		return 0, errors.New("program info: kernel reports no program id")
	}
	a.progIDs[prog] = int(id)
	return int(id), nil
}

// tcPrioOf is the filter priority of pin name: the underlay NIC's program
// shares its device with a physnet's when the NIC is both.
func tcPrioOf(name string) uint16 {
	if strings.HasPrefix(name, underlayPin("")) {
		return tcPrioUnderlay
	}
	return tcPrio
}

// tcDevice is the device name of pin name.
func tcDevice(name string) string { return strings.TrimPrefix(name, underlayPin("")) }

func tcFilter(ifindex int, prio uint16) *netlink.BpfFilter {
	return &netlink.BpfFilter{
		FilterAttrs: netlink.FilterAttrs{
			LinkIndex: ifindex, Parent: netlink.HANDLE_MIN_INGRESS,
			Priority: prio, Handle: tcHandle, Protocol: unix.ETH_P_ALL,
		},
		Name: tcName, DirectAction: true,
	}
}

// replaceTCFilter puts prog in bnet's filter at prio, creating the clsact
// qdisc if the device has none.
func replaceTCFilter(ifindex int, prio uint16, prog *ebpf.Program) error {
	q := &netlink.GenericQdisc{
		QdiscAttrs: netlink.QdiscAttrs{LinkIndex: ifindex, Handle: netlink.MakeHandle(0xffff, 0), Parent: netlink.HANDLE_CLSACT},
		QdiscType:  "clsact",
	}
	if err := netlink.QdiscAdd(q); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("add clsact qdisc: %w", err)
	}
	f := tcFilter(ifindex, prio)
	f.Fd = prog.FD()
	if err := netlink.FilterReplace(f); err != nil {
		return fmt.Errorf("replace bpf filter: %w", err)
	}
	return nil
}

// findTCFilter is bnet's filter on ifindex's ingress at prio, or nil.
func findTCFilter(ifindex int, prio uint16) (*netlink.BpfFilter, error) {
	fs, err := listIngress(ifindex)
	if err != nil {
		return nil, err
	}
	for _, f := range fs {
		if bf, ok := f.(*netlink.BpfFilter); ok && bf.Priority == prio && bf.Handle == tcHandle && bf.Name == tcName {
			// FilterDel needs these, the dump leaves them out.
			bf.LinkIndex, bf.Parent = ifindex, netlink.HANDLE_MIN_INGRESS
			return bf, nil
		}
	}
	return nil, nil
}

func listIngress(ifindex int) ([]netlink.Filter, error) {
	dev := &netlink.Device{LinkAttrs: netlink.LinkAttrs{Index: ifindex}}
	var err error
	for range 3 {
		var fs []netlink.Filter
		if fs, err = netlink.FilterList(dev, netlink.HANDLE_MIN_INGRESS); err == nil {
			return fs, nil
		}
		if !errors.Is(err, netlink.ErrDumpInterrupted) {
			break
		}
	}
	if errors.Is(err, unix.ENODEV) || errors.Is(err, unix.EINVAL) {
		// No such device, or no clsact qdisc on it: no filter.
		return nil, nil
	}
	return nil, fmt.Errorf("list tc filters: %w", err)
}

// detach removes name's program, whichever the mode that put it there.
func (a *attacher) detach(name string) error {
	delete(a.tcChecked, name)
	var errs []error
	p := a.pin(name)
	if l, err := link.LoadPinnedLink(p, nil); err == nil {
		_ = l.Detach()
		errs = append(errs, l.Unpin())
		l.Close()
	} else if !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, os.Remove(p))
	}
	// The clsact qdisc stays: other filters may hang on it, and an empty
	// one costs nothing.
	if l, err := netlink.LinkByName(tcDevice(name)); err == nil {
		f, err := findTCFilter(l.Attrs().Index, tcPrioOf(name))
		if err == nil && f != nil {
			err = netlink.FilterDel(f)
		}
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("detach %s: %w", name, err)
	}
	return nil
}

// pinned lists the pin names of the devices running a program of bnet's:
// TCX links from their pins, tc filters from the kernel itself. A filter
// needs no pin to stay attached, and bpffs holds no plain files to mark
// one with; a marker elsewhere could outlive its filter (a device deleted
// takes its filters with it), the kernel's own list cannot.
func (a *attacher) pinned() ([]string, error) {
	ents, err := os.ReadDir(a.dir)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var names []string
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), ".") {
			names = append(names, e.Name())
			seen[e.Name()] = true
		}
	}
	tc, err := tcAttached()
	if err != nil {
		return nil, err
	}
	for _, n := range tc {
		if !seen[n] {
			names = append(names, n)
		}
	}
	return names, nil
}

// tcAttached lists the pin names of bnet's tc filters in this namespace.
// Only devices with a clsact qdisc are asked: one dump when there are none.
func tcAttached() ([]string, error) {
	qs, err := netlink.QdiscList(nil)
	if err != nil {
		return nil, fmt.Errorf("list qdiscs: %w", err)
	}
	var names []string
	for _, q := range qs {
		if q.Type() != "clsact" {
			continue
		}
		idx := q.Attrs().LinkIndex
		fs, err := listIngress(idx)
		if err != nil {
			return nil, err
		}
		var dev string
		for _, f := range fs {
			bf, ok := f.(*netlink.BpfFilter)
			if !ok || bf.Handle != tcHandle || bf.Name != tcName || (bf.Priority != tcPrio && bf.Priority != tcPrioUnderlay) {
				continue
			}
			if dev == "" {
				l, err := netlink.LinkByIndex(idx)
				if err != nil {
					break // gone meanwhile, with its filters
				}
				dev = l.Attrs().Name
			}
			if bf.Priority == tcPrioUnderlay {
				names = append(names, underlayPin(dev))
			} else {
				names = append(names, dev)
			}
		}
	}
	return names, nil
}
