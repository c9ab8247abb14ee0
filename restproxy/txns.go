package restproxy

import (
	"cmp"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

// Transactions and share groups for the console, logd extensions (Confluent's REST Proxy has
// neither): GET .../transactions (ListTransactions, then DescribeTransactions: state,
// producer id and epoch, timeout, start, age and partitions; "hanging" when a transaction
// has been open longer than its timeout), GET .../share-groups (ListGroups of type share)
// and GET .../share-groups/{group} (ShareGroupDescribe's members and assignments, and
// DescribeShareGroupOffsets' start offset and lag per partition).

type transactionData struct {
	Kind            string             `json:"kind"`
	ClusterID       string             `json:"cluster_id"`
	TransactionalID string             `json:"transactional_id"`
	State           string             `json:"state"`
	ProducerID      int64              `json:"producer_id"`
	ProducerEpoch   int16              `json:"producer_epoch"`
	TimeoutMs       int32              `json:"timeout_ms"`
	StartTimestamp  *int64             `json:"start_timestamp"` // nil without an open transaction
	AgeMs           *int64             `json:"age_ms"`
	Hanging         bool               `json:"hanging"` // open longer than its timeout
	Partitions      []topicPartitionID `json:"partitions"`
}

type topicPartitionID struct {
	TopicName   string `json:"topic_name"`
	PartitionID int32  `json:"partition_id"`
}

// sortedPartitions lists a set of partitions in order.
func sortedPartitions(s kadm.TopicsSet) []topicPartitionID {
	out := []topicPartitionID{}
	for t, ps := range s {
		for p := range ps {
			out = append(out, topicPartitionID{t, p})
		}
	}
	slices.SortFunc(out, func(a, b topicPartitionID) int {
		return cmp.Or(strings.Compare(a.TopicName, b.TopicName), cmp.Compare(a.PartitionID, b.PartitionID))
	})
	return out
}

func (p *Proxy) listTransactions(w http.ResponseWriter, r *http.Request, cid string) error {
	described, err := p.session(r.Context()).adm.DescribeTransactions(r.Context())
	if err != nil {
		return err
	}
	now := time.Now().UnixMilli()
	var out []transactionData
	for _, d := range described.Sorted() {
		if d.Err != nil {
			return d.Err
		}
		t := transactionData{Kind: "LogdTransaction", ClusterID: cid, TransactionalID: d.TxnID, State: d.State,
			ProducerID: d.ProducerID, ProducerEpoch: d.ProducerEpoch, TimeoutMs: d.TimeoutMillis, Partitions: sortedPartitions(d.Topics)}
		if d.StartTimestamp > 0 && d.State == "Ongoing" {
			start, age := d.StartTimestamp, now-d.StartTimestamp
			t.StartTimestamp, t.AgeMs, t.Hanging = &start, &age, age > int64(d.TimeoutMillis)
		}
		out = append(out, t)
	}
	writeJSON(w, http.StatusOK, newList("LogdTransactionList", newLinks(r, cid).url("transactions"), out))
	return nil
}

type shareGroupData struct {
	Kind         string `json:"kind"`
	ClusterID    string `json:"cluster_id"`
	ShareGroupID string `json:"share_group_id"`
	State        string `json:"state"`
}

func (p *Proxy) listShareGroups(w http.ResponseWriter, r *http.Request, cid string) error {
	listed, err := p.session(r.Context()).adm.ListGroupsByType(r.Context(), []string{"share"})
	if err != nil {
		return err
	}
	var out []shareGroupData
	for _, g := range listed.Sorted() {
		out = append(out, shareGroupData{Kind: "LogdShareGroup", ClusterID: cid, ShareGroupID: g.Group, State: upperSnake(g.State)})
	}
	writeJSON(w, http.StatusOK, newList("LogdShareGroupList", newLinks(r, cid).url("share-groups"), out))
	return nil
}

type shareMemberData struct {
	MemberID   string             `json:"member_id"`
	ClientID   string             `json:"client_id"`
	ClientHost string             `json:"client_host"`
	Epoch      int32              `json:"member_epoch"`
	Topics     []string           `json:"subscribed_topic_names"`
	Assignment []topicPartitionID `json:"assignment"`
}

type sharePartitionData struct {
	TopicName   string `json:"topic_name"`
	PartitionID int32  `json:"partition_id"`
	StartOffset int64  `json:"start_offset"`
	Lag         int64  `json:"lag"`
}

func (p *Proxy) getShareGroup(w http.ResponseWriter, r *http.Request, cid string) error {
	ctx, adm, group := r.Context(), p.session(r.Context()).adm, r.PathValue("group")
	described, err := adm.DescribeShareGroups(ctx, group)
	if err != nil {
		return err
	}
	d, ok := described[group]
	if !ok || d.GroupState == "Dead" {
		return &apiError{http.StatusNotFound, codeGroupNotFound, "Share group " + group + " cannot be found."}
	}
	if d.Err != nil {
		return d.Err
	}
	offsets, err := adm.DescribeShareGroupOffsets(ctx, group)
	if err != nil {
		return err
	}
	o := offsets[group]
	if o.Err != nil {
		return o.Err
	}
	members := []shareMemberData{}
	for _, m := range d.Members {
		members = append(members, shareMemberData{MemberID: m.MemberID, ClientID: m.ClientID, ClientHost: m.ClientHost,
			Epoch: m.MemberEpoch, Topics: m.SubscribedTopicNames, Assignment: sortedPartitions(m.Assignment)})
	}
	parts := []sharePartitionData{}
	for t, ps := range o.Offsets {
		for part, so := range ps {
			if so.Err != nil {
				return so.Err
			}
			parts = append(parts, sharePartitionData{t, part, so.StartOffset, so.Lag})
		}
	}
	slices.SortFunc(parts, func(a, b sharePartitionData) int {
		return cmp.Or(strings.Compare(a.TopicName, b.TopicName), cmp.Compare(a.PartitionID, b.PartitionID))
	})
	writeJSON(w, http.StatusOK, map[string]any{"kind": "LogdShareGroup", "cluster_id": cid, "share_group_id": group,
		"state": upperSnake(d.GroupState), "group_epoch": d.GroupEpoch, "assignor": d.Assignor, "members": members, "partitions": parts})
	return nil
}
