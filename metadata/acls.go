package metadata

import (
	"fmt"
	"slices"

	"github.com/logd/logd/acl"
)

// CreateACLs adds ACLs to the cluster (Kafka's AccessControlEntryRecord). An ACL already
// present is not added twice, as in Kafka. The broker validated each one; the state machine
// checks again and refuses the whole command if one is invalid, so none enters the state.
type CreateACLs struct {
	ACLs []acl.Binding `json:"acls"`
}

// DeleteACLs removes the ACLs each filter selects (Kafka's RemoveAccessControlEntryRecord).
// The result (a [][]acl.Binding) is what each filter removed; an ACL two filters select is
// reported by the first.
type DeleteACLs struct {
	Filters []acl.Filter `json:"filters"`
}

func (s *ClusterState) createACLs(c *CreateACLs) error {
	for _, b := range c.ACLs {
		if err := b.Validate(); err != nil {
			return err
		}
	}
	for _, b := range c.ACLs {
		if !slices.Contains(s.ACLs, b) {
			s.ACLs = append(s.ACLs, b)
		}
	}
	return nil
}

func (s *ClusterState) deleteACLs(c *DeleteACLs) ([][]acl.Binding, error) {
	for _, f := range c.Filters {
		if err := f.Validate(); err != nil {
			return nil, fmt.Errorf("delete ACLs: %w", err)
		}
	}
	out := make([][]acl.Binding, len(c.Filters))
	s.ACLs = slices.DeleteFunc(s.ACLs, func(b acl.Binding) bool {
		for i, f := range c.Filters {
			if f.Matches(b) {
				out[i] = append(out[i], b)
				return true
			}
		}
		return false
	})
	return out, nil
}
