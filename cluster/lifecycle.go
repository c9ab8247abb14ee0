package cluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/broker"
	"github.com/logd/logd/internal/kwire"
	"github.com/logd/logd/metadata"
)

// requestTimeout bounds one request to the controller (its proposals take up to
// metadata.ProposeTimeout).
const requestTimeout = metadata.ProposeTimeout + time.Second

// errNoController: the quorum has no leader right now, or its broker has not registered, or
// it is this node, whose term as controller is starting (a node never sends itself a
// request: it would wait on its own locks).
var errNoController = errors.New("no active controller reachable yet")

// errControllerHere: this node became the active controller while a change waited to be
// sent to one (onController then runs the change here).
var errControllerHere = errors.New("this node is now the active controller")

// controllerConn is a connection to the active controller's Kafka listener.
type controllerConn struct {
	addr string
	c    *kwire.Conn
}

func (c *controllerConn) close() { c.c.Close() }

// controllerAddr is the active controller's Kafka address, from its broker registration.
func (n *Node) controllerAddr() (string, error) {
	id := n.q.Controller()
	if id < 0 {
		return "", errNoController
	}
	if id == n.id {
		return "", fmt.Errorf("%w: this node's term is starting", errNoController)
	}
	b, ok := n.view.Load().st.Brokers[id]
	if !ok {
		return "", fmt.Errorf("%w: controller %d has not registered its broker", errNoController, id)
	}
	return net.JoinHostPort(b.Host, strconv.Itoa(int(b.Port))), nil
}

// send sends req to the active controller over *slot, dialing when the controller moved or
// the connection broke. One attempt; the caller retries.
func (n *Node) send(ctx context.Context, slot **controllerConn, req kmsg.Request) (kmsg.Response, error) {
	addr, err := n.controllerAddr()
	if err != nil {
		return nil, err
	}
	if c := *slot; c != nil && (c.addr != addr || c.c.Err() != nil) {
		c.close()
		*slot = nil
	}
	if *slot == nil {
		c, err := kwire.Dial(ctx, addr, kwire.Options{ClientID: fmt.Sprintf("logd-broker-%d", n.id), Security: n.cfg.Broker.InterBroker})
		if err != nil {
			return nil, fmt.Errorf("controller at %s: %w", addr, err)
		}
		*slot = &controllerConn{addr: addr, c: c}
	}
	resp, err := (*slot).c.Request(ctx, req)
	if err != nil {
		(*slot).close()
		*slot = nil
	}
	return resp, err
}

