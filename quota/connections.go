package quota

import (
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/logd/logd/metadata"
)

// ConnConfig is the broker's connection limits, by Kafka's names. Zero means no limit.
type ConnConfig struct {
	// MaxPerIP is max.connections.per.ip: open connections from one IP address.
	MaxPerIP int
	// PerIPOverrides is max.connections.per.ip.overrides: a host name or IP address → its
	// own limit instead of MaxPerIP.
	PerIPOverrides map[string]int
	// Max is max.connections: open connections of the broker, over all its listeners.
	Max int
	// ListenerMax is listener.name.<listener>.max.connections, by listener name.
	ListenerMax map[string]int
	// InterBroker names the inter-broker listener: when the broker has other listeners too
	// (Listeners > 1), it is exempt from Max, so replication keeps its connections.
	InterBroker string
	// Listeners is how many client listeners the broker has.
	Listeners int
}

// Refusal is why Connections.Admit refused a connection.
type Refusal uint8

// Refusals.
const (
	TooManyOnListener Refusal = iota // listener.name.<listener>.max.connections
	TooManyOnBroker                  // max.connections
	TooManyFromIP                    // max.connections.per.ip(.overrides)
	OverIPRate                       // connection_creation_rate of the IP (or the default IP)
	numRefusals
)

// Connections admits connections at accept by Kafka's connection quotas (its
// ConnectionQuotas): the limits of ConnConfig, and the connection_creation_rate of the
// client's IP entity (kafka-configs --entity-type ips) from the Manager's quotas, measured
// over the Manager's windows. It implements the network server's Admitter; one Connections
// serves every listener of the broker, so the counts are the broker's.
type Connections struct {
	cfg       ConnConfig
	overrides map[netip.Addr]int
	m         *Manager

	mu          sync.Mutex // a leaf; guards the fields below
	perIP       map[netip.Addr]int
	perListener map[string]int
	total       int
	rates       map[netip.Addr]*sensor // connection creation rates of the IPs with a quota

	refused [numRefusals]atomic.Int64
}

// NewConnections returns the connection quotas of cfg, with the IP rates of m. Host names of
// PerIPOverrides are resolved now (Kafka resolves them when it reads the setting).
func NewConnections(cfg ConnConfig, m *Manager) (*Connections, error) {
	c := &Connections{cfg: cfg, m: m, overrides: map[netip.Addr]int{}, perIP: map[netip.Addr]int{},
		perListener: map[string]int{}, rates: map[netip.Addr]*sensor{}}
	for host, n := range cfg.PerIPOverrides {
		if ip, err := netip.ParseAddr(host); err == nil {
			c.overrides[ip.Unmap()] = n
			continue
		}
		ips, err := net.LookupIP(host)
		if err != nil || len(ips) == 0 {
			return nil, fmt.Errorf("max.connections.per.ip.overrides: cannot resolve %q: %v", host, err)
		}
		for _, a := range ips {
			if ip, ok := netip.AddrFromSlice(a); ok {
				c.overrides[ip.Unmap()] = n
			}
		}
	}
	return c, nil
}

// ipOf is the IP address of a connection's remote address (invalid for a non-IP one).
func ipOf(a net.Addr) netip.Addr {
	if t, ok := a.(*net.TCPAddr); ok {
		if ip, ok := netip.AddrFromSlice(t.IP); ok {
			return ip.Unmap()
		}
	}
	return netip.Addr{}
}

// Admit reports whether a connection from remote on listener may open, and counts it if so.
// The checks are Kafka's, in its order: the listener's limit, the broker's (the inter-broker
// listener exempt), the IP's connection rate (a refused connection is not counted in it),
// then the IP's limit. Where Kafka's acceptor waits for a free slot under max.connections and
// closes a rate-throttled connection only after the throttle time, logd closes at once:
// gnet accepts on its event loop, which must not wait.
func (c *Connections) Admit(listener string, remote net.Addr) bool {
	ip := ipOf(remote)
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if r, ok := c.checkLocked(listener, ip, now); !ok {
		c.refused[r].Add(1)
		return false
	}
	c.total++
	c.perListener[listener]++
	if ip.IsValid() {
		c.perIP[ip]++
	}
	return true
}

// checkLocked applies the limits to a new connection. REQUIRES: c.mu.
func (c *Connections) checkLocked(listener string, ip netip.Addr, now time.Time) (Refusal, bool) {
	if n, ok := c.cfg.ListenerMax[listener]; ok && n > 0 && c.perListener[listener] >= n {
		return TooManyOnListener, false
	}
	protected := listener == c.cfg.InterBroker && c.cfg.Listeners > 1
	if c.cfg.Max > 0 && !protected && c.total >= c.cfg.Max {
		return TooManyOnBroker, false
	}
	if !ip.IsValid() {
		return 0, true
	}
	if q, ok := c.m.ips.Load().rate(ip); ok {
		s := c.rateLocked(ip, now)
		rate, elapsed := s.record(c.m.cfg, 1, now)
		if overRate(rate, q, elapsed, c.m.cfg) > 0 {
			s.record(c.m.cfg, -1, now) // Kafka un-records a connection it throttles
			return OverIPRate, false
		}
	}
	limit, ok := c.overrides[ip]
	if !ok {
		limit = c.cfg.MaxPerIP
	}
	if (limit > 0 && c.perIP[ip] >= limit) || (ok && limit == 0) { // an override of 0 shuts the IP out
		return TooManyFromIP, false
	}
	return 0, true
}

// rateLocked is the connection rate sensor of ip; past maxSensors, idle ones are dropped.
// REQUIRES: c.mu.
func (c *Connections) rateLocked(ip netip.Addr, now time.Time) *sensor {
	s := c.rates[ip]
	if s == nil {
		if len(c.rates) >= maxSensors {
			span := time.Duration(c.m.cfg.Samples) * c.m.cfg.Window
			for k, old := range c.rates {
				if old.idleSince(now) > span {
					delete(c.rates, k)
				}
			}
		}
		s = &sensor{}
		c.rates[ip] = s
	}
	return s
}

// Closed uncounts a connection Admit admitted, when it closes.
func (c *Connections) Closed(listener string, remote net.Addr) {
	ip := ipOf(remote)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.total--
	if c.perListener[listener]--; c.perListener[listener] <= 0 {
		delete(c.perListener, listener)
	}
	if ip.IsValid() {
		if c.perIP[ip]--; c.perIP[ip] <= 0 {
			delete(c.perIP, ip)
		}
	}
}

// Refused is how many connections Admit refused for r.
func (c *Connections) Refused(r Refusal) int64 { return c.refused[r].Load() }

// ipRates are the connection_creation_rate quotas of IP entities: by address, and the
// default IP entity's.
type ipRates struct {
	named      map[netip.Addr]float64
	dflt       float64
	hasDefault bool
}

// add takes the quota of one IP entity (name nil: the default); a name that is not an IP
// address names no connection and is skipped.
func (r *ipRates) add(name *string, values map[string]float64) {
	v, ok := values[metadata.ConnectionCreationRate]
	if !ok {
		return
	}
	if name == nil {
		r.dflt, r.hasDefault = v, true
		return
	}
	if ip, err := netip.ParseAddr(*name); err == nil {
		r.named[ip.Unmap()] = v
	}
}

// rate is the connection rate quota of ip: its own, else the default IP entity's.
func (r *ipRates) rate(ip netip.Addr) (float64, bool) {
	if v, ok := r.named[ip]; ok {
		return v, true
	}
	return r.dflt, r.hasDefault
}
