//go:build compat

package compat

// Kafka Streams with group.protocol=streams (KIP-1071, issue 17): the broker registers the
// app's topology, creates its repartition and changelog topics and assigns the tasks
// (StreamsGroupHeartbeat). The WordCount case runs as with the classic protocol (output,
// restore from the changelog, a second instance taking half of the tasks and leaving,
// exactly_once_v2), plus a scenario where one of two instances is killed and the survivor
// gets its tasks after the session timeout, and kafka-streams-groups lists and describes
// the group.

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// streamsSessionTimeout is the broker's streams.session.timeout.ms (Kafka's default,
// logd's too): a killed instance keeps its tasks this long.
const streamsSessionTimeout = 45 * time.Second

func TestStreamsGroupProtocolWordCount(t *testing.T) {
	c := wordCountCaseWith("at_least_once", "streams")
	// kafka-streams-application-reset refuses a group with members it cannot see through
	// the classic APIs; the reset is checked with the classic protocol only.
	c.resetInputs = ""
	c.run(t)
	c.runKill(t)
}

// TestStreamsGroupProtocolWordCountEOS: the WordCount with exactly_once_v2 under the streams
// protocol (transactional offset commits by streams group members): scaled out to two
// instances and back, then one of two instances killed with kill -9 mid-stream, its output
// still exact (every count once, in sequence). The classic case's crash-and-restart
// scenario is not run: a restarted instance is a new member, and the killed one keeps its
// tasks for the broker's streams.session.timeout.ms (45 s, Kafka's default), longer than
// that scenario waits for output.
func TestStreamsGroupProtocolWordCountEOS(t *testing.T) {
	c := wordCountCaseWith("exactly_once_v2", "streams")
	c.tasks = 2 * streamsParts // the split into words, the count
	c.scaleOut = [2]func(s *S){c.crash[1], c.crash[2]}
	c.crash = [3]func(s *S){}
	c.run(t)
	c.runKill(t)
}

// runKill runs scenario "streams-<app>-streams-protocol-kill": two instances share the
// tasks; one is killed with SIGKILL (it never leaves) and the other must own every task once
// the dead member's session expired, its output still right. kafka-streams-groups lists the
// group and describes its members meanwhile, and at the end deletes the group with its
// internal topics.
func (c *streamsCase) runKill(t *testing.T) {
	stateDir := filepath.Join(tmpDir, c.appID+"-kill")
	scenario(t, "java", c.name("kill"), streamsSessionTimeout+2*streamsTimeout, func(s *S) {
		a := c.start(s, t, stateDir)
		b := c.start(s, t, stateDir+"-b")
		waitTasks(s, c.tasks, a, b)
		list := kafkaTool(s, "kafka-streams-groups", "org.apache.kafka.tools.streams.StreamsGroupCommand", "--list")
		if !strings.Contains(list, c.appID) {
			s.Fatalf("kafka-streams-groups --list does not show %s: %s", c.appID, lastLines(list, 5))
		}
		desc := kafkaTool(s, "kafka-streams-groups", "org.apache.kafka.tools.streams.StreamsGroupCommand",
			"--describe", "--group", c.appID, "--members")
		if strings.Count(desc, c.appID) < 2 {
			s.Fatalf("kafka-streams-groups --describe --members does not show two members of %s: %s", c.appID, lastLines(desc, 6))
		}
		b.kill(s)
		deadline := time.Now().Add(streamsSessionTimeout + streamsTimeout)
		for {
			a.check(s)
			a.mu.Lock()
			tasks := a.tasks
			a.mu.Unlock()
			if tasks != "" && len(strings.Split(tasks, ",")) == c.tasks {
				break
			}
			if time.Now().After(deadline) {
				s.Fatalf("the survivor holds %q, not all %d tasks, %v after the kill (log %s)", tasks, c.tasks,
					streamsSessionTimeout+streamsTimeout, a.logPath)
			}
			time.Sleep(500 * time.Millisecond)
		}
		reader := newOutputReader(s, t, c.topics[len(c.topics)-1], c.eos(), c.decode)
		c.scaleOut[0](s)
		reader.waitFor(s, a, c.app+" after the other instance was killed", c.check)
		a.stop(s)
		// The group is empty now: kafka-streams-groups deletes it and its internal topics.
		del := kafkaTool(s, "kafka-streams-groups", "org.apache.kafka.tools.streams.StreamsGroupCommand",
			"--delete", "--group", c.appID, "--delete-all-internal-topics")
		if strings.Count(del, "was successful") != 2 {
			s.Fatalf("kafka-streams-groups --delete --delete-all-internal-topics: %s", lastLines(del, 4))
		}
	})
}
