package metadata

import (
	"errors"
	"fmt"
)

// ErrInvalidFeatureLevel refuses a SetFeatureLevels with an empty name or a negative level.
var ErrInvalidFeatureLevel = errors.New("invalid feature level")

// # Finalized features (KIP-584)
//
// Kafka's finalized feature levels (transaction.version, …) are cluster-wide and live in the
// metadata log: UpdateFeatures changes them through the controller, ApiVersions advertises
// them. A feature at level 0 is not finalized and is left out, as Kafka leaves it out.
// FeaturesEpochMs is the controller's clock when the levels last changed: clients keep the
// finalized features with the highest epoch they have seen, so the epoch must only grow.

// SetFeatureLevels finalizes feature levels (UpdateFeatures): each named feature moves to
// its level, 0 removing it; others keep theirs. The broker has checked the levels against
// what it supports. AtMs is the controller's clock when proposed.
type SetFeatureLevels struct {
	Levels map[string]int16 `json:"levels"`
	AtMs   int64            `json:"at_ms"`
}

// FinalizedFeatures are the cluster's finalized feature levels and their epoch.
type FinalizedFeatures struct {
	Levels  map[string]int16 // read only: it may be shared with an immutable ClusterState
	EpochMs int64            // 0: never set through UpdateFeatures
}

// setFeatureLevels applies SetFeatureLevels.
func (s *ClusterState) setFeatureLevels(c *SetFeatureLevels) error {
	for name, level := range c.Levels {
		if name == "" || level < 0 {
			return fmt.Errorf("%w: feature %q level %d", ErrInvalidFeatureLevel, name, level)
		}
	}
	if s.Features == nil {
		s.Features = map[string]int16{}
	}
	for name, level := range c.Levels {
		if level == 0 {
			delete(s.Features, name)
		} else {
			s.Features[name] = level
		}
	}
	s.FeaturesEpochMs = max(s.FeaturesEpochMs+1, c.AtMs)
	return nil
}

// Finalized returns the finalized feature levels, sharing s's map: for a state no one
// changes any more (a published copy), as the cluster package's views are.
func (s *ClusterState) Finalized() FinalizedFeatures {
	return FinalizedFeatures{Levels: s.Features, EpochMs: s.FeaturesEpochMs}
}
