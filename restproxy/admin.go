package restproxy

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// maxAdminBody caps the JSON body of the admin endpoints.
const maxAdminBody = 1 << 20

func (p *Proxy) clusterData(r *http.Request, m kadm.Metadata) clusterData {
	l := newLinks(r, m.Cluster)
	c := clusterData{
		Kind:                   "KafkaCluster",
		Metadata:               resourceMeta{Self: l.url(), ResourceName: l.crn()},
		ClusterID:              m.Cluster,
		ACLs:                   rel(l.url("acls")),
		Brokers:                rel(l.url("brokers")),
		BrokerConfigs:          rel(l.url("broker-configs")),
		ConsumerGroups:         rel(l.url("consumer-groups")),
		Topics:                 rel(l.url("topics")),
		PartitionReassignments: rel(l.url("topics", "-", "partitions", "-", "reassignment")),
	}
	if m.Controller >= 0 {
		ctl := rel(l.url("brokers", strconv.Itoa(int(m.Controller))))
		c.Controller = &ctl
	}
	return c
}

func (p *Proxy) listClusters(w http.ResponseWriter, r *http.Request) error {
	m, err := p.metadata(r.Context(), []string{})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, newList("KafkaClusterList", base(r)+"/v3/clusters", []clusterData{p.clusterData(r, m)}))
	return nil
}

func (p *Proxy) getCluster(w http.ResponseWriter, r *http.Request, _ string) error {
	m, err := p.metadata(r.Context(), []string{})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, p.clusterData(r, m))
	return nil
}

func brokerDataOf(l links, b kadm.BrokerDetail) brokerData {
	id := strconv.Itoa(int(b.NodeID))
	host, port := b.Host, b.Port
	return brokerData{
		Kind:              "KafkaBroker",
		Metadata:          resourceMeta{Self: l.url("brokers", id), ResourceName: l.crn("broker=" + id)},
		ClusterID:         l.cid,
		BrokerID:          b.NodeID,
		Host:              &host,
		Port:              &port,
		Rack:              b.Rack,
		Configs:           rel(l.url("brokers", id, "configs")),
		PartitionReplicas: rel(l.url("brokers", id, "partition-replicas")),
	}
}

func (p *Proxy) listBrokers(w http.ResponseWriter, r *http.Request, cid string) error {
	m, err := p.metadata(r.Context(), []string{})
	if err != nil {
		return err
	}
	bs := m.Brokers
	l := newLinks(r, cid)
	var out []brokerData
	for _, b := range bs {
		out = append(out, brokerDataOf(l, b))
	}
	writeJSON(w, http.StatusOK, newList("KafkaBrokerList", l.url("brokers"), out))
	return nil
}

func (p *Proxy) getBroker(w http.ResponseWriter, r *http.Request, cid string) error {
	id, err := strconv.ParseInt(r.PathValue("broker_id"), 10, 32)
	if err != nil {
		return badRequest(fmt.Sprintf("broker_id %q is not a number", r.PathValue("broker_id")))
	}
	m, err := p.metadata(r.Context(), []string{})
	if err != nil {
		return err
	}
	bs := m.Brokers
	for _, b := range bs {
		if b.NodeID == int32(id) {
			writeJSON(w, http.StatusOK, brokerDataOf(newLinks(r, cid), b))
			return nil
		}
	}
	return &apiError{http.StatusNotFound, http.StatusNotFound, fmt.Sprintf("Broker %d cannot be found.", id)}
}

func topicDataOf(l links, t kadm.TopicDetail) topicData {
	rf := 0
	for _, pd := range t.Partitions {
		rf = max(rf, len(pd.Replicas))
	}
	return topicData{
		Kind:                   "KafkaTopic",
		Metadata:               resourceMeta{Self: l.url("topics", t.Topic), ResourceName: l.crn("topic=" + t.Topic)},
		ClusterID:              l.cid,
		TopicName:              t.Topic,
		IsInternal:             t.IsInternal,
		ReplicationFactor:      rf,
		PartitionsCount:        len(t.Partitions),
		Partitions:             rel(l.url("topics", t.Topic, "partitions")),
		Configs:                rel(l.url("topics", t.Topic, "configs")),
		PartitionReassignments: rel(l.url("topics", t.Topic, "partitions", "-", "reassignment")),
	}
}

