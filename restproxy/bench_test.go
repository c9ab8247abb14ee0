package restproxy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/logd/logd/internal/testbroker"
)

// benchProxy starts a broker and the proxy and creates topic t; it returns the records URL.
func benchProxy(b *testing.B) string {
	addr := testbroker.Start(b)
	p, err := New(Config{Bootstrap: []string{addr}})
	if err != nil {
		b.Fatal(err)
	}
	hs := httptest.NewServer(p.Handler())
	b.Cleanup(func() { hs.Close(); p.Close() })
	resp, err := http.Get(hs.URL + "/v3/clusters")
	if err != nil {
		b.Fatal(err)
	}
	var cl struct {
		Data []struct {
			ClusterID string `json:"cluster_id"`
		} `json:"data"`
	}
	json.NewDecoder(resp.Body).Decode(&cl)
	resp.Body.Close()
	base := hs.URL + "/v3/clusters/" + cl.Data[0].ClusterID + "/topics"
	resp, err = http.Post(base, "application/json", bytes.NewReader([]byte(`{"topic_name":"t","partitions_count":4}`)))
	if err != nil || resp.StatusCode != 201 {
		b.Fatalf("create topic: %v %v", resp, err)
	}
	resp.Body.Close()
	return base + "/t/records"
}

// record is a 100-byte STRING value with a key.
func benchRecord(i int) string {
	return fmt.Sprintf(`{"key":{"type":"STRING","data":"device-%d"},"value":{"type":"STRING","data":"%090d"}}`, i%64, i)
}

// BenchmarkProduceStreamed: records/s of one streaming request of b.N records (a device's
// stream): every delivery report read and checked.
func BenchmarkProduceStreamed(b *testing.B) {
	url := benchProxy(b)
	var body bytes.Buffer
	for i := range b.N {
		body.WriteString(benchRecord(i))
	}
	b.SetBytes(100)
	b.ReportAllocs()
	b.ResetTimer()
	resp, err := http.Post(url, "application/json", &body)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	dec := json.NewDecoder(resp.Body)
	for i := range b.N {
		var rep produceResponse
		if err := dec.Decode(&rep); err != nil || rep.ErrorCode != 200 {
			b.Fatalf("report %d: %+v %v", i, rep, err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkProduceSingle: one record per HTTP request on kept-alive connections, 4 × GOMAXPROCS clients.
func BenchmarkProduceSingle(b *testing.B) {
	url := benchProxy(b)
	b.SetBytes(100)
	b.ReportAllocs()
	b.SetParallelism(4)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			resp, err := http.Post(url, "application/json", bytes.NewReader([]byte(benchRecord(i))))
			if err != nil {
				b.Error(err)
				return
			}
			var rep produceResponse
			err = json.NewDecoder(resp.Body).Decode(&rep)
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if err != nil || rep.ErrorCode != 200 {
				b.Errorf("report: %+v %v", rep, err)
				return
			}
			i++
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}
