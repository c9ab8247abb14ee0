package broker

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/acl"
)

// DescribeCluster: versions 0-2. The live brokers and the active controller, from the
// cluster's metadata, with their addresses on the listener the client came in on. Only the brokers endpoint type (1) is served, as on Kafka's broker listeners;
// asking for controllers (2) is UNSUPPORTED_ENDPOINT_TYPE. No ACLs exist, so authorized
// operations are always "not provided" (INT32_MIN).
func init() {
	register(api{key: int16(kmsg.DescribeCluster), min: 0, max: 2, handle: handleDescribeCluster})
}

// endpointTypeBrokers is DescribeCluster's EndpointType for broker endpoints.
const endpointTypeBrokers = 1

func handleDescribeCluster(b *Broker, c *call) (kmsg.Response, error) {
	req := c.kreq.(*kmsg.DescribeClusterRequest)
	resp := req.ResponseKind().(*kmsg.DescribeClusterResponse)
	resp.EndpointType = req.EndpointType
	if c.version() >= 1 && req.EndpointType != endpointTypeBrokers {
		resp.ErrorCode = kerr.UnsupportedEndpointType.Code
		resp.ErrorMessage = kmsg.StringPtr("logd serves the brokers endpoint type (1) only")
		return resp, nil
	}
	resp.ClusterID = b.cluster.ClusterID()
	resp.ControllerID = b.cluster.ControllerID()
	for _, r := range b.cluster.Brokers() {
		host, port, ok := r.Endpoint(c.req.Listener)
		if !ok {
			continue // as Metadata: a broker without this client's listener is left out
		}
		br := kmsg.NewDescribeClusterResponseBroker()
		br.NodeID, br.Host, br.Port = r.ID, host, port
		if r.Rack != "" {
			br.Rack = kmsg.StringPtr(r.Rack)
		}
		resp.Brokers = append(resp.Brokers, br)
	}
	resp.ClusterAuthorizedOperations = b.authorizedOperations(c, req.IncludeClusterAuthorizedOperations, acl.ResourceCluster, acl.ClusterName)
	return resp, nil
}
