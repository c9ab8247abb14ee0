package broker_test

import (
	"time"

	"github.com/logd/logd/broker"
	"github.com/logd/logd/cluster"
)

// The broker's own tests run every broker on the production path: a cluster.Node of one
// voter. This external test file may import the cluster package (which imports broker); the
// internal tests reach it through broker.StartNode.
func init() {
	broker.StartNode = func(cfg broker.Config) (*broker.Broker, func() error, error) {
		n, err := cluster.Start(cluster.Config{Broker: cfg})
		if err != nil {
			return nil, nil, err
		}
		select {
		case <-n.Ready():
		case <-time.After(10 * time.Second):
		}
		return n.Broker(), n.Close, nil
	}
}
