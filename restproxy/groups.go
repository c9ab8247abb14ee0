package restproxy

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// upperSnake turns a Kafka state name ("PreparingRebalance") into the v3 enum
// ("PREPARING_REBALANCE").
func upperSnake(s string) string {
	if s == "" {
		return "UNKNOWN"
	}
	var b strings.Builder
	for i, r := range s {
		if i > 0 && unicode.IsUpper(r) {
			b.WriteByte('_')
		}
		b.WriteRune(unicode.ToUpper(r))
	}
	return b.String()
}

// groupType is the v3 name of a ListGroups group type.
func groupType(t string) string {
	switch strings.ToLower(t) {
	case "classic":
		return "CLASSIC"
	case "consumer":
		return "CONSUMER"
	case "share":
		return "SHARE"
	case "streams":
		return "STREAMS"
	}
	return "UNKNOWN"
}

// listedGroup is one group of ListGroups, with its type (which kadm's listing leaves out).
type listedGroup struct {
	group, protocolType, state, typ string
	coordinator                     int32
}

// groups lists every group of the cluster, from every broker.
func (p *Proxy) groups(r *http.Request) ([]listedGroup, error) {
	req := kmsg.NewPtrListGroupsRequest()
	var out []listedGroup
	for _, sh := range p.session(r.Context()).cl.RequestSharded(r.Context(), req) {
		if sh.Err != nil {
			return nil, sh.Err
		}
		resp := sh.Resp.(*kmsg.ListGroupsResponse)
		if err := errorOf(resp.ErrorCode); err != nil {
			return nil, err
		}
		for _, g := range resp.Groups {
			out = append(out, listedGroup{group: g.Group, protocolType: g.ProtocolType, state: g.GroupState, typ: g.GroupType, coordinator: sh.Meta.NodeID})
		}
	}
	slices.SortFunc(out, func(a, b listedGroup) int { return strings.Compare(a.group, b.group) })
	return out, nil
}

func groupDataOf(l links, g listedGroup, assignor string) consumerGroupData {
	out := consumerGroupData{
		Kind:              "KafkaConsumerGroup",
		Metadata:          resourceMeta{Self: l.url("consumer-groups", g.group), ResourceName: l.crn("consumer-group=" + g.group)},
		ClusterID:         l.cid,
		ConsumerGroupID:   g.group,
		IsSimple:          g.protocolType == "",
		PartitionAssignor: assignor,
		State:             upperSnake(g.state),
		Type:              groupType(g.typ),
		Consumers:         rel(l.url("consumer-groups", g.group, "consumers")),
		LagSummary:        rel(l.url("consumer-groups", g.group, "lag-summary")),
	}
	if g.coordinator >= 0 {
		c := rel(l.url("brokers", strconv.Itoa(int(g.coordinator))))
		out.Coordinator = &c
	}
	return out
}

func (p *Proxy) listGroups(w http.ResponseWriter, r *http.Request, cid string) error {
	gs, err := p.groups(r)
	if err != nil {
		return err
	}
	l := newLinks(r, cid)
	var out []consumerGroupData
	for _, g := range gs {
		out = append(out, groupDataOf(l, g, ""))
	}
	writeJSON(w, http.StatusOK, newList("KafkaConsumerGroupList", l.url("consumer-groups"), out))
	return nil
}

// lag describes the path's group with its lag; an unknown group is a 404.
func (p *Proxy) lag(r *http.Request) (kadm.DescribedGroupLag, listedGroup, error) {
	name := r.PathValue("group")
	gs, err := p.groups(r)
	if err != nil {
		return kadm.DescribedGroupLag{}, listedGroup{}, err
	}
	i := slices.IndexFunc(gs, func(g listedGroup) bool { return g.group == name })
	if i < 0 {
		return kadm.DescribedGroupLag{}, listedGroup{}, &apiError{http.StatusNotFound, codeGroupNotFound, "Consumer group id not found."}
	}
	lags, err := p.session(r.Context()).adm.Lag(r.Context(), name)
	if err != nil {
		return kadm.DescribedGroupLag{}, listedGroup{}, err
	}
	lag := lags[name]
	if err := lag.Error(); err != nil {
		return lag, gs[i], err
	}
	return lag, gs[i], nil
}

func (p *Proxy) getGroup(w http.ResponseWriter, r *http.Request, cid string) error {
	lag, g, err := p.lag(r)
	if err != nil {
		return err
	}
	g.coordinator = lag.Coordinator.NodeID
	writeJSON(w, http.StatusOK, groupDataOf(newLinks(r, cid), g, lag.Protocol))
	return nil
}

func consumerDataOf(l links, group string, m kadm.DescribedGroupMember) consumerData {
	return consumerData{
		Kind:            "KafkaConsumer",
		Metadata:        resourceMeta{Self: l.url("consumer-groups", group, "consumers", m.MemberID), ResourceName: l.crn("consumer-group="+group, "consumer="+m.MemberID)},
		ClusterID:       l.cid,
		ConsumerGroupID: group,
		ConsumerID:      m.MemberID,
		InstanceID:      m.InstanceID,
		ClientID:        m.ClientID,
		Assignments:     rel(l.url("consumer-groups", group, "consumers", m.MemberID, "assignments")),
	}
}

