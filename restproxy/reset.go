package restproxy

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

// Two logd extensions the console needs (Confluent's REST Proxy has neither):
//
// GET .../topics/{topic}/partitions/{partition}/offsets?timestamp=T answers the first offset
// whose record's timestamp is at or after T (RFC 3339 or Unix milliseconds), or the end offset
// when none is (ListOffsets by time), as {"offset": N, "timestamp": MS}.
//
// POST .../consumer-groups/{group}/offsets:reset moves an empty group's committed offsets, as
// kafka-consumer-groups --reset-offsets does: {"to": "earliest" | "latest" | "timestamp" |
// "offset", "timestamp": T, "offset": N, "topic": NAME (default every topic the group has
// offsets for), "dry_run": true to only compute them}, answered with the new offsets. A
// group with members is refused (409): they would overwrite the reset at their next commit.

// partitionOffset is one partition's offset in an answer.
type partitionOffset struct {
	TopicName   string `json:"topic_name"`
	PartitionID int32  `json:"partition_id"`
	Offset      int64  `json:"offset"`
}

// parseTime reads an RFC 3339 time or Unix milliseconds.
func parseTime(s string) (int64, error) {
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil {
		return ms, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return 0, badRequest(fmt.Sprintf("timestamp %q is neither RFC 3339 (2026-01-02T15:04:05Z) nor Unix milliseconds", s))
	}
	return t.UnixMilli(), nil
}

func (p *Proxy) offsetForTime(w http.ResponseWriter, r *http.Request, _ string) error {
	t, err := p.topic(r)
	if err != nil {
		return err
	}
	part, err := strconv.ParseInt(r.PathValue("partition"), 10, 32)
	if err != nil || t.Partitions[int32(part)].Topic == "" {
		return &apiError{http.StatusNotFound, codePartitionNotFound, "Partition not found."}
	}
	ms, err := parseTime(r.URL.Query().Get("timestamp"))
	if err != nil {
		return err
	}
	listed, err := p.session(r.Context()).adm.ListOffsetsAfterMilli(r.Context(), ms, t.Topic)
	if err != nil {
		return err
	}
	o, ok := listed.Lookup(t.Topic, int32(part))
	if !ok {
		return &apiError{http.StatusNotFound, codePartitionNotFound, "Partition not found."}
	}
	if o.Err != nil {
		return o.Err
	}
	writeJSON(w, http.StatusOK, map[string]int64{"offset": o.Offset, "timestamp": o.Timestamp})
	return nil
}

func (p *Proxy) resetOffsets(w http.ResponseWriter, r *http.Request, _ string) error {
	var req struct {
		To        string `json:"to"`
		Timestamp string `json:"timestamp"`
		Offset    *int64 `json:"offset"`
		Topic     string `json:"topic"`
		DryRun    bool   `json:"dry_run"`
	}
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	ctx := r.Context()
	adm := p.session(ctx).adm
	group := r.PathValue("group")
	described, err := adm.DescribeGroups(ctx, group)
	if err != nil {
		return err
	}
	g, ok := described[group]
	if !ok || g.State == "Dead" {
		return &apiError{http.StatusNotFound, codeGroupNotFound, fmt.Sprintf("Consumer group %s cannot be found.", group)}
	}
	if g.Err != nil {
		return g.Err
	}
	if g.State != "Empty" {
		return &apiError{http.StatusConflict, http.StatusConflict, fmt.Sprintf("group %s is %s with %d members: offsets can only be reset while it is empty (stop its consumers first)", group, g.State, len(g.Members))}
	}
	committed, err := adm.FetchOffsets(ctx, group)
	if err != nil {
		return err
	}
	if err := committed.Error(); err != nil {
		return err
	}
	topics := map[string]bool{}
	committed.Each(func(o kadm.OffsetResponse) { topics[o.Topic] = true })
	if req.Topic != "" {
		topics = map[string]bool{req.Topic: true}
	}
	if len(topics) == 0 {
		return badRequest(fmt.Sprintf("group %s has no committed offsets: name the topic to reset", group))
	}
	names := make([]string, 0, len(topics))
	for t := range topics {
		names = append(names, t)
	}
	target, err := resetTargets(ctx, adm, req.To, req.Timestamp, req.Offset, names)
	if err != nil {
		return err
	}
	out := []partitionOffset{}
	target.Each(func(o kadm.Offset) { out = append(out, partitionOffset{o.Topic, o.Partition, o.At}) })
	slices.SortFunc(out, func(a, b partitionOffset) int {
		return cmp.Or(strings.Compare(a.TopicName, b.TopicName), cmp.Compare(a.PartitionID, b.PartitionID))
	})
	if !req.DryRun {
		resp, err := adm.CommitOffsets(ctx, group, target)
		if err != nil {
			return err
		}
		if err := resp.Error(); err != nil {
			return err
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"dry_run": req.DryRun, "data": out})
	return nil
}

// resetTargets computes the offsets a reset moves topics' partitions to.
func resetTargets(ctx context.Context, adm *kadm.Client, to, timestamp string, offset *int64, topics []string) (kadm.Offsets, error) {
	var listed kadm.ListedOffsets
	var err error
	switch to {
	case "earliest":
		listed, err = adm.ListStartOffsets(ctx, topics...)
	case "latest":
		listed, err = adm.ListEndOffsets(ctx, topics...)
	case "timestamp":
		ms, perr := parseTime(timestamp)
		if perr != nil {
			return nil, perr
		}
		listed, err = adm.ListOffsetsAfterMilli(ctx, ms, topics...)
	case "offset":
		if offset == nil || *offset < 0 {
			return nil, badRequest(`"to": "offset" needs "offset", 0 or more`)
		}
		// Clamped to each partition's range, as kafka-consumer-groups --to-offset does.
		var start, end kadm.ListedOffsets
		if start, err = adm.ListStartOffsets(ctx, topics...); err != nil {
			return nil, err
		}
		if end, err = adm.ListEndOffsets(ctx, topics...); err != nil {
			return nil, err
		}
		listed = end
		for t, ps := range end {
			for part, e := range ps {
				s := start[t][part]
				e.Offset = min(max(*offset, s.Offset), e.Offset)
				listed[t][part] = e
			}
		}
	default:
		return nil, badRequest(fmt.Sprintf(`"to": %q: want earliest, latest, timestamp or offset`, to))
	}
	if err != nil {
		return nil, err
	}
	if err := listed.Error(); err != nil {
		return nil, err
	}
	return listed.Offsets(), nil
}
