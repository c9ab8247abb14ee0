package broker

import (
	"context"
	"testing"

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
	// The topic survives a restart with the same id.
	id := md.Topics[0].TopicID
	tb.restart()
	md, err = req.RequestWith(ctx, tb.client())
	if err != nil || md.Topics[0].TopicID != id {
		t.Fatalf("after restart: %+v %v", md.Topics, err)
	}
}
