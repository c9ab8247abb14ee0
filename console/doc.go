// Package console is logd's web console: one page of HTML, CSS and JavaScript embedded in the
// binary and served by `logd serve --http` at /ui/ (/ redirects there), with nothing to
// install. It is a client of the same port's REST proxy (restproxy: /v3/ for the cluster,
// topics, configs, consumer groups and lags, producing a test message; the v2 consumer
// instances for the message browser, each browse a throw-away instance assigned to one
// partition and positioned at the offset asked for) and of /metrics (live throughput, request
// latency and group lag charts computed from the counters and histograms between two scrapes).
//
// Pages (hash routes, so a reload keeps the page): #/ overview (brokers, controller, topics
// and partitions, under-replicated partitions, throughput and produce latency charts),
// #/topics (list, create, delete), #/topics/NAME (partitions with leaders, replicas and ISR,
// configs with their sources and an editor, add a message, browse messages by partition from
// an offset or a time (the REST proxy's offset-of-a-time extension), with timestamps, text,
// JSON and hex views and a key filter), #/groups and #/groups/ID (members, lag per partition,
// a lag chart over time, and for an empty group a reset of its offsets to the earliest, the
// latest, a time or an offset, previewed, then confirmed), #/share-groups and
// #/share-groups/ID (members with their assignments, start offset and lag per partition),
// #/transactions (state, producer id and epoch, timeout, age, partitions; a transaction open
// past its timeout is marked hanging: the coordinator aborts it at the timeout; an abort from
// the console, as kafka-transactions abort does with WriteTxnMarkers to the partition leaders,
// is not built), #/acls (a filter by resource type, name and
// principal in the hash's query; add an ACL, delete one after a confirmation), #/users (SCRAM
// users with their mechanisms and iterations; add one or set a password, delete one).
//
// When the proxy acts as its HTTP users (a broker with a SASL listener, restproxy/doc.go), a
// 401 shows a login page (main[data-page=login]): the user and password are kept in the tab's sessionStorage and
// sent with every request as HTTP Basic credentials (with X-Requested-With, so the browser
// does not prompt on its own); a refusal says why, "log out" forgets them. The broker's ACLs
// decide what each user sees: a topic list without what they may not describe, the broker's
// authorization error for a page they may not read, a note where only the configs are denied.
//
// With logd.http.read.only=true the proxy refuses changes and says so in a header; the
// console then shows no forms that change anything (browsing still works).
package console
