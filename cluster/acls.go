package cluster

import (
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/acl"
	"github.com/logd/logd/metadata"
)

// The cluster's ACLs: proposed by the controller, forwarded to it by other nodes (as Kafka's
// brokers forward CreateAcls and DeleteAcls). Every node's broker authorizes from the ACLs
// its view holds (refreshView hands them over); a change returns once this node's view
// has it (bounded, as waitView).

// CreateACLs implements broker.Cluster.
func (n *Node) CreateACLs(bindings []acl.Binding) error {
	err := n.onController(func(c *activeCtl) error {
		_, err := c.propose(&metadata.CreateACLs{ACLs: bindings})
		return err
	}, func() error { return n.forwardCreateACLs(bindings) })
	if err != nil {
		return err
	}
	n.waitView(func(v *view) bool {
		for _, b := range bindings {
			if !slices.Contains(v.st.ACLs, b) {
				return false
			}
		}
		return true
	})
	return nil
}

// DeleteACLs implements broker.Cluster.
func (n *Node) DeleteACLs(filters []acl.Filter) ([][]acl.Binding, error) {
	var deleted [][]acl.Binding
	err := n.onController(func(c *activeCtl) error {
		res, err := c.propose(&metadata.DeleteACLs{Filters: filters})
		if err == nil {
			deleted = res.([][]acl.Binding)
		}
		return err
	}, func() (err error) {
		deleted, err = n.forwardDeleteACLs(filters)
		return err
	})
	if err != nil {
		return nil, err
	}
	n.waitView(func(v *view) bool {
		for _, d := range deleted {
			for _, b := range d {
				if slices.Contains(v.st.ACLs, b) {
					return false
				}
			}
		}
		return true
	})
	return deleted, nil
}

func (n *Node) forwardCreateACLs(bindings []acl.Binding) error {
	req := kmsg.NewPtrCreateACLsRequest()
	req.SetVersion(3)
	for _, b := range bindings {
		req.Creations = append(req.Creations, b.Creation())
	}
	return n.forward(req, func(r kmsg.Response) (int16, *string) {
		for _, res := range r.(*kmsg.CreateACLsResponse).Results {
			if res.ErrorCode != 0 {
				return res.ErrorCode, res.ErrorMessage
			}
		}
		return 0, nil
	})
}

func (n *Node) forwardDeleteACLs(filters []acl.Filter) ([][]acl.Binding, error) {
	req := kmsg.NewPtrDeleteACLsRequest()
	req.SetVersion(3)
	for _, f := range filters {
		req.Filters = append(req.Filters, f.DeleteFilter())
	}
	var deleted [][]acl.Binding
	err := n.forward(req, func(r kmsg.Response) (int16, *string) {
		resp := r.(*kmsg.DeleteACLsResponse)
		if len(resp.Results) != len(filters) {
			return kerr.UnknownServerError.Code, nil
		}
		deleted = make([][]acl.Binding, len(filters))
		for i, res := range resp.Results {
			if res.ErrorCode != 0 {
				return res.ErrorCode, res.ErrorMessage
			}
			for j := range res.MatchingACLs {
				deleted[i] = append(deleted[i], acl.FromMatching(&res.MatchingACLs[j]))
			}
		}
		return 0, nil
	})
	return deleted, err
}
