package metadata

import (
	"errors"
	"testing"
)

func TestAlterClientQuotas(t *testing.T) {
	s := NewClusterState("c")
	alice, app := "alice", "app"
	res, err := s.Apply(1, &AlterClientQuotas{Alterations: []QuotaAlteration{
		{Entity: []QuotaEntity{{Type: QuotaClientID, Name: &app}, {Type: QuotaUser, Name: &alice}}, Set: map[string]float64{ProducerByteRate: 1024}},
		{Entity: []QuotaEntity{{Type: QuotaUser}}, Set: map[string]float64{ConsumerByteRate: 2048, RequestPercentage: 50}},
		{Entity: []QuotaEntity{{Type: QuotaIP}}, Set: map[string]float64{ProducerByteRate: 1}},
		{Entity: []QuotaEntity{{Type: QuotaUser, Name: &alice}}, Set: map[string]float64{ProducerByteRate: 1.5}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	errs := res.([]string)
	if errs[0] != "" || errs[1] != "" || errs[2] == "" || errs[3] == "" {
		t.Fatalf("results %q", errs)
	}
	if len(s.Quotas) != 2 || s.Quotas[0].Entity[0].Type != QuotaClientID || s.Quotas[0].Values[ProducerByteRate] != 1024 {
		t.Fatalf("quotas %+v", s.Quotas)
	}
	// The same entity in another order is the same entity; removing its last key drops it.
	s.Apply(2, &AlterClientQuotas{Alterations: []QuotaAlteration{
		{Entity: []QuotaEntity{{Type: QuotaUser, Name: &alice}, {Type: QuotaClientID, Name: &app}}, Remove: []string{ProducerByteRate}},
	}})
	if len(s.Quotas) != 1 || s.Quotas[0].Entity[0].Name != nil {
		t.Fatalf("quotas after removal %+v", s.Quotas)
	}
	if c := s.Clone(); len(c.Quotas) != 1 || c.Quotas[0].Values[ConsumerByteRate] != 2048 {
		t.Fatalf("clone %+v", c.Quotas)
	}
	empty := ""
	for _, a := range []QuotaAlteration{
		{},
		{Entity: []QuotaEntity{{Type: "group"}}},
		{Entity: []QuotaEntity{{Type: QuotaUser}, {Type: QuotaUser}}},
		{Entity: []QuotaEntity{{Type: QuotaUser, Name: &empty}}},
		{Entity: []QuotaEntity{{Type: QuotaUser}, {Type: QuotaIP}}},
		{Entity: []QuotaEntity{{Type: QuotaUser}}, Set: map[string]float64{"nope": 1}},
		{Entity: []QuotaEntity{{Type: QuotaUser}}, Set: map[string]float64{ProducerByteRate: -1}},
	} {
		if _, err := ValidateQuotaAlteration(a); !errors.Is(err, ErrInvalidQuota) {
			t.Errorf("%+v: %v", a, err)
		}
	}
}
