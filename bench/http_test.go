package bench

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/logd/logd/internal/testbroker"
	"github.com/logd/logd/restproxy"
)

// TestRunHTTP runs the REST proxy workload for a second each way against a proxy in front of
// a real broker: records are produced and acknowledged, latencies recorded, and the topic the
// run created is gone afterwards.
func TestRunHTTP(t *testing.T) {
	p, err := restproxy.New(restproxy.Config{Bootstrap: []string{testbroker.Start(t)}})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(p.Handler())
	t.Cleanup(func() { hs.Close(); p.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, streaming := range []bool{false, true} {
		r, err := RunHTTP(ctx, HTTPOptions{URL: hs.URL, Duration: time.Second, Connections: 2, Size: 50, Streaming: streaming})
		if err != nil {
			t.Fatalf("streaming=%v: %v", streaming, err)
		}
		if r.Records == 0 || r.Errors != 0 || r.RecordsPerSec <= 0 || r.P99Ms <= 0 || r.P50Ms > r.P99Ms {
			t.Fatalf("streaming=%v: %+v", streaming, r)
		}
		var topics struct {
			Data []struct {
				TopicName string `json:"topic_name"`
			} `json:"data"`
		}
		var clusters struct {
			Data []struct {
				ClusterID string `json:"cluster_id"`
			} `json:"data"`
		}
		if err := httpJSON(ctx, "GET", hs.URL+"/v3/clusters", "", &clusters); err != nil {
			t.Fatal(err)
		}
		if err := httpJSON(ctx, "GET", hs.URL+"/v3/clusters/"+clusters.Data[0].ClusterID+"/topics", "", &topics); err != nil {
			t.Fatal(err)
		}
		for _, tp := range topics.Data {
			if tp.TopicName == "logd-bench-http" {
				t.Fatalf("streaming=%v: the run left its topic behind", streaming)
			}
		}
	}
}
