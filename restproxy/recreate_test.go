package restproxy

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestProduceToRecreatedTopic: a topic deleted and created again under its name (a new topic
// id) takes records at once when the proxy deleted it, and from the next request on when
// another client did (the first is answered with the stale id's error).
func TestProduceToRecreatedTopic(t *testing.T) {
	r, addr := startProxy(t, Config{})
	const rec = `{"value":{"type":"STRING","data":"x"}}`
	var d produceResponse
	r.do("POST", "/topics", `{"topic_name":"again","partitions_count":1}`, 201, nil)
	r.do("POST", "/topics/again/records", rec, 200, &d)
	r.do("DELETE", "/topics/again", "", 204, nil)
	r.do("POST", "/topics", `{"topic_name":"again","partitions_count":1}`, 201, nil)
	if r.do("POST", "/topics/again/records", rec, 200, &d); d.ErrorCode != 200 || *d.Offset != 0 {
		t.Fatalf("produce after the proxy recreated the topic: %+v", d)
	}

	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := adm.DeleteTopic(ctx, "again"); err != nil {
		t.Fatal(err)
	}
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "again"); err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ {
		d = produceResponse{}
		r.do("POST", "/topics/again/records", rec, 200, &d)
		if d.ErrorCode == 200 {
			break
		}
		if i == 5 || d.ErrorCode != codeUnknownTopicPart {
			t.Fatalf("produce %d after another client recreated the topic: %+v", i, d)
		}
	}
}
