package api

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bnet-dev/bnet/model"
)

func TestClientOverUnixSocket(t *testing.T) {
	e := newEnv(t)
	dir, err := os.MkdirTemp("", "bnetapi")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "run", "bnet.sock")
	// A stale socket file from a dead agent is replaced.
	os.MkdirAll(filepath.Dir(sock), 0o755)
	stale, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	stale.(*net.UnixListener).SetUnlinkOnClose(false)
	stale.Close()
	if _, err := os.Stat(sock); err != nil {
		t.Fatalf("stale socket not left: %v", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	srv := NewServer(e.st, e.b, slog.New(slog.NewTextHandler(io.Discard, nil)))
	done := make(chan error, 1)
	go func() { done <- srv.ServeUnix(ctx, sock) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("ServeUnix: %v", err)
		}
		if _, err := os.Stat(sock); !os.IsNotExist(err) {
			t.Errorf("socket left behind: %v", err)
		}
	})
	c := NewClient(sock)
	deadline := time.Now().Add(5 * time.Second)
	for {
		if err := c.Do(ctx, "GET", "/", nil, nil); err == nil {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("agent never answered: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if fi, err := os.Stat(sock); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket mode %v %v", fi.Mode(), err)
	}
	// A second server on the same live socket refuses.
	if err := NewServer(e.st, e.b, nil).ServeUnix(ctx, sock); err == nil || !strings.Contains(err.Error(), "another agent") {
		t.Fatalf("second ServeUnix: %v", err)
	}

	var out struct {
		Network model.Network `json:"network"`
	}
	in := map[string]any{"network": map[string]any{"name": "c", "provider:network_type": "local"}}
	if err := c.Do(ctx, "POST", "/v2.0/networks", in, &out); err != nil {
		t.Fatal(err)
	}
	if out.Network.Name != "c" || out.Network.NetworkType != "local" || out.Network.ID == "" {
		t.Fatalf("created %+v", out.Network)
	}

	err = c.Do(ctx, "GET", "/v2.0/networks/nope", nil, nil)
	var ae *Error
	if !errors.As(err, &ae) || ae.Status != 404 || ae.Type != "NetworkNotFound" || ae.Message != "Network nope could not be found." {
		t.Fatalf("error %#v", err)
	}
	if err.Error() != "Network nope could not be found. (NetworkNotFound, HTTP 404)" {
		t.Fatalf("error text %q", err.Error())
	}
	if pe := parseError(502, []byte("bad gateway\n")); pe.Type != "Bad Gateway" || pe.Message != "bad gateway" {
		t.Fatalf("non-Neutron error body: %#v", pe)
	}
}

func TestClientNoAgent(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "missing.sock")
	err := NewClient(sock).Do(context.Background(), "GET", "/v2.0/networks", nil, nil)
	if err == nil || !strings.Contains(err.Error(), "cannot reach bnet agent at "+sock) || !strings.Contains(err.Error(), "BNET_SOCKET") {
		t.Fatalf("error %v", err)
	}
}
