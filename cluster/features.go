package cluster

import (
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/broker"
	"github.com/logd/logd/metadata"
)

// The broker finds these by type assertion: a signature drifting apart must not compile.
var (
	_ broker.FeatureStore       = (*Node)(nil)
	_ broker.QuorumDescriber    = (*Node)(nil)
	_ broker.BrokerUnregisterer = (*Node)(nil)
)

// FinalizedFeatures implements broker.FeatureStore: the finalized feature levels of this
// node's copy of the metadata (an immutable view: nothing is copied).
func (n *Node) FinalizedFeatures() metadata.FinalizedFeatures { return n.view.Load().st.Finalized() }

// SetFeatureLevels implements broker.FeatureStore: it finalizes levels through the active
// controller (UpdateFeatures forwarded to it when it is another node, as an unsafe downgrade
// so that it applies exactly what this broker checked) and waits until this node's copy of
// the metadata has them.
func (n *Node) SetFeatureLevels(levels map[string]int16) error {
	err := n.onController(func(c *activeCtl) error {
		_, err := c.propose(&metadata.SetFeatureLevels{Levels: levels, AtMs: time.Now().UnixMilli()})
		return err
	}, func() error {
		req := kmsg.NewPtrUpdateFeaturesRequest()
		req.SetVersion(1)
		for name, level := range levels {
			u := kmsg.NewUpdateFeaturesRequestFeatureUpdate()
			u.Feature, u.MaxVersionLevel, u.UpgradeType = name, level, 3
			req.FeatureUpdates = append(req.FeatureUpdates, u)
		}
		return n.forward(req, func(r kmsg.Response) (int16, *string) {
			resp := r.(*kmsg.UpdateFeaturesResponse)
			if resp.ErrorCode != 0 {
				return resp.ErrorCode, resp.ErrorMessage
			}
			for _, res := range resp.Results {
				if res.ErrorCode != 0 {
					return res.ErrorCode, res.ErrorMessage
				}
			}
			return 0, nil
		})
	})
	if err != nil {
		return err
	}
	n.waitView(func(v *view) bool {
		for name, level := range levels {
			if v.st.Features[name] != level {
				return false
			}
		}
		return true
	})
	return nil
}
