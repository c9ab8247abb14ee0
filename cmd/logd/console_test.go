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

// ui drives one headless Chromium for a console test.
type ui struct {
	t     *testing.T
	ctx   context.Context // the browser's
	shots string          // LOGD_CONSOLE_SCREENSHOTS: where screenshots go ("" for none)
}

// needChromium returns the browser's path, skipping the test without one (failing it when
// LOGD_REQUIRE_CHROMIUM is set).
func needChromium(t *testing.T) string {
	browser := chromium()
	if browser == "" {
		if os.Getenv("LOGD_REQUIRE_CHROMIUM") != "" {
			t.Fatal("no chromium binary, and LOGD_REQUIRE_CHROMIUM is set: install Debian's chromium package")
		}
		t.Skip("no chromium binary: install Debian's chromium package (.ci/run does) to test the console")
	}
	return browser
}

// newUI starts browser, headless, for the test's life (or ctx's).
func newUI(t *testing.T, ctx context.Context, browser string) *ui {
	t.Helper()
	alloc, cancelAlloc := chromedp.NewExecAllocator(ctx, append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(browser), chromedp.NoSandbox, chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.WindowSize(1280, 900))...)
	t.Cleanup(cancelAlloc)
	bctx, cancelBrowser := chromedp.NewContext(alloc)
	t.Cleanup(cancelBrowser)
	if err := chromedp.Do(bctx, chromedp.Navigate("about:blank")); err != nil { // starts the browser
		t.Fatalf("start %s: %v", browser, err)
	}
	return &ui{t: t, ctx: bctx, shots: os.Getenv("LOGD_CONSOLE_SCREENSHOTS")}
}

// fail ends the test with what the page shows.
func (u *ui) fail(what string, err error) {
	u.t.Helper()
	page, _ := chromedp.Run(u.ctx, chromedp.Evaluate[string](`(document.getElementById("main") || {dataset: {}}).dataset.page || ""`))
	body, _ := chromedp.Run(u.ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
	u.t.Fatalf("%s: %v (page %q: %.600s)", what, err, page, body)
}

// do runs steps, within 30 s.
func (u *ui) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	u.t.Helper()
	step, cancel := context.WithTimeout(u.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(step, steps...); err != nil {
		u.fail(what, err)
	}
}

// text is the text of the element sel selects.
func (u *ui) text(sel string) string {
	u.t.Helper()
	step, cancel := context.WithTimeout(u.ctx, 30*time.Second)
	defer cancel()
	s, err := chromedp.Run(step, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		u.fail("text of "+sel, err)
	}
	return s
}

// waitJS polls expr until it is true, for up to timeout.
func (u *ui) waitJS(what, expr string, timeout time.Duration) {
	u.t.Helper()
	step, cancel := context.WithTimeout(u.ctx, timeout+5*time.Second)
	defer cancel()
	if _, err := chromedp.Run(step, chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(timeout))); err != nil {
		u.fail(what, err)
	}
}

// screenshot saves the page as console-NAME.png under LOGD_CONSOLE_SCREENSHOTS, if set.
func (u *ui) screenshot(name string) {
	u.t.Helper()
	if u.shots == "" {
		return
	}
	png, err := chromedp.Run(u.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		u.fail("screenshot "+name, err)
	}
	if err := os.WriteFile(filepath.Join(u.shots, "console-"+name+".png"), png, 0o644); err != nil {
		u.t.Fatal(err)
	}
}

// uiPage waits for the console to show the page name.
func uiPage(name string) chromedp.Action[chromedp.Void] {
	return chromedp.WaitVisible(chromedp.CSS(`main[data-page="` + name + `"]`))
}

