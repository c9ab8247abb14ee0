package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// chromium finds a Chromium or Chrome binary for the console test.
func chromium() string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// TestConsole drives the web console of `logd serve --http` in headless Chromium: every page
// loads against a broker with data, a topic is created and a message produced and read back
// through the UI, and the throughput and lag charts move while a producer and a consumer
// run. LOGD_CONSOLE_SCREENSHOTS=DIR saves a PNG of each page there (docs/ holds them).
func TestConsole(t *testing.T) {
	browser := chromium()
	if browser == "" {
		if os.Getenv("LOGD_REQUIRE_CHROMIUM") != "" {
			t.Fatal("no chromium binary, and LOGD_REQUIRE_CHROMIUM is set: install Debian's chromium package")
		}
		t.Skip("no chromium binary: install Debian's chromium package (.ci/run does) to test the console")
	}
	bin := buildLogd(t)
	kafka, ops := startServeHTTP(t, bin)

	// Data: a topic with JSON records, a group that consumed part of it, and a producer and a
	// consumer that keep going while the charts are looked at.
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(kafka), kgo.DefaultProduceTopic("orders"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 3, 1, nil, "orders"); err != nil {
		t.Fatal(err)
	}
	for i := range 30 {
		if err := cl.ProduceSync(ctx, &kgo.Record{Key: fmt.Appendf(nil, "customer-%d", i%5), Value: fmt.Appendf(nil, `{"order":%d,"amount":%d}`, i, i*10)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	load, stopLoad := context.WithCancel(ctx)
	defer stopLoad()
	go func() { // a slow trickle, so rates and lag change between scrapes
		for i := 0; load.Err() == nil; i++ {
			cl.Produce(load, &kgo.Record{Value: fmt.Appendf(nil, `{"order":%d}`, 1000+i)}, nil)
			time.Sleep(20 * time.Millisecond)
		}
	}()
	consumer, err := kgo.NewClient(kgo.SeedBrokers(kafka), kgo.ConsumerGroup("billing"), kgo.ConsumeTopics("orders"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.ClientID("billing-1"), kgo.AutoCommitInterval(500*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer consumer.Close()
	go func() {
		for load.Err() == nil {
			consumer.PollRecords(load, 5) // slower than the producer: lag moves
			time.Sleep(200 * time.Millisecond)
		}
	}()

	alloc, cancelAlloc := chromedp.NewExecAllocator(ctx, append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(browser), chromedp.NoSandbox, chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.WindowSize(1280, 900))...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(alloc)
	defer cancelBrowser()
	if err := chromedp.Do(bctx, chromedp.Navigate("about:blank")); err != nil { // starts the browser
		t.Fatalf("start %s: %v", browser, err)
	}
	fail := func(what string, err error) {
		t.Helper()
		page, _ := chromedp.Run(bctx, chromedp.Evaluate[string](`(document.getElementById("main") || {dataset: {}}).dataset.page || ""`))
		body, _ := chromedp.Run(bctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
		t.Fatalf("%s: %v (page %q: %.600s)", what, err, page, body)
	}
	do := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		step, cancel := context.WithTimeout(bctx, 30*time.Second)
		defer cancel()
		if err := chromedp.Do(step, steps...); err != nil {
			fail(what, err)
		}
	}
	text := func(sel string) string {
		t.Helper()
		step, cancel := context.WithTimeout(bctx, 30*time.Second)
		defer cancel()
		s, err := chromedp.Run(step, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			fail("text of "+sel, err)
		}
		return s
	}
	waitJS := func(what, expr string, timeout time.Duration) {
		t.Helper()
		step, cancel := context.WithTimeout(bctx, timeout+5*time.Second)
		defer cancel()
		if _, err := chromedp.Run(step, chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(timeout))); err != nil {
			fail(what, err)
		}
	}
	shots := os.Getenv("LOGD_CONSOLE_SCREENSHOTS")
	screenshot := func(name string) {
		t.Helper()
		if shots == "" {
			return
		}
		png, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
		if err != nil {
			fail("screenshot "+name, err)
		}
		if err := os.WriteFile(filepath.Join(shots, "console-"+name+".png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	page := func(name string) chromedp.Action[chromedp.Void] {
		return chromedp.WaitVisible(chromedp.CSS(`main[data-page="` + name + `"]`))
	}
	base := "http://" + ops

	do("overview", chromedp.Navigate(base+"/"), page("overview"))
	if got := text("#brokers"); got != "1" {
		t.Fatalf("overview: brokers %q", got)
	}
	// Charts fill from /metrics scraped every 2 s: wait for a few points with traffic.
	waitJS("throughput chart", `(() => { const c = document.getElementById("chart-msgs"); return !!c && +c.dataset.points >= 3; })()`, 20*time.Second)
	screenshot("overview")

	do("topics", chromedp.Navigate(base+"/ui/#/topics"), page("topics"))
	if got := text("#topic-table"); !strings.Contains(got, "orders") {
		t.Fatalf("topics table: %q", got)
	}
	screenshot("topics")
	do("create topic", chromedp.SetValue(chromedp.CSS(`#create-topic input[name="name"]`), "made-in-ui"),
		chromedp.SetValue(chromedp.CSS(`#create-topic input[name="partitions"]`), "2"),
		chromedp.Click(chromedp.CSS(`#create-topic button`)), page("topics/made-in-ui"))
	tds, err := kadm.NewClient(cl).ListTopics(ctx, "made-in-ui")
	if err != nil || len(tds["made-in-ui"].Partitions) != 2 {
		t.Fatalf("topic created in the UI: %+v %v", tds, err)
	}
	do("produce in the UI", chromedp.SetValue(chromedp.CSS(`#produce input[name="value"]`), "hello from the console"),
		chromedp.SetValue(chromedp.CSS(`#produce input[name="key"]`), "k1"),
		chromedp.Click(chromedp.CSS(`#produce button`)))
	waitJS("produce report", `document.getElementById("produced").textContent.includes("offset 0")`, 10*time.Second)
	// The message browser finds the record produced through the UI in one of the partitions.
	found := false
	for _, p := range []string{"0", "1"} {
		do("browse partition "+p, chromedp.SetValue(chromedp.CSS(`#browse select[name="partition"]`), p),
			chromedp.Evaluate[chromedp.Void](`document.getElementById("messages").innerHTML = ""`),
			chromedp.Click(chromedp.CSS(`#browse button`)), chromedp.WaitVisible(chromedp.CSS(`#message-table`)))
		if strings.Contains(text("#message-table"), "hello from the console") {
			found = true
			break
		}
	}
	if !found {
		t.Fatal("the message produced in the UI is not in the message browser")
	}
	do("orders messages", chromedp.Navigate(base+"/ui/#/topics/orders"), page("topics/orders"),
		chromedp.SetValue(chromedp.CSS(`#browse select[name="view"]`), "json"),
		chromedp.Click(chromedp.CSS(`#browse button`)), chromedp.WaitVisible(chromedp.CSS(`#message-table`)))
	if got := text("#message-table"); !strings.Contains(got, `"amount"`) {
		t.Fatalf("orders messages (JSON view): %.300q", got)
	}
	if got := text("#config-table"); !strings.Contains(got, "retention.ms") {
		t.Fatalf("configs: %q", got)
	}
	screenshot("topic")

	do("groups", chromedp.Navigate(base+"/ui/#/groups"), page("groups"))
	waitJS("group listed", `document.getElementById("group-table").textContent.includes("billing")`, 10*time.Second)
	screenshot("groups")
	do("group", chromedp.Navigate(base+"/ui/#/groups/billing"), page("groups/billing"))
	if got := text("#member-table"); !strings.Contains(got, "billing-1") {
		t.Fatalf("members: %q", got)
	}
	waitJS("lag chart", `(() => { const c = document.getElementById("chart-lag"); return !!c && +c.dataset.points >= 3; })()`, 20*time.Second)
	if got := text("#lag-table"); !strings.Contains(got, "orders") {
		t.Fatalf("lag table: %q", got)
	}
	screenshot("group")
}
