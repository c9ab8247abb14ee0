package share

import (
	"errors"
	"testing"
	"time"
)

// TestParseAutoOffsetReset checks the values Kafka 4.3.1's ShareGroupAutoOffsetResetStrategy
// accepts and refuses (checked against its validator).
func TestParseAutoOffsetReset(t *testing.T) {
	for _, tc := range []struct {
		v    string
		want AutoOffsetReset
	}{
		{"latest", AutoOffsetReset{}},
		{"earliest", AutoOffsetReset{Strategy: ResetEarliest}},
		{"by_duration:PT1H", AutoOffsetReset{ResetByDuration, time.Hour}},
		{"by_duration:pt1h", AutoOffsetReset{ResetByDuration, time.Hour}},
		{"by_duration:P1DT2H3M4.5S", AutoOffsetReset{ResetByDuration, 26*time.Hour + 3*time.Minute + 4500*time.Millisecond}},
		{"by_duration:PT0S", AutoOffsetReset{ResetByDuration, 0}},
		{"by_duration:PT2H-30M", AutoOffsetReset{ResetByDuration, 90 * time.Minute}},
	} {
		got, err := ParseAutoOffsetReset(tc.v)
		if err != nil || got != tc.want {
			t.Errorf("%s: %+v, %v; want %+v", tc.v, got, err, tc.want)
		}
	}
	for _, v := range []string{"Latest", "BY_DURATION:PT1H", "by_duration:", "by_duration:xx", "by_duration:-PT1H",
		"by_duration:PT-1H", "by_duration:P", "by_duration:PT", "by_duration:P1H", "by_duration:PT1D", "by_duration:PT1S1M",
		"by_duration:PT1.1234567891S", "by_duration:P1.5D", "by_duration:P99999999999999D"} {
		_, err := ParseAutoOffsetReset(v)
		if err == nil || err.Error() != "Invalid value `"+v+"` for configuration share.auto.offset.reset. The value must be either 'earliest', 'latest' or of the format 'by_duration:<PnDTnHnMn.nS>'." {
			t.Errorf("%s: %v, want Kafka's refusal", v, err)
		}
	}
}

// TestByDurationStart: a share partition of a group with share.auto.offset.reset=by_duration
// starts at the offset ByTime finds for now − duration, clamped to the log, and at the high
// watermark when no record is that recent.
func TestByDurationStart(t *testing.T) {
	c, clock, _ := testCoordinator(t)
	cfgs := map[string]string{"share.auto.offset.reset": "by_duration:PT1H"}
	c.cfg.GroupConfigs = func(string) map[string]string { return cfgs }
	asked := int64(0)
	l := LogOffsets{Start: 2, End: 10, ByTime: func(ts int64) (int64, bool) {
		asked = ts
		return 6, true
	}}
	if from, ok := c.ReadFrom("g", tp0, l); from != 6 || !ok {
		t.Fatalf("by_duration start %d %v, want 6", from, ok)
	}
	if want := clock.Now().Add(-time.Hour).UnixMilli(); asked != want {
		t.Errorf("ByTime asked for %d, want now - 1h = %d", asked, want)
	}
	l.ByTime = func(int64) (int64, bool) { return 0, false }
	if from, ok := c.ReadFrom("g", TopicPartition{topicA.ID, 1}, l); from != 10 || ok {
		t.Fatalf("no record that recent: start %d %v, want the high watermark 10", from, ok)
	}
}

// TestRenewAcknowledgeDisabled: with share.renew.acknowledge.enable=false a renewal is
// refused with INVALID_RECORD_STATE and nothing changes.
func TestRenewAcknowledgeDisabled(t *testing.T) {
	c, _, _ := testCoordinator(t)
	cfgs := map[string]string{"share.renew.acknowledge.enable": "false"}
	c.cfg.GroupConfigs = func(string) map[string]string { return cfgs }
	if got := acquire(t, c, "m1", 2); len(got) != 1 {
		t.Fatalf("acquired %v", got)
	}
	if _, err := c.Acknowledge("g", "m1", tp0, []AckBatch{{0, 1, []AckType{AckRenew}}}, AckRenew); !errors.Is(err, ErrInvalidRecordState) {
		t.Fatalf("renew while disabled: %v", err)
	}
	if s, _ := c.State("g", tp0); s.Acquired != 2 {
		t.Fatalf("state after a refused renewal: %+v", s)
	}
	cfgs["share.renew.acknowledge.enable"] = "true"
	if _, err := c.Acknowledge("g", "m1", tp0, []AckBatch{{0, 1, []AckType{AckRenew}}}, AckRenew); err != nil {
		t.Fatalf("renew when enabled: %v", err)
	}
}

// TestGroupSessionSettings: a group's share.heartbeat.interval.ms is what its members are
// told, and its share.session.timeout.ms is how long a silent member stays.
func TestGroupSessionSettings(t *testing.T) {
	c, clock, _ := testCoordinator(t)
	c.cfg.GroupConfigs = func(string) map[string]string {
		return map[string]string{"share.heartbeat.interval.ms": "6000", "share.session.timeout.ms": "50000"}
	}
	if res := join(t, c, "m1"); res.HeartbeatInterval != 6*time.Second {
		t.Fatalf("heartbeat interval %v, want the group's 6s", res.HeartbeatInterval)
	}
	clock.Advance(49 * time.Second)
	if d, _ := c.Describe("g"); len(d.Members) != 1 {
		t.Fatalf("member gone after 49s of a 50s session: %+v", d)
	}
	clock.Advance(2 * time.Second)
	if d, _ := c.Describe("g"); len(d.Members) != 0 {
		t.Fatalf("member still there after 51s of a 50s session: %+v", d)
	}
}
