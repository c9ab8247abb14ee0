package metadata

import "fmt"

// UnregisterBroker removes a broker's registration (Kafka's UnregisterBroker, the
// `kafka-cluster unregister` tool): as when it is fenced, it first leaves every ISR and its
// leaderships move to other eligible replicas. A broker still running registers again at its
// next heartbeat (its controller answers ErrUnknownBroker), as a Kafka broker does.
type UnregisterBroker struct {
	ID int32 `json:"id"`
}

// unregisterBroker applies UnregisterBroker.
func (s *ClusterState) unregisterBroker(c *UnregisterBroker) error {
	b, ok := s.Brokers[c.ID]
	if !ok {
		return fmt.Errorf("%w: broker %d is not registered", ErrUnknownBroker, c.ID)
	}
	b.Fenced = true
	s.leaveAll(c.ID)
	delete(s.Brokers, c.ID)
	return nil
}
