package broker

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/metadata"
)

// UpdateFeatures: versions 0-2 (KIP-584; v1 upgrade types and validate-only, KIP-778; v2
// answers with the top-level error only). `kafka-features upgrade/downgrade` send it;
// `kafka-features describe` reads the result from ApiVersions (18_api_versions.go).
//
// The finalized levels live in the metadata log (metadata.SetFeatureLevels through the active
// controller, cluster.Node.SetFeatureLevels), so every node advertises the same levels and
// they survive restarts. Until a cluster's first UpdateFeatures, a feature's level is the
// node's bootstrap setting (Config.TransactionVersion for transaction.version), as a Kafka
// cluster starts at the levels `kafka-storage format` wrote.
//
// Checks, Kafka's FeatureControlManager's: a feature this broker does not support, or a level
// outside its supported range, is INVALID_UPDATE_VERSION; so is a lower level without a
// downgrade type (v0: AllowDowngrade; v1+: UpgradeType 2 safe or 3 unsafe) and a higher one
// with a downgrade type. Level 0 removes the feature (a downgrade). A feature named twice is
// INVALID_REQUEST. The request is all or nothing: any failure applies none and is the
// top-level error, repeated for every feature in v0-1's Results (v2 has none). ValidateOnly
// checks without applying.
//
// The update waits for the controller, so it runs off the network workers (catalogController).
func init() {
	register(api{key: int16(kmsg.UpdateFeatures), min: 0, max: 2, handle: handleUpdateFeatures, catalog: catalogController})
}

// FeatureStore is a Cluster that keeps finalized feature levels (cluster.Node).
type FeatureStore interface {
	// FinalizedFeatures are the finalized levels in this node's copy of the metadata.
	FinalizedFeatures() metadata.FinalizedFeatures
	// SetFeatureLevels finalizes levels (0 removes a feature) through the controller.
	SetFeatureLevels(levels map[string]int16) error
}

// featureRange is the range of levels this broker implements of a feature.
type featureRange struct{ min, max int16 }

// supportedFeatures are the features this broker implements (ApiVersions' SupportedFeatures).
var supportedFeatures = map[string]featureRange{
	transactionVersionFeature: {0, maxTransactionVersion},
}

// Kafka's upgrade types (UpdateFeatures v1+).
const (
	upgradeOnly    = 1
	safeDowngrade  = 2
	unsafeDowngade = 3
)

// storedFeatures are the finalized features in the metadata (none without a FeatureStore).
func (b *Broker) storedFeatures() metadata.FinalizedFeatures {
	if fs, ok := b.cluster.(FeatureStore); ok {
		return fs.FinalizedFeatures()
	}
	return metadata.FinalizedFeatures{}
}

// featureLevel is the finalized level of a feature (0: not finalized): the stored one once
// the cluster has any, else the bootstrap one. It allocates nothing: every request's
// version check asks it (tv2).
func (b *Broker) featureLevel(name string) int16 {
	ff := b.storedFeatures()
	if ff.EpochMs == 0 && name == transactionVersionFeature {
		return b.cfg.TransactionVersion
	}
	return ff.Levels[name]
}

// finalizedFeatures returns the finalized level of each supported feature and their epoch,
// the later of the node's start and the last change, so it only grows.
func (b *Broker) finalizedFeatures() (map[string]int16, int64) {
	levels := map[string]int16{}
	for name := range supportedFeatures {
		levels[name] = b.featureLevel(name)
	}
	return levels, max(b.started.UnixMilli(), b.storedFeatures().EpochMs)
}

func handleUpdateFeatures(b *Broker, c *call) (kmsg.Response, error) {
	req := c.kreq.(*kmsg.UpdateFeaturesRequest)
	resp := req.ResponseKind().(*kmsg.UpdateFeaturesResponse)
	err := b.updateFeatures(req, c.version())
	code := errorCode(err)
	var msg *string
	if err != nil {
		m := err.Error()
		msg = &m
		resp.ErrorCode, resp.ErrorMessage = code, msg
	}
	if c.version() <= 1 {
		for _, u := range req.FeatureUpdates {
			r := kmsg.NewUpdateFeaturesResponseResult()
			r.Feature, r.ErrorCode, r.ErrorMessage = u.Feature, code, msg
			resp.Results = append(resp.Results, r)
		}
	}
	return resp, nil
}

// updateFeatures checks a request's updates and, unless it only validates, applies them.
func (b *Broker) updateFeatures(req *kmsg.UpdateFeaturesRequest, v int16) error {
	fs, ok := b.cluster.(FeatureStore)
	if !ok {
		return refuse(kerr.UnsupportedVersion, "this node's cluster keeps no finalized features")
	}
	current, _ := b.finalizedFeatures()
	levels := map[string]int16{}
	for _, u := range req.FeatureUpdates {
		if _, dup := levels[u.Feature]; dup {
			return refuse(kerr.InvalidRequest, "feature %s is updated twice in the request", u.Feature)
		}
		level := max(u.MaxVersionLevel, 0)
		levels[u.Feature] = level
		if err := checkFeatureUpdate(u, level, current[u.Feature], v); err != nil {
			return err
		}
	}
	if len(levels) == 0 || v >= 1 && req.ValidateOnly {
		return nil
	}
	return fs.SetFeatureLevels(levels)
}

// checkFeatureUpdate checks one update from level cur to level.
func checkFeatureUpdate(u kmsg.UpdateFeaturesRequestFeatureUpdate, level, cur, v int16) error {
	r, ok := supportedFeatures[u.Feature]
	if !ok {
		return refuse(kerr.InvalidUpdateVersion, "feature %s is not supported by this broker", u.Feature)
	}
	if level != 0 && (level < r.min || level > r.max) {
		return refuse(kerr.InvalidUpdateVersion, "feature %s level %d is outside the supported range %d-%d", u.Feature, level, r.min, r.max)
	}
	downgrade := u.AllowDowngrade
	if v >= 1 {
		switch u.UpgradeType {
		case upgradeOnly:
			downgrade = false
		case safeDowngrade, unsafeDowngade:
			downgrade = true
		default:
			return refuse(kerr.InvalidRequest, "feature %s: unknown upgrade type %d", u.Feature, u.UpgradeType)
		}
	}
	switch {
	case level < cur && !downgrade:
		return refuse(kerr.InvalidUpdateVersion, "feature %s: can't downgrade from level %d to %d without setting the upgrade type to safe or unsafe downgrade", u.Feature, cur, level)
	case level > cur && downgrade:
		return refuse(kerr.InvalidUpdateVersion, "feature %s: can't upgrade from level %d to %d with a downgrade upgrade type", u.Feature, cur, level)
	}
	return nil
}
