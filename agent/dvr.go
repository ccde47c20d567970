package agent

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/bnet-dev/bnet/store"
)

// dvrMACPrefix is Neutron's default dvr_base_mac (fa:16:3f:00:00:00): DVR
// host MACs stand apart from port MACs (fa:16:3e) at a glance.
const dvrMACPrefix = "fa:16:3f"

const dvrMACFile = "dvr_mac"

// loadDVRMAC returns this node's DVR host MAC. The first start derives it
// from the node name and stores it, so it never changes under the node
// (Neutron keeps it in the dvr_host_macs table for the same reason).
func loadDVRMAC(stateDir, node string) (net.HardwareAddr, error) {
	b, err := os.ReadFile(filepath.Join(stateDir, dvrMACFile))
	if err == nil {
		mac, err := net.ParseMAC(strings.TrimSpace(string(b)))
		if err != nil || len(mac) != 6 {
			return nil, fmt.Errorf("%s: %q is not a MAC address", filepath.Join(stateDir, dvrMACFile), strings.TrimSpace(string(b)))
		}
		return mac, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("read dvr mac: %w", err)
	}
	mac := dvrMACFor(node)
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return nil, fmt.Errorf("state dir: %w", err)
	}
	if err := store.WriteFileAtomic(stateDir, dvrMACFile, []byte(mac.String()+"\n")); err != nil {
		return nil, fmt.Errorf("write dvr mac: %w", err)
	}
	return mac, nil
}

// dvrMACFor is the DVR host MAC node derives from its name, what its peers
// expect of it under node identities.
func dvrMACFor(node string) net.HardwareAddr {
	h := sha256.Sum256([]byte("bnet-dvr/" + node))
	mac, _ := net.ParseMAC(fmt.Sprintf("%s:%02x:%02x:%02x", dvrMACPrefix, h[0], h[1], h[2]))
	return mac
}
