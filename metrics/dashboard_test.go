package metrics

import (
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestDashboardUsesRealMetrics: every metric the Grafana dashboard (grafana/logd-dashboard.json)
// queries is one this package exports, so the dashboard cannot silently go blank after a rename.
func TestDashboardUsesRealMetrics(t *testing.T) {
	data, err := os.ReadFile("grafana/logd-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(data, &dash); err != nil {
		t.Fatalf("dashboard is not valid JSON: %v", err)
	}
	known := map[string]bool{}
	for _, n := range []string{RequestsTotal, RequestDuration, RequestQueue, RequestLocal, ResponseQueue,
		ResponseSend, ProduceFsyncWait, FetchWait, TopicBytesIn, TopicBytesOut, TopicMessagesIn,
		LogFlushDuration, LogFlushRounds, LogFlushFiles, Partitions, LogDirOffline, NetConnections,
		NetConnsAccepted, NetConnsRefused, NetRequests, NetResponses, NetBytesIn, NetBytesOut,
		NetSendfileBytes, NetCopiedBytes, NetBufferedBytes, NetInFlight, NetDeferred, NetProtocolCloses,
		NetBudgetCloses, NetPauses, NetWriteWaits, GroupLag} {
		known[n] = true
	}
	name := regexp.MustCompile(`logd_[a-z_]+`)
	queries := 0
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			queries++
			for _, m := range name.FindAllString(tg.Expr, -1) {
				base := strings.TrimSuffix(m, "_bucket")
				if !known[base] {
					t.Errorf("panel %q queries %s, which logd does not export", p.Title, m)
				}
			}
		}
	}
	if queries < 10 {
		t.Fatalf("only %d queries in the dashboard", queries)
	}
}
