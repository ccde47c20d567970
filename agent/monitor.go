package agent

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/bnet-dev/bnet/api"
	"github.com/bnet-dev/bnet/maps"
)

// monitorHub fans the datapath's drop events (one ring buffer, one reader:
// the agent) out to every `bnet monitor`. The datapath writes events only
// while at least one is subscribed.
type monitorHub struct {
	mu   sync.Mutex
	subs map[chan api.MonitorEvent]struct{}
}

// monitorBuffer is how many events a slow monitor may lag before it misses
// some: the datapath never waits for a reader.
const monitorBuffer = 1024

// Monitor subscribes to datapath events until ctx ends (api.Monitor).
func (a *Agent) Monitor(ctx context.Context) (<-chan api.MonitorEvent, error) {
	h := &a.hub
	ch := make(chan api.MonitorEvent, monitorBuffer)
	h.mu.Lock()
	if h.subs == nil {
		h.subs = map[chan api.MonitorEvent]struct{}{}
	}
	h.subs[ch] = struct{}{}
	first := len(h.subs) == 1
	h.mu.Unlock()
	if first {
		if err := a.maps.SetMonitor(true); err != nil {
			a.unsubscribe(ch)
			return nil, err
		}
	}
	go func() {
		<-ctx.Done()
		a.unsubscribe(ch)
	}()
	return ch, nil
}

func (a *Agent) unsubscribe(ch chan api.MonitorEvent) {
	h := &a.hub
	h.mu.Lock()
	delete(h.subs, ch)
	close(ch)
	last := len(h.subs) == 0
	h.mu.Unlock()
	if last {
		if err := a.maps.SetMonitor(false); err != nil {
			a.log.Warn("monitor off", "err", err)
		}
	}
}

// readDrops reads drop_events until ctx ends and hands each to the
// subscribers; one that is full misses it.
func (a *Agent) readDrops(ctx context.Context) {
	rd, err := a.maps.NewDropReader()
	if err != nil {
		a.log.Warn("drop monitor", "err", err)
		return
	}
	go func() {
		<-ctx.Done()
		rd.Close()
	}()
	for {
		e, err := rd.Read()
		if errors.Is(err, maps.ErrClosed) {
			return
		}
		if err != nil {
			a.log.Warn("drop monitor", "err", err)
			continue
		}
		ev := a.describeDrop(e)
		a.hub.mu.Lock()
		for ch := range a.hub.subs {
			select {
			case ch <- ev:
			default:
			}
		}
		a.hub.mu.Unlock()
	}
}

// describeDrop turns an event's first bytes into addresses.
func (a *Agent) describeDrop(e maps.DropEvent) api.MonitorEvent {
	ev := api.MonitorEvent{Time: time.Now().UTC().Format(time.RFC3339Nano), Type: "drop", Reason: e.Reason,
		Ifindex: e.Ifindex, Port: a.portIDs()[e.Ifindex], Len: e.Len}
	d := e.Data
	if len(d) < 14 {
		return ev
	}
	ev.DstMAC, ev.SrcMAC = net.HardwareAddr(d[0:6]).String(), net.HardwareAddr(d[6:12]).String()
	l3 := d[14:]
	switch typ := binary.BigEndian.Uint16(d[12:14]); typ {
	case 0x0806:
		ev.Proto = "arp"
		if len(l3) >= 28 {
			ev.Src = netip.AddrFrom4([4]byte(l3[14:18])).String()
			ev.Dst = netip.AddrFrom4([4]byte(l3[24:28])).String()
		}
	case 0x0800:
		ev.Proto = "ipv4"
		if len(l3) < 20 {
			return ev
		}
		src, dst := netip.AddrFrom4([4]byte(l3[12:16])), netip.AddrFrom4([4]byte(l3[16:20]))
		ev.Src, ev.Dst = src.String(), dst.String()
		ihl := int(l3[0]&0x0f) * 4
		switch p := l3[9]; p {
		case 6, 17:
			ev.Proto = map[byte]string{6: "ipv4/tcp", 17: "ipv4/udp"}[p]
			if len(l3) >= ihl+4 {
				ev.Src = netip.AddrPortFrom(src, binary.BigEndian.Uint16(l3[ihl:])).String()
				ev.Dst = netip.AddrPortFrom(dst, binary.BigEndian.Uint16(l3[ihl+2:])).String()
			}
		case 1:
			ev.Proto = "ipv4/icmp"
		default:
			ev.Proto = fmt.Sprintf("ipv4/%d", p)
		}
	case 0x86dd:
		ev.Proto = "ipv6"
		if len(l3) >= 40 {
			ev.Src = netip.AddrFrom16([16]byte(l3[8:24])).String()
			ev.Dst = netip.AddrFrom16([16]byte(l3[24:40])).String()
		}
	default:
		ev.Proto = fmt.Sprintf("0x%04x", typ)
	}
	return ev
}