// TestConsole drives the web console of `logd serve --http` in headless Chromium: every page
// loads against a broker with data, a topic is created and a message produced and read back
// through the UI, and the throughput and lag charts move while a producer and a consumer
// run; an empty group's offsets are reset after a preview; messages are read from a time; an
// open transaction and a share group with a member show with their partitions.
// LOGD_CONSOLE_SCREENSHOTS=DIR saves a PNG of each page there (docs/ holds them).
func TestConsole(t *testing.T) {
	browser := needChromium(t)
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

	ui := newUI(t, ctx, browser)
	do, text, waitJS, screenshot := ui.do, ui.text, ui.waitJS, ui.screenshot
	base := "http://" + ops

	page := uiPage
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
	if got := text("#reset-offsets-off"); !strings.Contains(got, "empty") { // billing has a member
		t.Fatalf("reset offsets of an active group: %q", got)
	}

	// An empty group's offsets are reset to the earliest, after a preview and a confirmation.
	adm := kadm.NewClient(cl)
	var os kadm.Offsets
	for p := range int32(3) {
		os.Add(kadm.Offset{Topic: "orders", Partition: p, At: 2, LeaderEpoch: -1})
	}
	if err := adm.CommitAllOffsets(ctx, "archive", os); err != nil {
		t.Fatal(err)
	}
	do("empty group", chromedp.Navigate(base+"/ui/#/groups/archive"), page("groups/archive"),
		chromedp.SetValue(chromedp.CSS(`#reset-offsets select[name="to"]`), "earliest"),
		chromedp.Click(chromedp.CSS(`#reset-preview-button`)), chromedp.WaitVisible(chromedp.CSS(`#reset-table`)))
	if got := text("#reset-table"); strings.Count(got, "orders") != 3 {
		t.Fatalf("reset preview: %q", got)
	}
	screenshot("group-reset")
	// The page reloads itself after the reset: data-page comes back when it has, and only then
	// may the test navigate on (or the reload would overwrite the next page).
	do("reset", chromedp.Evaluate[chromedp.Void](`window.confirm = () => true; document.getElementById("main").dataset.page = ""`),
		chromedp.Click(chromedp.CSS(`#reset-offsets button[type="submit"]`)), page("groups/archive"))
	deadline := time.Now().Add(20 * time.Second)
	for {
		offs, err := adm.FetchOffsets(ctx, "archive")
		if err == nil && offs.Error() == nil {
			zero := 0
			offs.Each(func(o kadm.OffsetResponse) {
				if o.At == 0 {
					zero++
				}
			})
			if zero == 3 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("archive's offsets after the reset in the UI: %v %v", offs, err)
		}
		time.Sleep(100 * time.Millisecond)
	}

	// The browser reads from a time: long ago is the partition's first offset.
	do("browse by time", chromedp.Navigate(base+"/ui/#/topics/orders"), page("topics/orders"),
		chromedp.SetValue(chromedp.CSS(`#browse select[name="from"]`), "time"),
		chromedp.SetValue(chromedp.CSS(`#browse input[name="offset"]`), "7"),
		// chromedp's SetValue cannot fill a datetime-local input; the page's script can.
		chromedp.Evaluate[chromedp.Void](`document.querySelector('#browse input[name="time"]').value = "2001-01-01T00:00:00"`),
		chromedp.Click(chromedp.CSS(`#browse button`)), chromedp.WaitVisible(chromedp.CSS(`#message-table`)))
	if got, _ := chromedp.Run(ui.ctx, chromedp.Evaluate[string](`document.querySelector('#browse input[name="offset"]').value`)); got != "0" {
		t.Fatalf("offset of 2001 in partition 0: %q", got)
	}
	if got := text("#message-table"); !strings.Contains(got, "customer-") || !strings.Contains(got, "T") {
		t.Fatalf("messages from 2001: %.300q", got)
	}

	// A transaction left open shows with its producer and partitions.
	txn, err := kgo.NewClient(kgo.SeedBrokers(kafka), kgo.TransactionalID("checkout-1"), kgo.DefaultProduceTopic("orders"))
	if err != nil {
		t.Fatal(err)
	}
	defer txn.Close()
	if err := txn.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := txn.ProduceSync(ctx, &kgo.Record{Partition: 0, Value: []byte(`{"order":"open"}`)}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	do("transactions", chromedp.Navigate(base+"/ui/#/transactions"), page("transactions"))
	waitJS("open transaction", `(() => { const t = document.getElementById("txn-table"); return !!t && t.textContent.includes("checkout-1") && t.textContent.includes("Ongoing") && t.textContent.includes("orders-"); })()`, 20*time.Second)
	screenshot("transactions")

	// A share group with a member: its assignment, start offsets and lag.
	sharer, err := kgo.NewClient(kgo.SeedBrokers(kafka), kgo.ShareGroup("sharers"), kgo.ConsumeTopics("orders"), kgo.ClientID("sharer-1"))
	if err != nil {
		t.Fatal(err)
	}
	defer sharer.Close()
	go func() {
		for load.Err() == nil {
			poll, cancel := context.WithTimeout(load, time.Second)
			sharer.PollRecords(poll, 5)
			cancel()
		}
	}()
	for deadline := time.Now().Add(30 * time.Second); ; { // the page shows what was there when it loaded
		do("share groups", chromedp.Navigate(base+"/ui/#/"), page("overview"), chromedp.Navigate(base+"/ui/#/share-groups"), page("share-groups"))
		if strings.Contains(text("#share-group-table"), "sharers") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("share group not listed: %q", text("#share-group-table"))
		}
		time.Sleep(500 * time.Millisecond)
	}
	// The member's assignment and the partitions' share state appear once it has fetched.
	for deadline := time.Now().Add(30 * time.Second); ; {
		do("share group", chromedp.Navigate(base+"/ui/#/"), page("overview"), chromedp.Navigate(base+"/ui/#/share-groups/sharers"), page("share-groups/sharers"))
		members, parts := text("#share-member-table"), text("#share-partition-table")
		if strings.Contains(members, "sharer-1") && strings.Contains(members, "orders-") && strings.Count(parts, "orders") == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("share group: members %q, partitions %q", members, parts)
		}
		time.Sleep(500 * time.Millisecond)
	}
	screenshot("share-group")
}

