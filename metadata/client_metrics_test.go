package metadata

import (
	"errors"
	"testing"
)

func TestAlterClientMetrics(t *testing.T) {
	s := NewClusterState("c")
	entry, err := EncodeCommand(&AlterClientMetrics{Name: "prod", Configs: map[string]string{"metrics": "org.apache.kafka.", "interval.ms": "1000"}})
	if err != nil {
		t.Fatal(err)
	}
	cmd, err := DecodeCommand(entry)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Apply(1, cmd); err != nil {
		t.Fatal(err)
	}
	if got := s.ClientMetrics["prod"]; len(got) != 2 || got["interval.ms"] != "1000" {
		t.Fatalf("after the set: %v", s.ClientMetrics)
	}
	c := s.Clone()
	c.ClientMetrics["prod"]["interval.ms"] = "5"
	if s.ClientMetrics["prod"]["interval.ms"] != "1000" {
		t.Fatal("the clone shares the subscription's configs")
	}
	if _, err := s.Apply(2, &AlterClientMetrics{Name: "prod"}); err != nil || len(s.ClientMetrics) != 0 {
		t.Fatalf("after the delete: %v %v", s.ClientMetrics, err)
	}
	if _, err := s.Apply(3, &AlterClientMetrics{Configs: map[string]string{"metrics": "*"}}); !errors.Is(err, ErrInvalidClientMetricsResource) {
		t.Fatalf("a nameless subscription: %v", err)
	}
}
