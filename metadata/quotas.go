package metadata

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
)

// Client quotas (KIP-13, KIP-55, KIP-124, KIP-257): rates per user, client id or (user,
// client id), and connection rates per IP, as Kafka's ClientQuotaRecord keeps them.

// Quota entity types.
const (
	QuotaUser     = "user"
	QuotaClientID = "client-id"
	QuotaIP       = "ip"
)

// Quota keys, by Kafka's names (QuotaConfig).
const (
	ProducerByteRate       = "producer_byte_rate"
	ConsumerByteRate       = "consumer_byte_rate"
	RequestPercentage      = "request_percentage"
	ControllerMutationRate = "controller_mutation_rate"
	ConnectionCreationRate = "connection_creation_rate"
)

// ErrInvalidQuota is a quota alteration Kafka refuses (INVALID_REQUEST).
var ErrInvalidQuota = errors.New("invalid client quota")

// QuotaEntity is one part of a quota's entity: a type and a name, nil for the type's default
// (Kafka's <default>). Field names are part of the log format.
type QuotaEntity struct {
	Type string  `json:"type"`
	Name *string `json:"name,omitempty"`
}

// ClientQuota is the quotas set for one entity, its parts sorted by type.
type ClientQuota struct {
	Entity []QuotaEntity      `json:"entity"`
	Values map[string]float64 `json:"values"`
}

// QuotaAlteration changes one entity's quotas: Set puts values, Remove drops keys.
type QuotaAlteration struct {
	Entity []QuotaEntity      `json:"entity"`
	Set    map[string]float64 `json:"set,omitempty"`
	Remove []string           `json:"remove,omitempty"`
}

// AlterClientQuotas applies quota alterations (Kafka's AlterClientQuotas): each valid one
// applies, an invalid one (ValidateQuotaAlteration) changes nothing. The result (a []string)
// is each alteration's refusal, "" when it applied.
type AlterClientQuotas struct {
	Alterations []QuotaAlteration `json:"alterations"`
}

// longQuotaKeys must be whole numbers (Kafka declares them LONG).
var longQuotaKeys = []string{ProducerByteRate, ConsumerByteRate, ConnectionCreationRate}

// ValidateQuotaAlteration applies the checks of Kafka's ClientQuotaControlManager: a
// non-empty entity of user, client-id or ip parts, none twice, no empty name, ip alone; keys
// the entity type has (connection_creation_rate for ip, the others for users and client
// ids); byte rates whole numbers; no negative value. It returns the entity sorted by type.
func ValidateQuotaAlteration(a QuotaAlteration) ([]QuotaEntity, error) {
	if len(a.Entity) == 0 {
		return nil, fmt.Errorf("%w: invalid empty client quota entity", ErrInvalidQuota)
	}
	ent := slices.Clone(a.Entity)
	slices.SortFunc(ent, func(x, y QuotaEntity) int { return strings.Compare(x.Type, y.Type) })
	ip := false
	for i, e := range ent {
		switch e.Type {
		case QuotaUser, QuotaClientID:
		case QuotaIP:
			ip = true
		default:
			return nil, fmt.Errorf("%w: unhandled client quota entity type: %s", ErrInvalidQuota, e.Type)
		}
		if i > 0 && ent[i-1].Type == e.Type {
			return nil, fmt.Errorf("%w: invalid client quota entity, duplicate entity entry %s", ErrInvalidQuota, e.Type)
		}
		if e.Name != nil && *e.Name == "" {
			return nil, fmt.Errorf("%w: empty %s not supported", ErrInvalidQuota, e.Type)
		}
	}
	if ip && len(ent) > 1 {
		return nil, fmt.Errorf("%w: invalid quota entity combination, ip quotas cannot be combined with user or client-id", ErrInvalidQuota)
	}
	keys := slices.Concat(slices.Collect(maps.Keys(a.Set)), a.Remove)
	for _, k := range keys {
		switch k {
		case ProducerByteRate, ConsumerByteRate, RequestPercentage, ControllerMutationRate:
			if ip {
				return nil, fmt.Errorf("%w: %s is not a quota of ip entities", ErrInvalidQuota, k)
			}
		case ConnectionCreationRate:
			if !ip {
				return nil, fmt.Errorf("%w: %s is a quota of ip entities only", ErrInvalidQuota, k)
			}
		default:
			return nil, fmt.Errorf("%w: unknown quota key %s", ErrInvalidQuota, k)
		}
	}
	for k, v := range a.Set {
		if v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("%w: %s=%v must be a non-negative number", ErrInvalidQuota, k, v)
		}
		if slices.Contains(longQuotaKeys, k) && v != math.Trunc(v) {
			return nil, fmt.Errorf("%w: %s must be a whole number, not %v", ErrInvalidQuota, k, v)
		}
	}
	return ent, nil
}

// sameEntity reports whether two sorted entities are the same.
func sameEntity(a, b []QuotaEntity) bool {
	return slices.EqualFunc(a, b, func(x, y QuotaEntity) bool {
		return x.Type == y.Type && (x.Name == nil) == (y.Name == nil) && (x.Name == nil || *x.Name == *y.Name)
	})
}

func (s *ClusterState) alterClientQuotas(c *AlterClientQuotas) []string {
	out := make([]string, len(c.Alterations))
	for i, a := range c.Alterations {
		ent, err := ValidateQuotaAlteration(a)
		if err != nil {
			out[i] = err.Error()
			continue
		}
		at := slices.IndexFunc(s.Quotas, func(q ClientQuota) bool { return sameEntity(q.Entity, ent) })
		if at < 0 {
			s.Quotas = append(s.Quotas, ClientQuota{Entity: ent, Values: map[string]float64{}})
			at = len(s.Quotas) - 1
		}
		q := &s.Quotas[at]
		maps.Copy(q.Values, a.Set)
		for _, k := range a.Remove {
			delete(q.Values, k)
		}
		if len(q.Values) == 0 {
			s.Quotas = slices.Delete(s.Quotas, at, at+1)
		}
	}
	return out
}

func cloneQuotas(qs []ClientQuota) []ClientQuota {
	out := slices.Clone(qs)
	for i := range out {
		out[i].Values = maps.Clone(out[i].Values)
	}
	return out
}

// QuotaValues are the quotas set for an entity (its parts in any order), nil for none.
func (s *ClusterState) QuotaValues(entity []QuotaEntity) map[string]float64 {
	ent := slices.Clone(entity)
	slices.SortFunc(ent, func(x, y QuotaEntity) int { return strings.Compare(x.Type, y.Type) })
	for _, q := range s.Quotas {
		if sameEntity(q.Entity, ent) {
			return q.Values
		}
	}
	return nil
}
