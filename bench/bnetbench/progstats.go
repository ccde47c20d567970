package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
)

// ProgStat is one program attached by an agent: found through the TCX
// links pinned in its pin dir, so other agents' copies on this machine
// (another test's cloud) are never counted.
type ProgStat struct {
	PinDir        string `json:"pin_dir"`
	ID            uint32 `json:"id"`
	Name          string `json:"name"`
	Links         int    `json:"links"`
	RunTimeNs     uint64 `json:"run_time_ns"`
	RunCnt        uint64 `json:"run_cnt"`
	XlatedInsns   int    `json:"xlated_insns"`
	JitedBytes    uint32 `json:"jited_bytes"`
	VerifiedInsns uint32 `json:"verified_insns"`
}

func progStats(args []string) (any, error) {
	if len(args) == 0 {
		return nil, errors.New("usage: progstats PIN_DIR...")
	}
	var out []ProgStat
	for _, dir := range args {
		ents, err := os.ReadDir(filepath.Join(dir, "links"))
		if err != nil {
			return nil, err
		}
		byID := map[ebpf.ProgramID]*ProgStat{}
		for _, e := range ents {
			l, err := link.LoadPinnedLink(filepath.Join(dir, "links", e.Name()), nil)
			if err != nil {
				fmt.Fprintf(os.Stderr, "progstats: link %s: %v\n", e.Name(), err)
				continue
			}
			info, err := l.Info()
			l.Close()
			if err != nil {
				fmt.Fprintf(os.Stderr, "progstats: link %s: %v\n", e.Name(), err)
				continue
			}
			if s, ok := byID[info.Program]; ok {
				s.Links++
				continue
			}
			s, err := progStat(info.Program)
			if err != nil {
				return nil, fmt.Errorf("%s: program %d: %w", e.Name(), info.Program, err)
			}
			s.PinDir = dir
			byID[info.Program] = s
		}
		for _, s := range byID {
			out = append(out, *s)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].PinDir != out[j].PinDir {
			return out[i].PinDir < out[j].PinDir
		}
		return out[i].Name < out[j].Name
	})
	return out, nil
}

func progStat(id ebpf.ProgramID) (*ProgStat, error) {
	p, err := ebpf.NewProgramFromID(id)
	if err != nil {
		return nil, err
	}
	defer p.Close()
	info, err := p.Info()
	if err != nil {
		return nil, err
	}
	st, err := p.Stats()
	if err != nil {
		return nil, err
	}
	s := &ProgStat{ID: uint32(id), Name: info.Name, Links: 1, RunTimeNs: uint64(st.Runtime.Nanoseconds()), RunCnt: st.RunCount}
	if n, err := info.TranslatedSize(); err == nil {
		s.XlatedInsns = n / 8
	}
	if n, err := info.JitedSize(); err == nil {
		s.JitedBytes = n
	}
	if n, ok := info.VerifiedInstructions(); ok {
		s.VerifiedInsns = n
	}
	return s, nil
}
