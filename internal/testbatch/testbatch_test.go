package testbatch_test

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/logd/logd/internal/testbatch"
	"github.com/logd/logd/segment"
)

// TestNotLinkedIntoLogd: no test helper (internal/test*) is a dependency of the shipped
// binary.
func TestNotLinkedIntoLogd(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	out, err := exec.Command("go", "list", "-deps", "github.com/logd/logd/cmd/logd").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, p := range strings.Fields(string(out)) {
		if strings.HasPrefix(p, "github.com/logd/logd/internal/test") {
			t.Errorf("cmd/logd links the test helper %s", p)
		}
	}
}

// TestBuild: the options land in the header and the batch validates.
func TestBuild(t *testing.T) {
	b := testbatch.Build(testbatch.Options{Records: 4, ValueSize: 3, BaseTimestamp: 10, TimestampStep: 2,
		Idempotent: true, ProducerID: 5, ProducerEpoch: 1, BaseSequence: 9})
	h, err := segment.ValidateBatch(b)
	if err != nil {
		t.Fatal(err)
	}
	if h.RecordCount != 4 || h.MaxTimestamp != 16 || h.ProducerID != 5 || h.LastSequence() != 12 {
		t.Fatalf("header %+v", h)
	}
	if h, _ := segment.ParseHeader(testbatch.Build(testbatch.Options{})); h.ProducerID != segment.NoProducerID || h.BaseSequence != -1 {
		t.Fatalf("default producer fields %+v", h)
	}
}