// topic describes one topic; an unknown one is Confluent's 404.
func (p *Proxy) topic(r *http.Request) (kadm.TopicDetail, error) {
	name := r.PathValue("topic")
	m, err := p.metadata(r.Context(), []string{name})
	if err != nil {
		return kadm.TopicDetail{}, err
	}
	ts := m.Topics
	t, ok := ts[name]
	if !ok || t.Err != nil {
		if t.Err != nil && t.Err != kerr.UnknownTopicOrPartition {
			return t, t.Err
		}
		return t, &apiError{http.StatusNotFound, codeUnknownTopicPart, kerr.UnknownTopicOrPartition.Description}
	}
	return t, nil
}

func (p *Proxy) listTopics(w http.ResponseWriter, r *http.Request, cid string) error {
	m, err := p.metadata(r.Context(), nil)
	if err != nil {
		return err
	}
	ts := m.Topics
	l := newLinks(r, cid)
	var out []topicData
	for _, t := range ts.Sorted() {
		out = append(out, topicDataOf(l, t))
	}
	writeJSON(w, http.StatusOK, newList("KafkaTopicList", l.url("topics"), out))
	return nil
}

func (p *Proxy) getTopic(w http.ResponseWriter, r *http.Request, cid string) error {
	t, err := p.topic(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, topicDataOf(newLinks(r, cid), t))
	return nil
}

// decodeBody reads a JSON body of at most maxAdminBody bytes into v.
func decodeBody(r *http.Request, v any) error {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxAdminBody+1))
	if err != nil {
		return badRequest("cannot read the request body: " + err.Error())
	}
	if len(body) > maxAdminBody {
		return &apiError{http.StatusRequestEntityTooLarge, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body over %d bytes", maxAdminBody)}
	}
	if err := json.Unmarshal(body, v); err != nil {
		return badRequest("malformed JSON: " + err.Error())
	}
	return nil
}

func (p *Proxy) createTopic(w http.ResponseWriter, r *http.Request, cid string) error {
	var req createTopicRequest
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	if req.TopicName == "" {
		return badRequest("topic_name is required")
	}
	if req.ReplicasAssign != nil {
		return badRequest("replicas_assignments is not supported: give partitions_count and replication_factor")
	}
	partitions, rf := int32(-1), int16(-1)
	if req.PartitionsCount != nil {
		partitions = *req.PartitionsCount
	}
	if req.ReplicationFactor != nil {
		rf = *req.ReplicationFactor
	}
	configs := map[string]*string{}
	for _, c := range req.Configs {
		configs[c.Name] = c.Value
	}
	create := p.session(r.Context()).adm.CreateTopic
	if req.ValidateOnly {
		create = func(ctx context.Context, partitions int32, rf int16, configs map[string]*string, topic string) (kadm.CreateTopicResponse, error) {
			rs, err := p.session(r.Context()).adm.ValidateCreateTopics(ctx, partitions, rf, configs, topic)
			if err != nil {
				return kadm.CreateTopicResponse{}, err
			}
			return rs.On(topic, nil)
		}
	}
	resp, err := create(r.Context(), partitions, rf, configs, req.TopicName)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		if resp.ErrMessage != "" {
			e := errorFor(err)
			e.msg = resp.ErrMessage
			return e
		}
		return err
	}
	l := newLinks(r, cid)
	t := topicData{
		Kind:                   "KafkaTopic",
		Metadata:               resourceMeta{Self: l.url("topics", req.TopicName), ResourceName: l.crn("topic=" + req.TopicName)},
		ClusterID:              cid,
		TopicName:              req.TopicName,
		ReplicationFactor:      int(resp.ReplicationFactor),
		PartitionsCount:        int(resp.NumPartitions),
		Partitions:             rel(l.url("topics", req.TopicName, "partitions")),
		Configs:                rel(l.url("topics", req.TopicName, "configs")),
		PartitionReassignments: rel(l.url("topics", req.TopicName, "partitions", "-", "reassignment")),
	}
	writeJSON(w, http.StatusCreated, t)
	return nil
}

