package broker

import (
	"context"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestApiVersionsAndMetadata(t *testing.T) {
	tb := startBroker(t, nil)
	cl := tb.client()
	ctx := context.Background()
	av, err := kmsg.NewPtrApiVersionsRequest().RequestWith(ctx, cl)
	if err != nil || av.ErrorCode != 0 {
		t.Fatalf("ApiVersions: %v %v", av, err)
	}
	keys := map[int16]kmsg.ApiVersionsResponseApiKey{}
	for _, k := range av.ApiKeys {
		keys[k.ApiKey] = k
	}
	if k, ok := keys[int16(kmsg.Metadata)]; !ok || k.MinVersion != 0 || k.MaxVersion < 12 {
		t.Fatalf("metadata versions %+v", k)
	}
	// Auto-creation through Metadata, as clients do.
	req := kmsg.NewPtrMetadataRequest()
	topic := "auto-created"
	req.Topics = []kmsg.MetadataRequestTopic{{Topic: &topic}}
	req.AllowAutoTopicCreation = true
	md, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if len(md.Topics) != 1 || md.Topics[0].ErrorCode != 0 || len(md.Topics[0].Partitions) != 1 || md.Topics[0].TopicID == [16]byte{} {
		t.Fatalf("metadata: %+v", md.Topics)
	}
	if len(md.Brokers) != 1 || md.Brokers[0].Port == 0 {
		t.Fatalf("brokers: %+v", md.Brokers)
	}
	// v13 (the newest): lookups by topic id, an unknown id UNKNOWN_TOPIC_ID, no top-level error.
	rc := dialDP(t, tb)
	byID := kmsg.NewPtrMetadataRequest()
	byID.Version = 13
	byID.Topics = []kmsg.MetadataRequestTopic{{TopicID: md.Topics[0].TopicID}, {TopicID: [16]byte{9, 9}}}
	m13 := rc.request(byID).(*kmsg.MetadataResponse)
	if m13.ErrorCode != 0 || len(m13.Topics) != 2 || m13.Topics[0].ErrorCode != 0 || m13.Topics[0].Topic == nil || *m13.Topics[0].Topic != topic ||
		m13.Topics[1].ErrorCode != kerr.UnknownTopicID.Code {
		t.Fatalf("metadata v13 by topic id: %+v", m13)
	}
	// The topic survives a restart with the same id.
	id := md.Topics[0].TopicID
	tb.restart()
	md, err = req.RequestWith(ctx, tb.client())
	if err != nil || md.Topics[0].TopicID != id {
		t.Fatalf("after restart: %+v %v", md.Topics, err)
	}
}
