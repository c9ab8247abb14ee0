package restproxy

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestResetOffsets checks the two extensions the console uses: the offset of a time in a
// partition, and resetting an empty group's offsets to earliest, latest, a time or an offset
// (clamped to the log), as a dry run and for real; a group with a member is refused.
func TestResetOffsets(t *testing.T) {
	r, addr := startProxy(t, Config{})
	r.do("POST", "/topics", `{"topic_name":"clock","partitions_count":1}`, 201, nil)
	base := time.Date(2026, 1, 2, 15, 0, 0, 0, time.UTC)
	var body bytes.Buffer
	for i := range 10 { // one record a minute from base
		fmt.Fprintf(&body, `{"value":{"type":"STRING","data":"%d"},"timestamp":%q}`, i, base.Add(time.Duration(i)*time.Minute).Format(time.RFC3339))
	}
	r.do("POST", "/topics/clock/records", body.String(), 200, nil)

	var at struct{ Offset, Timestamp int64 }
	r.do("GET", "/topics/clock/partitions/0/offsets?timestamp="+base.Add(150*time.Second).Format(time.RFC3339), "", 200, &at)
	if at.Offset != 3 || at.Timestamp != base.Add(3*time.Minute).UnixMilli() {
		t.Fatalf("offset at 15:02:30: %+v", at)
	}
	r.do("GET", fmt.Sprintf("/topics/clock/partitions/0/offsets?timestamp=%d", base.Add(time.Hour).UnixMilli()), "", 200, &at)
	if at.Offset != 10 {
		t.Fatalf("offset after the last record: %+v", at)
	}
	r.wantError("GET", "/topics/clock/partitions/7/offsets?timestamp=0", "", 404, codePartitionNotFound, "Partition")
	r.wantError("GET", "/topics/clock/partitions/0/offsets?timestamp=yesterday", "", 400, 400, "RFC 3339")

	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var os kadm.Offsets
	os.Add(kadm.Offset{Topic: "clock", Partition: 0, At: 5, LeaderEpoch: -1})
	if err := adm.CommitAllOffsets(ctx, "readers", os); err != nil {
		t.Fatal(err)
	}
	committed := func() int64 {
		t.Helper()
		offs, err := adm.FetchOffsets(ctx, "readers")
		if err != nil {
			t.Fatal(err)
		}
		o, _ := offs.Lookup("clock", 0)
		return o.At
	}
	type resetAnswer struct {
		DryRun bool              `json:"dry_run"`
		Data   []partitionOffset `json:"data"`
	}
	for _, tc := range []struct {
		body string
		want int64
	}{
		{`{"to":"earliest","dry_run":true}`, 0},
		{`{"to":"earliest"}`, 0},
		{`{"to":"latest"}`, 10},
		{fmt.Sprintf(`{"to":"timestamp","timestamp":%q}`, base.Add(7*time.Minute).Format(time.RFC3339)), 7},
		{`{"to":"offset","offset":100}`, 10},
		{`{"to":"offset","offset":2,"topic":"clock"}`, 2},
	} {
		before := committed()
		var a resetAnswer
		r.do("POST", "/consumer-groups/readers/offsets:reset", tc.body, 200, &a)
		if len(a.Data) != 1 || a.Data[0] != (partitionOffset{"clock", 0, tc.want}) {
			t.Fatalf("reset %s: %+v", tc.body, a)
		}
		want := tc.want
		if a.DryRun {
			want = before
		}
		if got := committed(); got != want {
			t.Fatalf("reset %s: committed %d, want %d", tc.body, got, want)
		}
	}
	r.wantError("POST", "/consumer-groups/readers/offsets:reset", `{"to":"yesterday"}`, 400, 400, "earliest, latest")
	r.wantError("POST", "/consumer-groups/readers/offsets:reset", `{"to":"offset"}`, 400, 400, "offset")
	r.wantError("POST", "/consumer-groups/nobody/offsets:reset", `{"to":"earliest"}`, 404, codeGroupNotFound, "nobody")

	member, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumerGroup("readers"), kgo.ConsumeTopics("clock"))
	if err != nil {
		t.Fatal(err)
	}
	defer member.Close()
	for ctx.Err() == nil { // until the member joined
		if d, err := adm.DescribeGroups(ctx, "readers"); err == nil && d["readers"].State == "Stable" {
			break
		}
		poll, cancel := context.WithTimeout(ctx, time.Second)
		member.PollRecords(poll, 1)
		cancel()
	}
	r.wantError("POST", "/consumer-groups/readers/offsets:reset", `{"to":"earliest"}`, 409, 409, "only be reset while it is empty")
}
