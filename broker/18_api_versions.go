package broker

import (
	"regexp"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/net/server"
)

// ApiVersions: versions 0-4. An unknown (newer) version gets a v0 answer with
// UNSUPPORTED_VERSION and the supported ranges, so the client can retry with one we know
// (KIP-511).
func init() {
	register(api{key: int16(kmsg.ApiVersions), min: 0, max: 4, handle: handleApiVersions})
}

// clientSoftware is KIP-511's rule for client software names and versions.
var clientSoftware = regexp.MustCompile(`^[a-zA-Z0-9](?:[a-zA-Z0-9\-.]*[a-zA-Z0-9])?$`)

func handleApiVersions(b *Broker, c *call) (kmsg.Response, error) {
	req := c.kreq.(*kmsg.ApiVersionsRequest)
	resp := apiVersionsResponse()
	if c.version() >= 3 && (!clientSoftware.MatchString(req.ClientSoftwareName) || !clientSoftware.MatchString(req.ClientSoftwareVersion)) {
		resp.ErrorCode = kerr.InvalidRequest.Code
	}
	return resp, nil
}

func apiVersionsResponse() *kmsg.ApiVersionsResponse {
	resp := kmsg.NewPtrApiVersionsResponse()
	for _, a := range apis {
		if a != nil && !a.internal {
			resp.ApiKeys = append(resp.ApiKeys, kmsg.ApiVersionsResponseApiKey{ApiKey: a.key, MinVersion: a.min, MaxVersion: a.max})
		}
	}
	return resp
}

// apiVersionsUnsupported answers an ApiVersions request of a version we do not know, in v0.
func (b *Broker) apiVersionsUnsupported(req *server.Request) *server.Response {
	resp := apiVersionsResponse()
	resp.ErrorCode = kerr.UnsupportedVersion.Code
	resp.SetVersion(0)
	out := server.NewResponse()
	bb := out.Buffer()
	c := req.CorrelationID
	bb.B = append(bb.B, byte(c>>24), byte(c>>16), byte(c>>8), byte(c))
	bb.B = resp.AppendTo(bb.B)
	return out
}
