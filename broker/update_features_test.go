package broker

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// finalizedTV returns the finalized transaction.version, the epoch and Produce's newest
// version from an ApiVersions answer.
func finalizedTV(t *testing.T, rc *rawConnDP) (level int16, epoch int64, produceMax int16) {
	t.Helper()
	req := kmsg.NewPtrApiVersionsRequest()
	req.Version, req.ClientSoftwareName, req.ClientSoftwareVersion = 3, "dp-test", "1"
	resp := rc.request(req).(*kmsg.ApiVersionsResponse)
	for _, f := range resp.FinalizedFeatures {
		if f.Name == "transaction.version" {
			level = f.MaxVersionLevel
		}
	}
	for _, k := range resp.ApiKeys {
		if k.ApiKey == int16(kmsg.Produce) {
			produceMax = k.MaxVersion
		}
	}
	return level, resp.FinalizedFeaturesEpoch, produceMax
}

// TestUpdateFeatures: transaction.version moves through UpdateFeatures with Kafka's checks,
// ApiVersions advertises the new level with a larger epoch (and Produce's versions follow
// it), and the level survives a restart: it lives in the metadata log.
func TestUpdateFeatures(t *testing.T) {
	tb := startBroker(t, nil)
	rc := dialDP(t, tb)
	update := func(v int16, validateOnly bool, ups ...kmsg.UpdateFeaturesRequestFeatureUpdate) *kmsg.UpdateFeaturesResponse {
		t.Helper()
		req := kmsg.NewPtrUpdateFeaturesRequest()
		req.Version, req.ValidateOnly, req.FeatureUpdates = v, validateOnly, ups
		return rc.request(req).(*kmsg.UpdateFeaturesResponse)
	}
	up := func(name string, level int16, typ int8) kmsg.UpdateFeaturesRequestFeatureUpdate {
		u := kmsg.NewUpdateFeaturesRequestFeatureUpdate()
		u.Feature, u.MaxVersionLevel, u.UpgradeType = name, level, typ
		return u
	}
	level, epoch0, pmax := finalizedTV(t, rc)
	if level != 2 || pmax != 13 {
		t.Fatalf("bootstrap: transaction.version %d, Produce max %d; want 2, 13", level, pmax)
	}
	for _, c := range []struct {
		what string
		v    int16
		ups  []kmsg.UpdateFeaturesRequestFeatureUpdate
		code int16
	}{
		{"downgrade as an upgrade", 1, []kmsg.UpdateFeaturesRequestFeatureUpdate{up("transaction.version", 1, upgradeOnly)}, kerr.InvalidUpdateVersion.Code},
		{"unknown feature", 1, []kmsg.UpdateFeaturesRequestFeatureUpdate{up("no.such.version", 1, upgradeOnly)}, kerr.InvalidUpdateVersion.Code},
		{"unsupported level", 2, []kmsg.UpdateFeaturesRequestFeatureUpdate{up("transaction.version", 3, upgradeOnly)}, kerr.InvalidUpdateVersion.Code},
		{"named twice", 1, []kmsg.UpdateFeaturesRequestFeatureUpdate{up("transaction.version", 1, safeDowngrade), up("transaction.version", 2, upgradeOnly)}, kerr.InvalidRequest.Code},
		{"unknown upgrade type", 1, []kmsg.UpdateFeaturesRequestFeatureUpdate{up("transaction.version", 1, 7)}, kerr.InvalidRequest.Code},
	} {
		r := update(c.v, false, c.ups...)
		if r.ErrorCode != c.code || r.ErrorMessage == nil {
			t.Errorf("%s: error %d %v, want %d with a message", c.what, r.ErrorCode, r.ErrorMessage, c.code)
		}
		if c.v <= 1 && (len(r.Results) != len(c.ups) || r.Results[0].ErrorCode != c.code) {
			t.Errorf("%s: v%d results %+v", c.what, c.v, r.Results)
		}
	}
	if r := update(1, true, up("transaction.version", 1, safeDowngrade)); r.ErrorCode != 0 {
		t.Fatalf("validate-only downgrade: %+v", r)
	}
	if level, _, _ := finalizedTV(t, rc); level != 2 {
		t.Fatalf("validate-only changed the level to %d", level)
	}
	if r := update(2, false, up("transaction.version", 1, safeDowngrade)); r.ErrorCode != 0 || len(r.Results) != 0 {
		t.Fatalf("downgrade to 1: %+v", r)
	}
	level, epoch1, pmax := finalizedTV(t, rc)
	if level != 1 || epoch1 <= epoch0 || pmax != 11 {
		t.Fatalf("after the downgrade: level %d epoch %d (before %d) Produce max %d; want 1, a larger epoch, 11", level, epoch1, epoch0, pmax)
	}
	tb.stop()
	tb.start(nil)
	rc = dialDP(t, tb)
	if level, epoch, _ := finalizedTV(t, rc); level != 1 || epoch < epoch1 {
		t.Fatalf("after a restart: level %d epoch %d; want 1 (persisted), epoch >= %d", level, epoch, epoch1)
	}
	if r := update(0, false, kmsg.UpdateFeaturesRequestFeatureUpdate{Feature: "transaction.version", MaxVersionLevel: 0, AllowDowngrade: true}); r.ErrorCode != 0 {
		t.Fatalf("v0 removal: %+v", r)
	}
	if level, _, pmax := finalizedTV(t, rc); level != 0 || pmax != 11 {
		t.Fatalf("after the removal: level %d Produce max %d", level, pmax)
	}
	if r := update(1, false, up("transaction.version", 2, upgradeOnly)); r.ErrorCode != 0 {
		t.Fatalf("upgrade to 2: %+v", r)
	}
	if level, _, pmax := finalizedTV(t, rc); level != 2 || pmax != 13 {
		t.Fatalf("after the upgrade: level %d Produce max %d", level, pmax)
	}
}