// TestConsoleLogin drives the console of a broker with SCRAM users and ACLs (serveSecured):
// it shows its login page, says why a wrong password is refused, shows alice (allowed to
// read, write and describe orders) the topic and its messages and why its configs are
// missing (no DescribeConfigs), logs out; shows the super user the ACLs, adding, filtering and
// deleting one, and the users, adding one (who then logs in) and deleting it; and shows bob (allowed nothing) the broker's
// authorization error for that topic and a topic list without it.
func TestConsoleLogin(t *testing.T) {
	browser := needChromium(t)
	base := "http://" + serveSecured(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	u := newUI(t, ctx, browser)
	logIn := func(user, password string) {
		t.Helper()
		u.do("log in as "+user, uiPage("login"),
			chromedp.SetValue(chromedp.CSS(`#login input[name="user"]`), user),
			chromedp.SetValue(chromedp.CSS(`#login input[name="password"]`), password),
			chromedp.Click(chromedp.CSS(`#login button`)))
	}

	u.do("login page", chromedp.Navigate(base+"/ui/#/topics"), uiPage("login"))
	u.screenshot("login")
	logIn("alice", "wrong")
	u.waitJS("refusal shown", `(document.getElementById("login-error") || {}).textContent?.includes("alice")`, 20*time.Second)
	logIn("alice", "alice-secret")
	u.do("alice's topics", uiPage("topics"))
	if got := u.text("#topic-table"); !strings.Contains(got, "orders") {
		t.Fatalf("alice's topics: %q", got)
	}
	if got := u.text("#user"); !strings.Contains(got, "alice") {
		t.Fatalf("the header names %q, not alice", got)
	}
	u.do("alice's orders", chromedp.Navigate(base+"/ui/#/topics/orders"), uiPage("topics/orders"),
		chromedp.Click(chromedp.CSS(`#browse button`)), chromedp.WaitVisible(chromedp.CSS(`#message-table`)))
	if got := u.text("#message-table"); !strings.Contains(got, `"order":1`) {
		t.Fatalf("alice's messages: %q", got)
	}
	if got := u.text("#config-error"); !strings.Contains(got, "uthoriz") { // she may not DescribeConfigs
		t.Fatalf("alice's configs: %q", got)
	}

	// The super user manages ACLs: adds one for bob, filters by principal, deletes it.
	u.do("log out alice", chromedp.Click(chromedp.CSS(`#logout`)), uiPage("login"))
	logIn("admin", "admin-secret")
	u.do("ACLs", uiPage("overview"), chromedp.Navigate(base+"/ui/#/acls"), uiPage("acls"))
	if got := u.text("#acl-table"); !strings.Contains(got, "User:alice") {
		t.Fatalf("ACLs: %q", got)
	}
	u.do("add an ACL", chromedp.SetValue(chromedp.CSS(`#create-acl input[name="principal"]`), "User:bob"),
		chromedp.SetValue(chromedp.CSS(`#create-acl select[name="operation"]`), "DESCRIBE"),
		chromedp.SetValue(chromedp.CSS(`#create-acl input[name="resource_name"]`), "orders"),
		chromedp.Click(chromedp.CSS(`#create-acl button`)))
	u.waitJS("bob's ACL listed", `document.getElementById("acl-table")?.textContent.includes("User:bob")`, 20*time.Second)
	u.screenshot("acls")
	u.do("filter ACLs", chromedp.SetValue(chromedp.CSS(`#acl-filter input[name="principal"]`), "User:bob"),
		chromedp.Click(chromedp.CSS(`#acl-filter button`)), uiPage("acls"))
	u.waitJS("filtered", `(() => { const t = document.getElementById("acl-table"); return !!t && t.textContent.includes("User:bob") && !t.textContent.includes("User:alice"); })()`, 20*time.Second)
	_, clusters, _ := httpAs(t, "GET", base+"/v3/clusters", "bob", "")
	cid := clusters["data"].([]any)[0].(map[string]any)["cluster_id"].(string)
	if st, body, _ := httpAs(t, "GET", base+"/v3/clusters/"+cid+"/topics/orders", "bob", ""); st != 200 { // the ACL made in the UI applies
		t.Fatalf("bob describes orders: %d %v", st, body)
	}
	u.do("delete the ACL", chromedp.Evaluate[chromedp.Void](`window.confirm = () => true`),
		chromedp.Click(chromedp.CSS(`#acl-table button[data-acl="0"]`)))
	u.waitJS("bob's ACL gone", `(() => { const t = document.getElementById("acl-table"); return !!t && !t.textContent.includes("User:bob"); })()`, 20*time.Second)

	// Users: carol is added in the UI, logs in through the proxy, and is deleted in the UI.
	u.do("users", chromedp.Navigate(base+"/ui/#/users"), uiPage("users"))
	if got := u.text("#user-table"); !strings.Contains(got, "alice") || !strings.Contains(got, "SCRAM-SHA-512 (4096 iterations)") {
		t.Fatalf("users: %q", got)
	}
	u.do("add carol", chromedp.SetValue(chromedp.CSS(`#create-user input[name="user_name"]`), "carol"),
		chromedp.SetValue(chromedp.CSS(`#create-user input[name="password"]`), "carol-secret"),
		chromedp.Click(chromedp.CSS(`#create-user button`)))
	u.waitJS("carol listed", `document.getElementById("user-table")?.textContent.includes("carol")`, 20*time.Second)
	u.screenshot("users")
	if st, body, _ := httpAs(t, "GET", base+"/v3/clusters", "carol", ""); st != 200 {
		t.Fatalf("carol, added in the UI: %d %v", st, body)
	}
	u.do("delete carol", chromedp.Evaluate[chromedp.Void](`window.confirm = () => true`),
		chromedp.Click(chromedp.CSS(`#user-table button[data-user="carol"]`)))
	u.waitJS("carol gone", `(() => { const t = document.getElementById("user-table"); return !!t && !t.textContent.includes("carol"); })()`, 20*time.Second)

	u.do("log out", chromedp.Click(chromedp.CSS(`#logout`)), uiPage("login"))
	logIn("bob", "bob-secret")
	u.do("bob's topics", uiPage("overview"), chromedp.Navigate(base+"/ui/#/topics"), uiPage("topics"))
	if got := u.text("#topic-table"); strings.Contains(got, "orders") {
		t.Fatalf("bob sees orders: %q", got)
	}
	u.do("bob's orders", chromedp.Navigate(base+"/ui/#/topics/orders"), uiPage("error"))
	if got := u.text("main"); !strings.Contains(got, "uthoriz") {
		t.Fatalf("bob on orders: %q", got)
	}
}
