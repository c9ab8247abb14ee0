package broker

import (
	"maps"
	"regexp"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/net/server"
)

// ApiVersions: versions 0-4. An unknown (newer) version gets a v0 answer with
// UNSUPPORTED_VERSION and the supported ranges, so the client can retry with one we know
// (KIP-511).
//
// Features (KIP-584, v3+): the supported range of each feature logd implements
// (supportedFeatures: transaction.version 0-2) and its finalized level from the metadata
// (57_update_features.go: what UpdateFeatures set, else the node's bootstrap level,
// Config.TransactionVersion), omitted at 0 as Kafka omits a feature at level 0. Clients take
// the finalized features of the highest FinalizedFeaturesEpoch they have seen: the later of
// the node's start and the last UpdateFeatures (the controller's clock), so a node restarted
// with another bootstrap level, or a cluster whose levels changed, wins over what its clients
// saw before. The APIs whose newest version is transaction version 2's (api.maxTV2: Produce
// v12-13, EndTxn v5, TxnOffsetCommit v5) are advertised and served up to it only at level 2.
func init() {
	register(api{key: int16(kmsg.ApiVersions), min: 0, max: 4, handle: handleApiVersions})
}

// clientSoftware is KIP-511's rule for client software names and versions.
var clientSoftware = regexp.MustCompile(`^[a-zA-Z0-9](?:[a-zA-Z0-9\-.]*[a-zA-Z0-9])?$`)

func handleApiVersions(b *Broker, c *call) (kmsg.Response, error) {
	req := c.kreq.(*kmsg.ApiVersionsRequest)
	resp := b.apiVersionsResponse()
	if c.version() >= 3 && (!clientSoftware.MatchString(req.ClientSoftwareName) || !clientSoftware.MatchString(req.ClientSoftwareVersion)) {
		resp.ErrorCode = kerr.InvalidRequest.Code
	} else if c.version() >= 3 {
		b.telemetry.SetSoftware(c.req.Session, req.ClientSoftwareName, req.ClientSoftwareVersion)
	}
	return resp, nil
}

// transactionVersionFeature is the feature that turns transaction version 2 on
// (TransactionVersion.FEATURE_NAME); maxTransactionVersion is the highest level served.
const (
	transactionVersionFeature = "transaction.version"
	maxTransactionVersion     = 2
)

func (b *Broker) apiVersionsResponse() *kmsg.ApiVersionsResponse {
	resp := kmsg.NewPtrApiVersionsResponse()
	for _, a := range apis {
		if a != nil && !a.internal {
			resp.ApiKeys = append(resp.ApiKeys, kmsg.ApiVersionsResponseApiKey{ApiKey: a.key, MinVersion: a.min, MaxVersion: b.maxVersion(a)})
		}
	}
	levels, epoch := b.finalizedFeatures()
	for _, name := range slices.Sorted(maps.Keys(supportedFeatures)) {
		r := supportedFeatures[name]
		sf := kmsg.NewApiVersionsResponseSupportedFeature()
		sf.Name, sf.MinVersion, sf.MaxVersion = name, r.min, r.max
		resp.SupportedFeatures = append(resp.SupportedFeatures, sf)
		if lvl := levels[name]; lvl > 0 {
			ff := kmsg.NewApiVersionsResponseFinalizedFeature()
			ff.Name, ff.MinVersionLevel, ff.MaxVersionLevel = name, lvl, lvl
			resp.FinalizedFeatures = append(resp.FinalizedFeatures, ff)
		}
	}
	resp.FinalizedFeaturesEpoch = epoch
	return resp
}

// tv2 reports whether transaction version 2 is finalized (KIP-890 part 2).
func (b *Broker) tv2() bool { return b.featureLevel(transactionVersionFeature) >= 2 }

// maxVersion is the highest version of a served and advertised.
func (b *Broker) maxVersion(a *api) int16 {
	if a.maxTV2 > 0 && b.tv2() {
		return a.maxTV2
	}
	return a.max
}

// apiVersionsUnsupported answers an ApiVersions request of a version we do not know, in v0,
// as Kafka does (KIP-511): UNSUPPORTED_VERSION with ApiVersions' own range only, so the
// client retries at the highest version we serve (and sends its software name then).
func (b *Broker) apiVersionsUnsupported(req *server.Request) *server.Response {
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.ErrorCode = kerr.UnsupportedVersion.Code
	if a := lookupAPI(int16(kmsg.ApiVersions)); a != nil {
		k := kmsg.NewApiVersionsResponseApiKey()
		k.ApiKey, k.MinVersion, k.MaxVersion = int16(kmsg.ApiVersions), a.min, b.maxVersion(a)
		resp.ApiKeys = append(resp.ApiKeys, k)
	}
	resp.SetVersion(0)
	out := server.NewResponse()
	bb := out.Buffer()
	c := req.CorrelationID
	bb.B = append(bb.B, byte(c>>24), byte(c>>16), byte(c>>8), byte(c))
	bb.B = resp.AppendTo(bb.B)
	return out
}