func (p *Proxy) deleteTopic(w http.ResponseWriter, r *http.Request, _ string) error {
	s := p.session(r.Context())
	resp, err := s.adm.DeleteTopic(r.Context(), r.PathValue("topic"))
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		return err
	}
	// A topic created again under this name gets another id; the client forgets this one
	// (produce.go handles a deletion made elsewhere).
	s.cl.PurgeTopicsFromClient(r.PathValue("topic"))
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func partitionDataOf(l links, t string, pd kadm.PartitionDetail) partitionData {
	id := strconv.Itoa(int(pd.Partition))
	out := partitionData{
		Kind:         "KafkaPartition",
		Metadata:     resourceMeta{Self: l.url("topics", t, "partitions", id), ResourceName: l.crn("topic="+t, "partition="+id)},
		ClusterID:    l.cid,
		TopicName:    t,
		PartitionID:  pd.Partition,
		Replicas:     rel(l.url("topics", t, "partitions", id, "replicas")),
		Reassignment: rel(l.url("topics", t, "partitions", id, "reassignment")),
	}
	if pd.Leader >= 0 {
		leader := rel(l.url("topics", t, "partitions", id, "replicas", strconv.Itoa(int(pd.Leader))))
		out.Leader = &leader
	}
	return out
}

func (p *Proxy) listPartitions(w http.ResponseWriter, r *http.Request, cid string) error {
	t, err := p.topic(r)
	if err != nil {
		return err
	}
	l := newLinks(r, cid)
	var out []partitionData
	for _, pd := range t.Partitions.Sorted() {
		out = append(out, partitionDataOf(l, t.Topic, pd))
	}
	writeJSON(w, http.StatusOK, newList("KafkaPartitionList", l.url("topics", t.Topic, "partitions"), out))
	return nil
}

// partitionID parses the path's partition of t; an unknown one is Confluent's 404.
func partitionID(r *http.Request, t kadm.TopicDetail) (int32, error) {
	n, err := strconv.ParseInt(r.PathValue("partition"), 10, 32)
	if err != nil {
		return 0, badRequest(fmt.Sprintf("partition_id %q is not a number", r.PathValue("partition")))
	}
	if _, ok := t.Partitions[int32(n)]; !ok {
		return 0, &apiError{http.StatusNotFound, codePartitionNotFound, "Partition not found."}
	}
	return int32(n), nil
}

func (p *Proxy) getPartition(w http.ResponseWriter, r *http.Request, cid string) error {
	t, err := p.topic(r)
	if err != nil {
		return err
	}
	n, err := partitionID(r, t)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, partitionDataOf(newLinks(r, cid), t.Topic, t.Partitions[n]))
	return nil
}

// configSource is the v3 name of a config source.
func configSource(s kmsg.ConfigSource) string {
	switch s {
	case kmsg.ConfigSourceDynamicTopicConfig:
		return "DYNAMIC_TOPIC_CONFIG"
	case kmsg.ConfigSourceDynamicBrokerConfig:
		return "DYNAMIC_BROKER_CONFIG"
	case kmsg.ConfigSourceDynamicDefaultBrokerConfig:
		return "DYNAMIC_DEFAULT_BROKER_CONFIG"
	case kmsg.ConfigSourceStaticBrokerConfig:
		return "STATIC_BROKER_CONFIG"
	case kmsg.ConfigSourceDefaultConfig:
		return "DEFAULT_CONFIG"
	case kmsg.ConfigSourceDynamicBrokerLoggerConfig:
		return "DYNAMIC_BROKER_LOGGER_CONFIG"
	}
	return "UNKNOWN"
}

func topicConfigOf(l links, topic string, c kadm.Config) topicConfigData {
	out := topicConfigData{
		Kind:        "KafkaTopicConfig",
		Metadata:    resourceMeta{Self: l.url("topics", topic, "configs", c.Key), ResourceName: l.crn("topic="+topic, "config="+c.Key)},
		ClusterID:   l.cid,
		TopicName:   topic,
		Name:        c.Key,
		Value:       c.Value,
		IsDefault:   c.Source == kmsg.ConfigSourceDefaultConfig,
		IsSensitive: c.Sensitive,
		Source:      configSource(c.Source),
		Synonyms:    []configSynonym{},
	}
	for _, s := range c.Synonyms {
		out.Synonyms = append(out.Synonyms, configSynonym{Name: s.Key, Value: s.Value, Source: configSource(s.Source)})
	}
	return out
}

