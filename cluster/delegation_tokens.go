package cluster

import (
	"errors"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/metadata"
)

// Delegation tokens: kept in the replicated metadata (metadata.DelegationToken), changed on
// the active controller only (the broker's 38-40 handlers decide there, and send the
// request on to it from other nodes), read by every node's SASL listeners from its view. The
// controller removes expired tokens every delegation.token.expiry.check.interval.ms.

// defaultTokenExpiryCheck is Kafka's delegation.token.expiry.check.interval.ms default.
const defaultTokenExpiryCheck = time.Hour

// DelegationTokens implements broker.Cluster: the tokens of this node's view by id. The
// caller must not modify them.
func (n *Node) DelegationTokens() map[string]*metadata.DelegationToken {
	return n.view.Load().st.DelegationTokens
}

// ProposeDelegationToken implements broker.Cluster: a delegation token command proposed on
// this node's controller term; an error wrapping metadata.ErrNotController elsewhere. The
// view includes the change when it returns.
func (n *Node) ProposeDelegationToken(cmd any) (any, error) {
	c, err := n.ActiveController()
	if err != nil {
		return nil, err
	}
	res, err := c.(*activeCtl).propose(cmd)
	if err == nil {
		n.refreshView()
	}
	return res, err
}

// ForwardToController implements broker.Cluster: req sent to the active controller, its
// response returned once its error code (code) is not NOT_CONTROLLER; errors wrapping
// metadata.ErrNotController when this node is (or becomes) the controller, or none answers
// in time.
func (n *Node) ForwardToController(req kmsg.Request, code func(kmsg.Response) int16) (kmsg.Response, error) {
	var out kmsg.Response
	err := n.forward(req, func(r kmsg.Response) (int16, *string) {
		out = r
		if c := code(r); c == kerr.NotController.Code {
			return c, nil
		}
		return 0, nil
	})
	if errors.Is(err, errControllerHere) {
		return nil, metadata.ErrNotController
	}
	return out, err
}

// sweepDelegationTokens removes the tokens expired by now, every interval, until the term
// ends (Kafka's controller sweep, sweepExpiredDelegationTokens).
func (c *activeCtl) sweepDelegationTokens(interval time.Duration) {
	if interval <= 0 {
		interval = defaultTokenExpiryCheck
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-c.done:
			return
		case <-t.C:
		}
		now := time.Now().UnixMilli()
		expired := 0
		for _, tok := range c.n.view.Load().st.DelegationTokens {
			if tok.ExpiredAt(now) {
				expired++
			}
		}
		if expired == 0 {
			continue
		}
		res, err := c.propose(&metadata.RemoveExpiredDelegationTokens{NowMs: now})
		if err != nil {
			if !errors.Is(err, metadata.ErrNotController) {
				c.n.log.Warn("could not remove expired delegation tokens", "err", err)
			}
			continue
		}
		c.n.refreshView()
		c.n.log.Info("removed expired delegation tokens", "tokens", res)
	}
}