func (p *Proxy) listConsumers(w http.ResponseWriter, r *http.Request, cid string) error {
	lag, g, err := p.lag(r)
	if err != nil {
		return err
	}
	l := newLinks(r, cid)
	var out []consumerData
	for _, m := range lag.Members {
		out = append(out, consumerDataOf(l, g.group, m))
	}
	writeJSON(w, http.StatusOK, newList("KafkaConsumerList", l.url("consumer-groups", g.group, "consumers"), out))
	return nil
}

func (p *Proxy) getConsumer(w http.ResponseWriter, r *http.Request, cid string) error {
	lag, g, err := p.lag(r)
	if err != nil {
		return err
	}
	id := r.PathValue("consumer")
	for _, m := range lag.Members {
		if m.MemberID == id {
			writeJSON(w, http.StatusOK, consumerDataOf(newLinks(r, cid), g.group, m))
			return nil
		}
	}
	return &apiError{http.StatusNotFound, http.StatusNotFound, "Consumer " + id + " cannot be found."}
}

func lagDataOf(l links, group string, m kadm.GroupMemberLag) consumerLagData {
	id := strconv.Itoa(int(m.Partition))
	out := consumerLagData{
		Kind:            "KafkaConsumerLag",
		Metadata:        resourceMeta{Self: l.url("consumer-groups", group, "lags", m.Topic, "partitions", id), ResourceName: l.crn("consumer-group="+group, "lag="+m.Topic, "partition="+id)},
		ClusterID:       l.cid,
		ConsumerGroupID: group,
		TopicName:       m.Topic,
		PartitionID:     m.Partition,
		CurrentOffset:   m.Commit.At,
		LogEndOffset:    m.End.Offset,
		Lag:             m.Lag,
	}
	if m.Member != nil {
		out.ConsumerID, out.InstanceID, out.ClientID = m.Member.MemberID, m.Member.InstanceID, m.Member.ClientID
	}
	return out
}

// committedLags lists the group's partitions with a committed offset, by topic and partition.
func committedLags(lag kadm.DescribedGroupLag) []kadm.GroupMemberLag {
	var out []kadm.GroupMemberLag
	for _, m := range lag.Lag.Sorted() {
		if m.Commit.At >= 0 {
			out = append(out, m)
		}
	}
	return out
}

func (p *Proxy) listLags(w http.ResponseWriter, r *http.Request, cid string) error {
	lag, g, err := p.lag(r)
	if err != nil {
		return err
	}
	l := newLinks(r, cid)
	var out []consumerLagData
	for _, m := range committedLags(lag) {
		out = append(out, lagDataOf(l, g.group, m))
	}
	writeJSON(w, http.StatusOK, newList("KafkaConsumerLagList", l.url("consumer-groups", g.group, "lags"), out))
	return nil
}

func (p *Proxy) getLag(w http.ResponseWriter, r *http.Request, cid string) error {
	lag, g, err := p.lag(r)
	if err != nil {
		return err
	}
	n, err := strconv.ParseInt(r.PathValue("partition"), 10, 32)
	if err != nil {
		return badRequest("partition_id " + strconv.Quote(r.PathValue("partition")) + " is not a number")
	}
	m, ok := lag.Lag.Lookup(r.PathValue("topic"), int32(n))
	if !ok || m.Commit.At < 0 {
		return &apiError{http.StatusNotFound, http.StatusNotFound, "Consumer lag cannot be found: the group committed no offset for this partition."}
	}
	writeJSON(w, http.StatusOK, lagDataOf(newLinks(r, cid), g.group, m))
	return nil
}

func (p *Proxy) getLagSummary(w http.ResponseWriter, r *http.Request, cid string) error {
	lag, g, err := p.lag(r)
	if err != nil {
		return err
	}
	l := newLinks(r, cid)
	out := lagSummaryData{
		Kind:            "KafkaConsumerGroupLagSummary",
		Metadata:        resourceMeta{Self: l.url("consumer-groups", g.group, "lag-summary"), ResourceName: l.crn("consumer-group="+g.group, "lag-summary")},
		ClusterID:       cid,
		ConsumerGroupID: g.group,
		MaxLag:          -1,
	}
	for _, m := range committedLags(lag) {
		if m.Lag > 0 {
			out.TotalLag += m.Lag
		}
		if m.Lag > out.MaxLag {
			d := lagDataOf(l, g.group, m)
			out.MaxLag, out.MaxLagTopicName, out.MaxLagPartitionID = m.Lag, m.Topic, m.Partition
			out.MaxLagConsumerID, out.MaxLagInstanceID, out.MaxLagClientID = d.ConsumerID, d.InstanceID, d.ClientID
		}
	}
	if out.MaxLag < 0 {
		out.MaxLag = 0
	}
	out.MaxLagConsumer = rel(l.url("consumer-groups", g.group, "consumers", out.MaxLagConsumerID))
	out.MaxLagPartition = rel(l.url("topics", out.MaxLagTopicName, "partitions", strconv.Itoa(int(out.MaxLagPartitionID))))
	writeJSON(w, http.StatusOK, out)
	return nil
}
