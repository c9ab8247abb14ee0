package cluster

import (
	"maps"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/engine"
	"github.com/logd/logd/metadata"
)

// KIP-858 on the broker side: the registration names this broker's online log directories,
// every heartbeat its offline ones (the controller then moves the leadership of their
// partitions away: metadata.DirectoriesOffline), and runDirAssignments tells the controller
// which directory holds each replica (AssignReplicasToDirs) whenever the metadata says
// otherwise: a new replica, one moved by AlterReplicaLogDirs, or one the controller has
// never heard about (a cluster older than directory ids).

// maxDirAssignments bounds one AssignReplicasToDirs request; the rest go in the next pass.
const maxDirAssignments = 1000

// logDirIDs returns the ids of this broker's online and offline log directories. A directory
// that failed before its meta.properties was read has no id and is in neither: the
// registration leaves it out, so its replicas count as offline anyway.
func (n *Node) logDirIDs() (online, offline []metadata.TopicID) {
	for _, ld := range n.b.Engine().Dirs() {
		if ld.ID == (engine.DirID{}) {
			continue
		}
		if ld.Engine.Offline() != nil {
			offline = append(offline, metadata.TopicID(ld.ID))
		} else {
			online = append(online, metadata.TopicID(ld.ID))
		}
	}
	return online, offline
}

// runDirAssignments sends the controller the directories of this broker's replicas where the
// metadata does not have them yet, every resyncInterval until the node stops. A refused
// assignment (the topic was just deleted, the replica moved off this broker) is not retried
// once the metadata no longer lists the replica here.
func (n *Node) runDirAssignments() {
	defer n.wg.Done()
	t := time.NewTicker(resyncInterval)
	defer t.Stop()
	for {
		select {
		case <-n.stop:
			return
		case <-t.C:
		}
		cmd, ok := n.dirAssignments()
		if !ok {
			continue
		}
		var errs []error
		err := n.onController(func(c *activeCtl) (err error) {
			errs, err = c.AssignReplicasToDirs(cmd)
			return err
		}, func() (err error) {
			errs, err = n.forwardAssignReplicasToDirs(cmd)
			return err
		})
		if err != nil {
			n.log.Debug("could not record the log directories of replicas with the controller; retrying", "err", err)
			continue
		}
		for i, e := range errs {
			if e != nil {
				a := cmd.Assignments[i]
				n.log.Debug("the controller refused a replica's log directory", "topic_id", a.Topic.String(), "partition", a.Partition, "err", e)
			}
		}
	}
}

// dirAssignments lists this broker's replicas whose directory the metadata does not know
// (at most maxDirAssignments); false when there are none, or the broker is not registered.
func (n *Node) dirAssignments() (metadata.AssignReplicasToDirs, bool) {
	v := n.view.Load()
	r := n.reg.Load()
	if !n.registeredIn(v) {
		return metadata.AssignReplicasToDirs{}, false
	}
	cmd := metadata.AssignReplicasToDirs{BrokerID: n.id, BrokerEpoch: r.epoch}
	eng := n.b.Engine()
	for _, name := range slices.Sorted(maps.Keys(v.st.Topics)) {
		t := v.st.Topics[name]
		for p, pa := range t.Partitions {
			if !slices.Contains(pa.Replicas, n.id) {
				continue
			}
			ld := eng.DirOf(engine.TopicPartition{Topic: name, Partition: int32(p)})
			if ld == nil || ld.ID == (engine.DirID{}) || pa.Directories[n.id] == metadata.TopicID(ld.ID) {
				continue
			}
			cmd.Assignments = append(cmd.Assignments, metadata.DirAssignment{Topic: t.ID, Partition: int32(p), Dir: metadata.TopicID(ld.ID)})
			if len(cmd.Assignments) == maxDirAssignments {
				return cmd, true
			}
		}
	}
	return cmd, len(cmd.Assignments) > 0
}

// forwardAssignReplicasToDirs sends the assignments to the active controller as Kafka's
// AssignReplicasToDirs (grouped by directory and topic) and returns each one's refusal.
func (n *Node) forwardAssignReplicasToDirs(a metadata.AssignReplicasToDirs) ([]error, error) {
	req := kmsg.NewPtrAssignReplicasToDirsRequest()
	req.BrokerID, req.BrokerEpoch = a.BrokerID, a.BrokerEpoch
	type key struct {
		dir, topic metadata.TopicID
		partition  int32
	}
	for _, as := range a.Assignments {
		di := slices.IndexFunc(req.Directories, func(d kmsg.AssignReplicasToDirsRequestDirectory) bool { return d.ID == as.Dir })
		if di < 0 {
			d := kmsg.NewAssignReplicasToDirsRequestDirectory()
			d.ID = as.Dir
			req.Directories = append(req.Directories, d)
			di = len(req.Directories) - 1
		}
		d := &req.Directories[di]
		ti := slices.IndexFunc(d.Topics, func(t kmsg.AssignReplicasToDirsRequestDirectoryTopic) bool { return t.TopicID == as.Topic })
		if ti < 0 {
			t := kmsg.NewAssignReplicasToDirsRequestDirectoryTopic()
			t.TopicID = as.Topic
			d.Topics = append(d.Topics, t)
			ti = len(d.Topics) - 1
		}
		p := kmsg.NewAssignReplicasToDirsRequestDirectoryTopicPartition()
		p.Partition = as.Partition
		d.Topics[ti].Partitions = append(d.Topics[ti].Partitions, p)
	}
	answers := map[key]error{}
	err := n.forward(req, func(r kmsg.Response) (int16, *string) {
		resp := r.(*kmsg.AssignReplicasToDirsResponse)
		for _, d := range resp.Directories {
			for _, t := range d.Topics {
				for _, p := range t.Partitions {
					answers[key{d.ID, t.TopicID, p.Partition}] = codeErr(p.ErrorCode, nil)
				}
			}
		}
		return resp.ErrorCode, nil
	})
	if err != nil {
		return nil, err
	}
	errs := make([]error, len(a.Assignments))
	for i, as := range a.Assignments {
		e, ok := answers[key{as.Dir, as.Topic, as.Partition}]
		if !ok {
			e = kerr.UnknownServerError
		}
		errs[i] = e
	}
	return errs, nil
}
