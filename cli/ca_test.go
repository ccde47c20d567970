package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bnet-dev/bnet/identity"
)

func TestCAInitAndIssue(t *testing.T) {
	dir := t.TempDir()
	ca, out := filepath.Join(dir, "ca"), filepath.Join(dir, "nodes")
	got := mustRun(t, "ca", "init", "--dir", ca)
	if !strings.Contains(got, filepath.Join(ca, "ca.key")) || !strings.Contains(got, filepath.Join(ca, "ca.crt")) {
		t.Fatalf("ca init says %q", got)
	}
	if _, errOut, code := run(t, "ca", "init", "--dir", ca); code == 0 || !strings.Contains(errOut, "exists") {
		t.Fatalf("ca init over an existing CA: exit %d, %q", code, errOut)
	}
	got = mustRun(t, "ca", "issue", "cmpt1", "--vtep", "192.168.120.21", "--dir", ca, "--out", out)
	if !strings.Contains(got, filepath.Join(out, "cmpt1.crt")) {
		t.Fatalf("ca issue says %q", got)
	}
	_, id, err := identity.Load(filepath.Join(ca, "ca.crt"), filepath.Join(out, "cmpt1.crt"), filepath.Join(out, "cmpt1.key"))
	if err != nil {
		t.Fatal(err)
	}
	if id.Cert.Node != "cmpt1" || id.Cert.VTEP != "192.168.120.21" {
		t.Fatalf("issued %+v", id.Cert)
	}
	if fi, err := os.Stat(filepath.Join(out, "cmpt1.key")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("node key mode %v %v", fi.Mode(), err)
	}

	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"ca", "issue", "cmpt1", "--vtep", "192.168.120.21", "--dir", ca, "--out", out}, "exists"},
		{[]string{"ca", "issue", "bad name", "--vtep", "10.0.0.1", "--dir", ca, "--out", out}, "not a valid node name"},
		{[]string{"ca", "issue", "cmpt2", "--dir", ca, "--out", out}, "--vtep is required"},
		{[]string{"ca", "issue", "cmpt2", "--vtep", "fd00::1", "--dir", ca, "--out", out}, "not a unicast IPv4"},
		{[]string{"ca", "issue", "cmpt2", "--vtep", "224.0.0.5", "--dir", ca, "--out", out}, "not a unicast IPv4"},
		{[]string{"ca", "issue", "cmpt2", "--vtep", "10.0.0.2", "--dir", filepath.Join(dir, "nope"), "--out", out}, "load CA"},
		{[]string{"ca", "issue", "--vtep", "10.0.0.2", "--dir", ca}, "missing NODE"},
		{[]string{"ca", "init", "extra", "--dir", ca}, "unexpected argument"},
	} {
		_, errOut, code := run(t, c.args...)
		if code == 0 || !strings.Contains(errOut, c.want) || strings.Count(errOut, "\n") != 1 {
			t.Errorf("bnet %v: exit %d, stderr %q, want one line with %q", c.args, code, errOut, c.want)
		}
	}
}
