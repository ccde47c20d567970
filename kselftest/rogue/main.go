// Command rogue is a kselftest helper (kselftest/identity.sh): a node that
// holds the gossip key and a valid certificate, and lies. It announces the
// VTEP it is told to, whatever its certificate says, and writes records it
// has no right to — ports bound to another host — signed with its own key,
// without the ownership check an honest agent makes before writing. Every
// peer must refuse what is not its own.
//
//	rogue -node n3 -state DIR -bind IP:PORT -join IP:PORT -vtep IP \
//	      -ca ca.crt -cert n3.crt -key n3.key [-gossip-key FILE] [-after KIND/ID] < records
//
// records: one "KIND ID JSON" per line, written once the store holds
// -after (so that they are newer than what the cluster holds). It runs
// until SIGTERM or SIGINT.
package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/bnet-dev/bnet/gossip"
	"github.com/bnet-dev/bnet/identity"
	"github.com/bnet-dev/bnet/store"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "rogue:", err)
		os.Exit(1)
	}
}

func run() error {
	node := flag.String("node", "", "node name (the certificate's)")
	state := flag.String("state", "", "state dir")
	bind := flag.String("bind", "", "gossip IP:PORT")
	join := flag.String("join", "", "a member's IP:PORT")
	vtep := flag.String("vtep", "", "VTEP to announce in node meta (the lie, or not)")
	caFile := flag.String("ca", "", "cluster ca.crt")
	certFile := flag.String("cert", "", "node certificate")
	keyFile := flag.String("key", "", "node key")
	after := flag.String("after", "", "KIND/ID to hold before writing the records")
	keyFileG := flag.String("gossip-key", "", "gossip key file (gossip.key_file)")
	flag.Parse()

	type rec struct {
		kind, id string
		data     json.RawMessage
	}
	var recs []rec
	sc := bufio.NewScanner(os.Stdin)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		f := strings.SplitN(strings.TrimSpace(sc.Text()), " ", 3)
		if len(f) != 3 || !json.Valid([]byte(f[2])) {
			if len(f) > 1 {
				return fmt.Errorf("record line %q: want KIND ID JSON", sc.Text())
			}
			continue
		}
		recs = append(recs, rec{f[0], f[1], json.RawMessage(f[2])})
	}

	caPub, id, err := identity.Load(*caFile, *certFile, *keyFile)
	if err != nil {
		return err
	}
	var keys [][]byte
	if *keyFileG != "" {
		if keys, err = gossip.LoadKeys(*keyFileG); err != nil {
			return err
		}
	}
	st, err := store.Open(*state, *node)
	if err != nil {
		return err
	}
	defer st.Close()
	// No Authorize: the rogue writes whatever it likes.
	if err := st.SetSecurity(store.Security{CA: caPub, Self: id}); err != nil {
		return err
	}
	h := sha256.Sum256([]byte("bnet-dvr/" + *node)) // as agent/dvr.go derives it
	meta := gossip.Meta{V: 1, VTEP: *vtep, Roles: []string{"compute"}, DVRMAC: fmt.Sprintf("fa:16:3f:%02x:%02x:%02x", h[0], h[1], h[2])}
	// Signed with its valid key: the VTEP is the lie, not who it is.
	meta.Sig = id.SignMeta(meta.SigningBytes(*node))
	g, err := gossip.Start(gossip.Config{
		Node: *node, Bind: *bind, Join: []string{*join}, Store: st, Fast: true, Keys: keys, Meta: meta,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		return err
	}
	defer g.Shutdown()

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if kind, key, ok := strings.Cut(*after, "/"); ok {
		for {
			if _, held := st.Get(kind, key); held {
				break
			}
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	for _, r := range recs {
		if _, err := st.Put(r.kind, r.id, r.data); err != nil {
			return fmt.Errorf("write %s/%s: %w", r.kind, r.id, err)
		}
	}
	fmt.Println("rogue: records written")
	<-ctx.Done()
	return nil
}
