package agent

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
)

// attacher keeps one pinned TCX ingress link per device. Links are pinned so
// that programs stay attached while the agent is down (traffic keeps flowing
// through a restart); a restarted agent swaps the program inside the existing
// link (link.Update), which never leaves the device without a program.
type attacher struct {
	dir string // <pin_dir>/links
	// keep leaves a link that already runs some program on its device as
	// it is: set from start until the new maps are programmed, so that the
	// previous agent's programs, consistent with the maps they were loaded
	// against (an upgrade may have migrated some), carry the traffic until
	// then.
	keep bool
}

func newAttacher(pinDir string) (*attacher, error) {
	dir := filepath.Join(pinDir, "links")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("links pin dir: %w", err)
	}
	return &attacher{dir: dir}, nil
}

func (a *attacher) pin(ifname string) string { return filepath.Join(a.dir, ifname) }

// attach makes prog the program on ifname's TCX ingress, reusing a pinned
// link when it still belongs to this very device.
func (a *attacher) attach(ifname string, ifindex int, prog *ebpf.Program) error {
	p := a.pin(ifname)
	if l, err := link.LoadPinnedLink(p, nil); err == nil {
		defer l.Close()
		if info, err := l.Info(); err == nil && info.TCX() != nil && int(info.TCX().Ifindex) == ifindex {
			if a.keep {
				return nil
			}
			if err := l.Update(prog); err != nil {
				return fmt.Errorf("update program on %s: %w", ifname, err)
			}
			return nil
		}
		// A pin left by a device of the same name that is gone (or moved):
		// drop it and attach afresh.
		_ = l.Unpin()
	} else if !errors.Is(err, os.ErrNotExist) {
		_ = os.Remove(p)
	}
	l, err := link.AttachTCX(link.TCXOptions{Interface: ifindex, Program: prog, Attach: ebpf.AttachTCXIngress})
	if err != nil {
		return fmt.Errorf("attach tcx ingress %s: %w", ifname, err)
	}
	defer l.Close()
	if err := l.Pin(p); err != nil {
		_ = l.Detach()
		return fmt.Errorf("pin link of %s: %w", ifname, err)
	}
	return nil
}

// detach removes ifname's program and pin, if any.
func (a *attacher) detach(ifname string) error {
	p := a.pin(ifname)
	l, err := link.LoadPinnedLink(p, nil)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return os.Remove(p)
	}
	defer l.Close()
	_ = l.Detach()
	return l.Unpin()
}

// pinned lists the device names that have a pinned link.
func (a *attacher) pinned() ([]string, error) {
	ents, err := os.ReadDir(a.dir)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), ".") {
			names = append(names, e.Name())
		}
	}
	return names, nil
}