// topicConfigs describes the configs of the path's topic.
func (p *Proxy) topicConfigs(r *http.Request) ([]kadm.Config, error) {
	name := r.PathValue("topic")
	rcs, err := p.session(r.Context()).adm.DescribeTopicConfigs(r.Context(), name)
	if err != nil {
		return nil, err
	}
	rc, err := rcs.On(name, nil)
	if err == nil {
		err = rc.Err
	}
	if err != nil {
		return nil, err
	}
	slices.SortFunc(rc.Configs, func(a, b kadm.Config) int { return strings.Compare(a.Key, b.Key) })
	return rc.Configs, nil
}

func (p *Proxy) listTopicConfigs(w http.ResponseWriter, r *http.Request, cid string) error {
	cs, err := p.topicConfigs(r)
	if err != nil {
		return err
	}
	l := newLinks(r, cid)
	topic := r.PathValue("topic")
	var out []topicConfigData
	for _, c := range cs {
		out = append(out, topicConfigOf(l, topic, c))
	}
	writeJSON(w, http.StatusOK, newList("KafkaTopicConfigList", l.url("topics", topic, "configs"), out))
	return nil
}

func (p *Proxy) getTopicConfig(w http.ResponseWriter, r *http.Request, cid string) error {
	cs, err := p.topicConfigs(r)
	if err != nil {
		return err
	}
	name := r.PathValue("name")
	for _, c := range cs {
		if c.Key == name {
			writeJSON(w, http.StatusOK, topicConfigOf(newLinks(r, cid), r.PathValue("topic"), c))
			return nil
		}
	}
	return &apiError{http.StatusNotFound, http.StatusNotFound, fmt.Sprintf("Config %s cannot be found for topic %s.", name, r.PathValue("topic"))}
}

// alter applies incremental config changes to the path's topic.
func (p *Proxy) alter(r *http.Request, changes []kadm.AlterConfig, validateOnly bool) error {
	topic := r.PathValue("topic")
	alter := p.session(r.Context()).adm.AlterTopicConfigs
	if validateOnly {
		alter = p.session(r.Context()).adm.ValidateAlterTopicConfigs
	}
	rs, err := alter(r.Context(), changes, topic)
	if err != nil {
		return err
	}
	resp, err := rs.On(topic, nil)
	if err == nil {
		err = resp.Err
	}
	if err != nil && resp.ErrMessage != "" {
		e := errorFor(err)
		e.msg = resp.ErrMessage
		return e
	}
	return err
}

func (p *Proxy) setTopicConfig(w http.ResponseWriter, r *http.Request, _ string) error {
	var req struct {
		Value *string `json:"value"`
	}
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	if err := p.alter(r, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: r.PathValue("name"), Value: req.Value}}, false); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (p *Proxy) resetTopicConfig(w http.ResponseWriter, r *http.Request, _ string) error {
	if err := p.alter(r, []kadm.AlterConfig{{Op: kadm.DeleteConfig, Name: r.PathValue("name")}}, false); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (p *Proxy) alterTopicConfigs(w http.ResponseWriter, r *http.Request, _ string) error {
	var req struct {
		Data         []nvp `json:"data"`
		ValidateOnly bool  `json:"validate_only"`
	}
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	var changes []kadm.AlterConfig
	for _, c := range req.Data {
		op := kadm.SetConfig
		if c.Operation != nil {
			switch strings.ToUpper(*c.Operation) {
			case "SET":
			case "DELETE":
				op = kadm.DeleteConfig
			default:
				return badRequest(fmt.Sprintf("operation %q of config %s: want SET or DELETE", *c.Operation, c.Name))
			}
		}
		changes = append(changes, kadm.AlterConfig{Op: op, Name: c.Name, Value: c.Value})
	}
	if len(changes) == 0 {
		return badRequest("data lists no configs to alter")
	}
	if err := p.alter(r, changes, req.ValidateOnly); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
