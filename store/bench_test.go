package store

import (
	"fmt"
	"testing"
)

// BenchmarkPut times one durable Put into a store already holding n
// records: what one API POST pays in the store. Run with -benchtime=1000x
// for the time of 1,000 sequential Puts.
func BenchmarkPut(b *testing.B) {
	for _, n := range []int{100, 10000} {
		b.Run(fmt.Sprintf("records=%d", n), func(b *testing.B) {
			s, err := Open(b.TempDir(), "n1")
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			objs := make([]Obj, n)
			for i := range objs {
				// About the size of a security group rule record.
				objs[i] = Obj{Kind: "rule", ID: fmt.Sprintf("r%06d", i), Obj: benchRule(i)}
			}
			if _, err := s.PutAll(objs); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := s.Put("rule", fmt.Sprintf("new%08d", i), benchRule(i)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func benchRule(i int) map[string]any {
	return map[string]any{
		"id": fmt.Sprintf("9b2c6d1e-0000-4000-8000-%012d", i), "security_group_id": "5f0c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b",
		"direction": "ingress", "ethertype": "IPv4", "protocol": "tcp",
		"port_range_min": 1000 + i%1000, "port_range_max": 1000 + i%1000, "remote_ip_prefix": "10.0.0.0/8",
	}
}