// forward sends a change to the active controller on the node's shared connection, retrying
// while the controller moves (NOT_CONTROLLER, no connection) for a few seconds; it returns
// errControllerHere if the controller moves to this node.
func (n *Node) forward(req kmsg.Request, code func(kmsg.Response) (int16, *string)) error {
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	for {
		if _, err := n.ActiveController(); err == nil {
			return errControllerHere
		}
		n.mu.Lock()
		resp, err := n.send(ctx, &n.rpc, req)
		n.mu.Unlock()
		if err == nil {
			c, msg := code(resp)
			err = codeErr(c, msg)
			if !errors.Is(err, metadata.ErrNotController) {
				return err
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: %v", metadata.ErrNotController, err)
		case <-n.stop:
			return err
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// codeErr turns the controller's answer back into the errors the broker's callers test for.
func codeErr(code int16, msg *string) error {
	if code == 0 {
		return nil
	}
	ke, ok := kerr.ErrorForCode(code).(*kerr.Error)
	if !ok {
		return kerr.ErrorForCode(code)
	}
	text := ke.Message
	if msg != nil && *msg != "" {
		text = *msg
	}
	switch {
	case errors.Is(ke, kerr.TopicAlreadyExists):
		return fmt.Errorf("%w: %s", metadata.ErrTopicExists, text)
	case errors.Is(ke, kerr.UnknownTopicOrPartition):
		return fmt.Errorf("%w: %s", metadata.ErrUnknownTopic, text)
	case errors.Is(ke, kerr.NotController):
		return fmt.Errorf("%w: %s", metadata.ErrNotController, text)
	case errors.Is(ke, kerr.FencedLeaderEpoch):
		return fmt.Errorf("%w: %s", metadata.ErrFencedLeaderEpoch, text)
	case errors.Is(ke, kerr.NotLeaderForPartition):
		return fmt.Errorf("%w: %s", metadata.ErrNotLeader, text)
	case errors.Is(ke, kerr.StaleBrokerEpoch):
		return fmt.Errorf("%w: %s", metadata.ErrStaleBrokerEpoch, text)
	case errors.Is(ke, kerr.BrokerIDNotRegistered):
		return fmt.Errorf("%w: %s", metadata.ErrUnknownBroker, text)
	}
	if text != ke.Message {
		return fmt.Errorf("%w: %s", ke, text)
	}
	return ke
}

func (n *Node) forwardCreateTopic(spec broker.TopicSpec) error {
	req := kmsg.NewPtrCreateTopicsRequest()
	req.SetVersion(5)
	req.TimeoutMillis = int32(metadata.ProposeTimeout / time.Millisecond)
	t := kmsg.NewCreateTopicsRequestTopic()
	t.Topic, t.NumPartitions, t.ReplicationFactor = spec.Name, spec.Partitions, spec.ReplicationFactor
	if spec.Assignment != nil {
		t.NumPartitions, t.ReplicationFactor = -1, -1
		for p, replicas := range spec.Assignment {
			a := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
			a.Partition, a.Replicas = int32(p), replicas
			t.ReplicaAssignment = append(t.ReplicaAssignment, a)
		}
	}
	for k, v := range spec.Configs {
		c := kmsg.NewCreateTopicsRequestTopicConfig()
		c.Name, c.Value = k, kmsg.StringPtr(v)
		t.Configs = append(t.Configs, c)
	}
	req.Topics = append(req.Topics, t)
	return n.forward(req, func(r kmsg.Response) (int16, *string) {
		resp := r.(*kmsg.CreateTopicsResponse)
		if len(resp.Topics) != 1 {
			return kerr.UnknownServerError.Code, nil
		}
		return resp.Topics[0].ErrorCode, resp.Topics[0].ErrorMessage
	})
}

func (n *Node) forwardDeleteTopic(name string) error {
	req := kmsg.NewPtrDeleteTopicsRequest()
	req.SetVersion(5)
	req.TimeoutMillis = int32(metadata.ProposeTimeout / time.Millisecond)
	req.TopicNames = []string{name}
	return n.forward(req, func(r kmsg.Response) (int16, *string) {
		resp := r.(*kmsg.DeleteTopicsResponse)
		if len(resp.Topics) != 1 {
			return kerr.UnknownServerError.Code, nil
		}
		return resp.Topics[0].ErrorCode, resp.Topics[0].ErrorMessage
	})
}

func (n *Node) forwardCreatePartitions(name string, total int32, assignment [][]int32) error {
	req := kmsg.NewPtrCreatePartitionsRequest()
	req.SetVersion(2)
	req.TimeoutMillis = int32(metadata.ProposeTimeout / time.Millisecond)
	t := kmsg.NewCreatePartitionsRequestTopic()
	t.Topic, t.Count = name, total
	for _, replicas := range assignment {
		a := kmsg.NewCreatePartitionsRequestTopicAssignment()
		a.Replicas = replicas
		t.Assignment = append(t.Assignment, a)
	}
	req.Topics = append(req.Topics, t)
	return n.forward(req, func(r kmsg.Response) (int16, *string) {
		resp := r.(*kmsg.CreatePartitionsResponse)
		if len(resp.Topics) != 1 {
			return kerr.UnknownServerError.Code, nil
		}
		return resp.Topics[0].ErrorCode, resp.Topics[0].ErrorMessage
	})
}

// forwardAlterConfigs sends the controller a resource's whole config set (a TOPIC's
// overrides, a BROKER resource's dynamic configs).
func (n *Node) forwardAlterConfigs(typ kmsg.ConfigResourceType, name string, configs map[string]string) error {
	req := kmsg.NewPtrAlterConfigsRequest()
	req.SetVersion(1)
	r := kmsg.NewAlterConfigsRequestResource()
	r.ResourceType, r.ResourceName = typ, name
	for k, v := range configs {
		c := kmsg.NewAlterConfigsRequestResourceConfig()
		c.Name, c.Value = k, kmsg.StringPtr(v)
		r.Configs = append(r.Configs, c)
	}
	req.Resources = append(req.Resources, r)
	return n.forward(req, func(r kmsg.Response) (int16, *string) {
		resp := r.(*kmsg.AlterConfigsResponse)
		if len(resp.Resources) != 1 {
			return kerr.UnknownServerError.Code, nil
		}
		return resp.Resources[0].ErrorCode, resp.Resources[0].ErrorMessage
	})
}

func (n *Node) forwardAllocateProducerIDs(epoch int64) (int64, error) {
	req := kmsg.NewPtrAllocateProducerIDsRequest()
	req.BrokerID, req.BrokerEpoch = n.id, epoch
	first := int64(-1)
	err := n.forward(req, func(r kmsg.Response) (int16, *string) {
		resp := r.(*kmsg.AllocateProducerIDsResponse)
		first = resp.ProducerIDStart
		return resp.ErrorCode, nil
	})
	return first, err
}

func (n *Node) forwardAlterPartition(ctx context.Context, a metadata.AlterPartition) (*metadata.PartitionAssignment, error) {
	req := kmsg.NewPtrAlterPartitionRequest()
	req.SetVersion(1)
	req.BrokerID, req.BrokerEpoch = a.BrokerID, a.BrokerEpoch
	rt := kmsg.NewAlterPartitionRequestTopic()
	rt.Topic = a.Topic
	rp := kmsg.NewAlterPartitionRequestTopicPartition()
	rp.Partition, rp.LeaderEpoch, rp.PartitionEpoch, rp.NewISR = a.Partition, a.LeaderEpoch, a.PartitionEpoch, a.ISR
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	var pa *metadata.PartitionAssignment
	err := n.forward(req, func(r kmsg.Response) (int16, *string) {
		resp := r.(*kmsg.AlterPartitionResponse)
		if resp.ErrorCode != 0 {
			return resp.ErrorCode, nil
		}
		if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
			return kerr.UnknownServerError.Code, nil
		}
		p := resp.Topics[0].Partitions[0]
		if p.ErrorCode == 0 {
			pa = &metadata.PartitionAssignment{Leader: p.LeaderID, LeaderEpoch: p.LeaderEpoch, PartitionEpoch: p.PartitionEpoch, ISR: p.ISR}
			if cur, ok := n.Partition(a.Topic, a.Partition); ok {
				pa.Replicas = cur.Replicas
			}
		}
		return p.ErrorCode, nil
	})
	return pa, err
}

// runLifecycle registers this broker with the active controller and heartbeats every
// HeartbeatInterval until the node stops; it registers again when the controller forgot it
// (a new incarnation, a stale epoch).
func (n *Node) runLifecycle() {
	defer n.wg.Done()
	var conn *controllerConn
	defer func() {
		if conn != nil {
			conn.close()
		}
	}()
	t := time.NewTicker(n.cfg.HeartbeatInterval)
	defer t.Stop()
	fenced := true
	var refused string // the last authentication failure logged, to log each once
	for first := true; ; first = false {
		if !first {
			select {
			case <-n.stop:
				return
			case <-t.C:
			case <-n.lifeKick:
			}
		}
		if n.reg.Load() == nil {
			if err := n.register(&conn); err != nil {
				if errors.Is(err, kwire.ErrAuthentication) && err.Error() != refused {
					refused = err.Error()
					n.log.Error("cannot register with the controller: the inter-broker listener refused this broker (check sasl.mechanism.inter.broker.protocol, the listener's sasl.jaas.config username and password, and the ssl stores)", "err", err)
				} else {
					n.log.Debug("broker registration pending", "err", err)
				}
				continue
			}
			// Heartbeat at once: the first one unfences this broker (it has applied its
			// registration), rather than a heartbeat interval later.
		}
		res, err := n.heartbeat(&conn, false)
		switch {
		case errors.Is(err, metadata.ErrStaleBrokerEpoch) || errors.Is(err, metadata.ErrUnknownBroker):
			n.log.Warn("the controller no longer knows this broker's registration; registering again", "err", err)
			n.reg.Store(nil)
		case err != nil:
			n.log.Debug("heartbeat failed", "err", err)
		case res.Fenced != fenced:
			fenced = res.Fenced
			if fenced {
				n.log.Warn("this broker is fenced: it leads nothing and is in no ISR until it catches up")
			} else {
				n.log.Info("this broker is unfenced")
			}
		}
	}
}

// register registers this broker with the active controller.
func (n *Node) register(conn **controllerConn) error {
	if n.q.IsController() {
		// The first controller names the cluster as it takes over: wait for that.
		n.waitView(func(v *view) bool { return v.st.ClusterID != "" })
	}
	clusterID := n.ClusterID()
	if clusterID == "" {
		return errors.New("the cluster has no id yet")
	}
	if err := n.b.Engine().SetClusterID(clusterID); err != nil {
		n.log.Error("log directories taken offline: their meta.properties cannot take this cluster's id", "err", err)
	}
	bc := n.cfg.Broker
	online, _ := n.logDirIDs()
	r := metadata.RegisterBroker{ID: n.id, Incarnation: metadata.TopicID(n.incarn).String(), Host: bc.AdvertisedHost, Port: bc.AdvertisedPort,
		Listeners: bc.Listeners, LogDirs: online}
	var epoch int64
	if c, err := n.ActiveController(); err == nil {
		reg, err := c.RegisterBroker(r)
		if err != nil {
			return err
		}
		epoch = reg.Epoch
	} else {
		req := kmsg.NewPtrBrokerRegistrationRequest()
		req.SetVersion(2) // LogDirs (KIP-858)
		req.BrokerID, req.ClusterID, req.IncarnationID = n.id, clusterID, n.incarn
		for _, d := range online {
			req.LogDirs = append(req.LogDirs, d)
		}
		// The inter-broker listener goes first: the controller registers its address as the
		// one brokers dial (broker.handleBrokerRegistration).
		l := kmsg.NewBrokerRegistrationRequestListener()
		l.Name, l.Host, l.Port = "PLAINTEXT", bc.AdvertisedHost, uint16(bc.AdvertisedPort)
		if len(bc.Listeners) == 0 {
			req.Listeners = append(req.Listeners, l)
		}
		for _, e := range bc.Listeners {
			l.Name, l.Host, l.Port, l.SecurityProtocol = e.Name, e.Host, uint16(e.Port), metadata.SecurityProtocolID(e.Protocol)
			req.Listeners = append(req.Listeners, l)
		}
		ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
		defer cancel()
		resp, err := n.send(ctx, conn, req)
		if err != nil {
			return err
		}
		rr := resp.(*kmsg.BrokerRegistrationResponse)
		if err := codeErr(rr.ErrorCode, nil); err != nil {
			return err
		}
		epoch = rr.BrokerEpoch
	}
	n.reg.Store(&registered{epoch: epoch})
	n.log.Info("registered with the controller", "broker_epoch", epoch)
	n.waitView(func(v *view) bool { return v.st.LastIndex >= uint64(epoch) })
	return nil
}

// heartbeat sends one heartbeat with the metadata offset this node has applied.
func (n *Node) heartbeat(conn **controllerConn, wantShutdown bool) (metadata.HeartbeatResult, error) {
	r := n.reg.Load()
	if r == nil {
		return metadata.HeartbeatResult{}, errors.New("not registered")
	}
	offset := int64(n.view.Load().st.LastIndex)
	_, offline := n.logDirIDs()
	if c, err := n.ActiveController(); err == nil {
		return c.Heartbeat(n.id, r.epoch, offset, wantShutdown, offline)
	}
	req := kmsg.NewPtrBrokerHeartbeatRequest()
	req.SetVersion(1) // OfflineLogDirs (KIP-858)
	req.BrokerID, req.BrokerEpoch, req.CurrentMetadataOffset, req.WantShutdown = n.id, r.epoch, offset, wantShutdown
	for _, d := range offline {
		req.OfflineLogDirs = append(req.OfflineLogDirs, d)
	}
	ctx, cancel := context.WithTimeout(context.Background(), max(n.cfg.SessionTimeout, time.Second))
	defer cancel()
	resp, err := n.send(ctx, conn, req)
	if err != nil {
		return metadata.HeartbeatResult{}, err
	}
	hr := resp.(*kmsg.BrokerHeartbeatResponse)
	if err := codeErr(hr.ErrorCode, nil); err != nil {
		return metadata.HeartbeatResult{}, err
	}
	return metadata.HeartbeatResult{Fenced: hr.IsFenced, ShouldShutdown: hr.ShouldShutdown}, nil
}

// controlledShutdown asks the controller to move this broker's leadership away and waits
// (bounded) until this node's view shows it leads nothing, so clients move before it stops.
func (n *Node) controlledShutdown(limit time.Duration) {
	if n.reg.Load() == nil {
		return
	}
	others := slices.ContainsFunc(n.Brokers(), func(b metadata.BrokerRegistration) bool { return b.ID != n.id })
	if !others {
		return // no live broker to move leadership to
	}
	deadline := time.Now().Add(limit)
	var conn *controllerConn
	defer func() {
		if conn != nil {
			conn.close()
		}
	}()
	for time.Now().Before(deadline) {
		res, err := n.heartbeat(&conn, true)
		if err == nil && res.ShouldShutdown {
			n.waitView(func(v *view) bool { return !v.leadsAny(n.id) })
			n.log.Info("controlled shutdown: leadership moved to other replicas")
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	n.log.Warn("controlled shutdown did not complete in time; stopping anyway")
}

// leadsAny reports whether broker id leads a partition in the view.
func (v *view) leadsAny(id int32) bool {
	for _, t := range v.st.Topics {
		for _, p := range t.Partitions {
			if p.Leader == id {
				return true
			}
		}
	}
	return false
}
