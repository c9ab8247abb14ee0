package cluster

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"slices"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/broker"
	"github.com/logd/logd/internal/kwire"
	"github.com/logd/logd/metadata"
)

var _ broker.QuorumMembership = (*Node)(nil)

// AddVoter implements broker.QuorumMembership: the quorum's leader adds node id as a voter
// (metadata.Quorum.AddVoter); another node sends AddRaftVoter on to it.
func (n *Node) AddVoter(id int32, dir metadata.TopicID, addr string, timeout time.Duration) error {
	return n.onController(func(*activeCtl) error {
		return n.q.AddVoter(id, dir, addr, timeout)
	}, func() error {
		host, port, err := splitHostPort(addr)
		if err != nil {
			return err
		}
		req := kmsg.NewPtrAddRaftVoterRequest()
		req.TimeoutMillis, req.VoterID, req.VoterDirectoryID = int32(timeout/time.Millisecond), id, dir
		l := kmsg.NewAddRaftVoterRequestListener()
		l.Name, l.Host, l.Port = "CONTROLLER", host, port
		req.Listeners = append(req.Listeners, l)
		return n.forward(req, func(r kmsg.Response) (int16, *string) {
			resp := r.(*kmsg.AddRaftVoterResponse)
			return resp.ErrorCode, resp.ErrorMessage
		})
	})
}

// RemoveVoter implements broker.QuorumMembership: the quorum's leader removes voter id
// (metadata.Quorum.RemoveVoter); another node sends RemoveRaftVoter on to it. A leader that
// removes itself hands the leadership over first (the removal then answers NOT_CONTROLLER
// here): the request goes again, to the new leader, until removeSelfLimit.
func (n *Node) RemoveVoter(id int32, dir metadata.TopicID) error {
	deadline := time.Now().Add(removeSelfLimit)
	for {
		err := n.onController(func(*activeCtl) error {
			return n.q.RemoveVoter(id, dir, metadata.ProposeTimeout)
		}, func() error {
			req := kmsg.NewPtrRemoveRaftVoterRequest()
			req.VoterID, req.VoterDirectoryID = id, dir
			return n.forward(req, func(r kmsg.Response) (int16, *string) {
				resp := r.(*kmsg.RemoveRaftVoterResponse)
				return resp.ErrorCode, resp.ErrorMessage
			})
		})
		if !errors.Is(err, metadata.ErrNotController) || time.Now().After(deadline) {
			return err
		}
		select {
		case <-n.stop:
			return err
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// removeSelfLimit bounds how long a removal retries while the leadership moves.
const removeSelfLimit = 5 * time.Second

// AddObserver implements broker.QuorumMembership: the quorum's leader adds node id as an
// observer (metadata.Quorum.AddObserver); another node sends its ControllerRegistration on.
func (n *Node) AddObserver(id int32, addr string) error {
	return n.onController(func(*activeCtl) error {
		return n.q.AddObserver(id, addr, metadata.ProposeTimeout)
	}, func() error {
		return n.forward(n.controllerRegistration(id, addr), func(r kmsg.Response) (int16, *string) {
			resp := r.(*kmsg.ControllerRegistrationResponse)
			return resp.ErrorCode, resp.ErrorMessage
		})
	})
}

// controllerRegistration is the ControllerRegistration announcing node id's controller
// listener at addr (an address from the quorum's own transport, so it parses).
func (n *Node) controllerRegistration(id int32, addr string) *kmsg.ControllerRegistrationRequest {
	req := kmsg.NewPtrControllerRegistrationRequest()
	req.ControllerID, req.IncarnationID = id, n.incarn
	l := kmsg.NewControllerRegistrationRequestListener()
	l.Name = "CONTROLLER"
	l.Host, l.Port, _ = splitHostPort(addr)
	req.Listeners = append(req.Listeners, l)
	return req
}

// splitHostPort splits a controller listener's address.
func splitHostPort(addr string) (string, uint16, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("controller address %q: %w", addr, err)
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return "", 0, fmt.Errorf("controller address %q: port: %w", addr, err)
	}
	return host, uint16(p), nil
}

// joinRetry is how often a node that is not in the Raft configuration, or an observer the
// leader no longer reaches, announces itself; rejoinAfter is how long an observer goes
// without hearing from a leader before it does (a leader heartbeats every tenth of the Raft
// timeout, so only a node the leader dropped or a leaderless quorum is that quiet).
const (
	joinRetry   = 200 * time.Millisecond
	rejoinAfter = 2 * time.Second
)

// observerExpiryCheck is how often the active controller looks for observers that stopped.
const observerExpiryCheck = time.Second

// runAnnounce keeps a node that can be an observer in the Raft configuration: one joining an
// existing quorum (Config.JoinVia) or one the leader dropped after it stopped answering
// (metadata.ObserverExpiry, after a crash or a long pause) announces its controller listener
// with ControllerRegistration, to the brokers JoinVia names and those its metadata lists,
// one after the other, until the quorum's leader has added it (again) and replicates to it.
// A voter never announces. It runs until the node stops.
func (n *Node) runAnnounce() {
	defer n.wg.Done()
	req := n.controllerRegistration(n.id, n.q.Addr())
	joined := false
	for i := 0; ; i++ {
		voter, observer := n.q.Member()
		reached := time.Since(n.q.LeaderContact()) < rejoinAfter
		switch {
		case voter || observer && reached:
			if !joined {
				n.log.Info("joined the metadata quorum", "node", n.id, "voter", voter)
				joined = true
			}
		default:
			joined = false
			if addrs := n.announceTargets(); len(addrs) > 0 {
				addr := addrs[i%len(addrs)]
				if err := n.announce(addr, req); err != nil {
					n.log.Debug("announcing this node to the metadata quorum", "via", addr, "err", err)
				}
			}
		}
		select {
		case <-n.stop:
			return
		case <-time.After(joinRetry):
		}
	}
}

// announceTargets are the Kafka addresses runAnnounce tries: Config.JoinVia, then the other
// registered brokers of this node's metadata.
func (n *Node) announceTargets() []string {
	addrs := slices.Clone(n.cfg.JoinVia)
	st := n.view.Load().st
	for _, id := range slices.Sorted(maps.Keys(st.Brokers)) {
		if b := st.Brokers[id]; id != n.id {
			addrs = append(addrs, net.JoinHostPort(b.Host, strconv.Itoa(int(b.Port))))
		}
	}
	return addrs
}

// expireObservers takes observers that stopped out of the Raft configuration
// (metadata.ObserverExpiry), every interval, until the term ends.
func (c *activeCtl) expireObservers(interval time.Duration) {
	exp := c.n.q.NewObserverExpiry(metadata.ObserverSessionTimeout, time.Now())
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-c.done:
			return
		case <-t.C:
		}
		// Each removal is logged by Expire.
		if _, err := exp.Expire(time.Now()); err != nil && !errors.Is(err, metadata.ErrNotController) {
			c.n.log.Warn("could not expire observers", "err", err)
		}
	}
}

// announce sends req (a ControllerRegistration) to the broker at addr.
func (n *Node) announce(addr string, req *kmsg.ControllerRegistrationRequest) error {
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	c, err := kwire.Dial(ctx, addr, kwire.Options{ClientID: fmt.Sprintf("logd-broker-%d", n.id), Security: n.cfg.Broker.InterBroker})
	if err != nil {
		return err
	}
	defer c.Close()
	r, err := c.Request(ctx, req)
	if err != nil {
		return err
	}
	resp := r.(*kmsg.ControllerRegistrationResponse)
	return codeErr(resp.ErrorCode, resp.ErrorMessage)
}
