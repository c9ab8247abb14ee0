package cluster

import (
	"context"
	"errors"
	"fmt"
	"net"
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

// joinRetry is how often a joining node announces itself until the leader added it.
const joinRetry = 200 * time.Millisecond

// runJoin announces a node joining an existing quorum (Config.JoinVia) to the brokers it
// was given, one after the other, until the leader has added it to the Raft configuration
// (then it replicates the metadata and serves like any node) or the node stops.
func (n *Node) runJoin() {
	defer n.wg.Done()
	req := n.controllerRegistration(n.id, n.q.Addr())
	for i := 0; ; i++ {
		if voter, observer := n.q.Member(); voter || observer {
			n.log.Info("joined the metadata quorum", "node", n.id, "voter", voter)
			return
		}
		addr := n.cfg.JoinVia[i%len(n.cfg.JoinVia)]
		if err := n.announce(addr, req); err != nil {
			n.log.Debug("announcing this node to the metadata quorum", "via", addr, "err", err)
		}
		select {
		case <-n.stop:
			return
		case <-time.After(joinRetry):
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
