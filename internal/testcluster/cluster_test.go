package testcluster

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"testing"
)

func TestPrefixWriter(t *testing.T) {
	var out bytes.Buffer
	var mu sync.Mutex
	w := &prefixWriter{mu: &mu, w: &out, prefix: "n2 "}
	w.Write([]byte("a\nb"))
	w.Write([]byte("c\n\nd"))
	if got, want := out.String(), "n2 a\nn2 bc\nn2 \n"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestLayout(t *testing.T) {
	for _, nodes := range []int{1, 3} {
		c := &Cluster{cfg: Config{Binary: "/bin/logd", Nodes: nodes, Dir: t.TempDir(), ExtraArgs: []string{"--http", "x"}}}
		if err := c.layout(); err != nil {
			t.Fatal(err)
		}
		n := c.Nodes[nodes-1]
		args := strings.Join(n.argv, " ")
		for _, want := range []string{"/bin/logd serve --node-id " + fmt.Sprint(n.ID), "--listen " + n.Addr, "--data-dir " + n.DataDir, "--http x"} {
			if !strings.Contains(args, want) {
				t.Errorf("%d nodes: %q lacks %q", nodes, args, want)
			}
		}
		cluster := strings.Contains(args, "--controller-quorum-voters 1@")
		if cluster != (nodes > 1) {
			t.Errorf("%d nodes: %q: controller flags %v", nodes, args, cluster)
		}
	}
}
