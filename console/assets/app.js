// logd console: a client of the REST proxy (/v3/, /consumers/) and /metrics on the same port.
"use strict";

const main = document.getElementById("main");
let clusterID = "";
let readOnly = false; // the proxy says so (logd.http.read.only=true): no forms that change anything

// --- helpers -------------------------------------------------------------------------------

function esc(s) {
  return String(s ?? "").replace(/[&<>"']/g, c => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

function showError(msg) {
  const el = document.getElementById("error");
  el.textContent = msg;
  el.hidden = false;
  clearTimeout(showError.timer);
  showError.timer = setTimeout(() => { el.hidden = true; }, 8000);
}

// The broker user the console acts as when the proxy asks for credentials (a broker with a
// SASL listener): kept in the tab's sessionStorage, so a reload keeps it and closing the tab
// forgets it.
const login = {
  get user() { return sessionStorage.getItem("logd.user") || ""; },
  get header() { return sessionStorage.getItem("logd.auth") || ""; },
  set(user, password) {
    sessionStorage.setItem("logd.user", user);
    // btoa takes Latin-1 only: encode the UTF-8 bytes of "user:password".
    sessionStorage.setItem("logd.auth", "Basic " + btoa(String.fromCharCode(...new TextEncoder().encode(`${user}:${password}`))));
  },
  clear() { sessionStorage.removeItem("logd.user"); sessionStorage.removeItem("logd.auth"); },
};

// AuthError is a 401: the proxy wants (other) credentials.
class AuthError extends Error {}

// api calls the REST proxy; an error answer throws with the proxy's message.
async function api(method, path, body, headers) {
  // X-Requested-With: the proxy then answers 401 without a challenge, so the browser shows
  // no password prompt of its own over the console's login page.
  const opts = { method, headers: Object.assign({ "Content-Type": "application/json", "X-Requested-With": "logd-console" }, headers || {}) };
  if (login.header) opts.headers.Authorization = login.header;
  if (body !== undefined) opts.body = typeof body === "string" ? body : JSON.stringify(body);
  const resp = await fetch(path, opts);
  if (resp.headers.get("X-Logd-Read-Only") === "true") readOnly = true;
  const text = await resp.text();
  let data = null;
  if (text) { try { data = JSON.parse(text); } catch (e) { data = text; } }
  if (!resp.ok) {
    const msg = (data && data.message) || `${method} ${path}: HTTP ${resp.status}`;
    throw resp.status === 401 ? new AuthError(msg) : new Error(msg);
  }
  return data;
}

const v3 = (path) => `/v3/clusters/${encodeURIComponent(clusterID)}${path}`;

function fmtBytes(n) {
  if (n === null || n === undefined || isNaN(n)) return "–";
  const u = ["B", "KB", "MB", "GB", "TB"];
  let i = 0;
  while (Math.abs(n) >= 1000 && i < u.length - 1) { n /= 1000; i++; }
  return `${n.toFixed(n < 10 && i > 0 ? 1 : 0)} ${u[i]}`;
}

function fmtNum(n) { return n === null || n === undefined || isNaN(n) ? "–" : Math.round(n).toLocaleString("en-US"); }

function table(headers, rows, id) {
  const h = headers.map(c => `<th class="${c.num ? "num" : ""}">${esc(c.label || c)}</th>`).join("");
  const b = rows.map(r => "<tr>" + r.map((v, i) => `<td class="${headers[i].num ? "num" : ""}">${v}</td>`).join("") + "</tr>").join("");
  return `<table${id ? ` id="${id}"` : ""}><thead><tr>${h}</tr></thead><tbody>${b || `<tr><td colspan="${headers.length}" class="muted">none</td></tr>`}</tbody></table>`;
}

// --- metrics: scraped every 2 s, kept for 5 minutes ------------------------------------------

const metrics = { samples: [], lag: {} };

function parseMetrics(text) {
  const out = [];
  for (const line of text.split("\n")) {
    if (!line || line[0] === "#") continue;
    const m = line.match(/^([a-zA-Z_:][\w:]*)(\{(.*)\})?\s+(\S+)/);
    if (!m) continue;
    const labels = {};
    if (m[3]) for (const l of m[3].matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]] = l[2];
    out.push({ name: m[1], labels, value: parseFloat(m[4]) });
  }
  return out;
}

function sum(samples, name, filter) {
  let s = 0;
  for (const x of samples) if (x.name === name && (!filter || filter(x.labels))) s += x.value;
  return s;
}

// quantile estimates q of a histogram's observations between two scrapes from its buckets.
function quantile(prev, cur, name, filter, q) {
  const buckets = {};
  for (const x of cur) if (x.name === name + "_bucket" && filter(x.labels)) buckets[x.labels.le] = (buckets[x.labels.le] || 0) + x.value;
  for (const x of prev) if (x.name === name + "_bucket" && filter(x.labels) && x.labels.le in buckets) buckets[x.labels.le] -= x.value;
  const les = Object.keys(buckets).map(le => [le === "+Inf" ? Infinity : parseFloat(le), buckets[le]]).sort((a, b) => a[0] - b[0]);
  const total = les.length ? les[les.length - 1][1] : 0;
  if (total <= 0) return null;
  for (const [le, n] of les) if (n >= q * total) return le === Infinity ? null : le;
  return null;
}

async function scrape() {
  try {
    const text = await (await fetch("/metrics")).text();
    const cur = parseMetrics(text);
    const now = Date.now() / 1000;
    const prev = metrics.last;
    if (prev) {
      const dt = now - prev.t;
      const rate = (name) => Math.max(0, (sum(cur, name) - sum(prev.s, name)) / dt);
      metrics.samples.push({
        t: now,
        bytesIn: rate("logd_topic_bytes_in_total"),
        bytesOut: rate("logd_topic_bytes_out_total"),
        msgsIn: rate("logd_topic_messages_in_total"),
        produceP99: quantile(prev.s, cur, "logd_request_duration_seconds", l => l.api === "Produce", 0.99),
      });
      if (metrics.samples.length > 150) metrics.samples.shift();
    }
    const lags = {};
    for (const x of cur) if (x.name === "logd_group_lag") lags[x.labels.group] = (lags[x.labels.group] || 0) + x.value;
    for (const g of Object.keys(lags)) {
      (metrics.lag[g] = metrics.lag[g] || []).push({ t: now, v: lags[g] });
      if (metrics.lag[g].length > 150) metrics.lag[g].shift();
    }
    metrics.last = { t: now, s: cur };
    if (typeof currentRedraw === "function") currentRedraw();
  } catch (e) { /* the broker is restarting: try again at the next tick */ }
}

// chart draws points [{t, v}] as an SVG line with its latest value.
function chart(title, points, fmt, id) {
  const w = 360, h = 140, pad = 28;
  const vs = points.map(p => p.v).filter(v => v !== null && !isNaN(v));
  const max = Math.max(1e-9, ...vs);
  const t0 = points.length ? points[0].t : 0, t1 = points.length ? points[points.length - 1].t : 1;
  const x = t => pad + (w - 2 * pad) * ((t - t0) / Math.max(1, t1 - t0));
  const y = v => h - pad - (h - 2 * pad) * (v / max);
  const path = points.filter(p => p.v !== null && !isNaN(p.v)).map((p, i) => `${i ? "L" : "M"}${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`).join(" ");
  const last = vs.length ? fmt(vs[vs.length - 1]) : "–";
  return `<svg class="chart" id="${id}" width="${w}" height="${h}" data-points="${points.length}">
    <text x="${pad}" y="18" font-size="12" fill="#4a5468">${esc(title)}: <tspan font-weight="600">${esc(last)}</tspan></text>
    <text x="${pad}" y="${h - 8}" font-size="10" fill="#9aa5b8">max ${esc(fmt(max))}</text>
    <line x1="${pad}" y1="${h - pad}" x2="${w - pad}" y2="${h - pad}" stroke="#e3e6ec"/>
    <path d="${path}" fill="none" stroke="#2952cc" stroke-width="2"/></svg>`;
}

let currentRedraw = null;

// --- pages ---------------------------------------------------------------------------------

async function overview() {
  const [cluster, brokers, topics] = await Promise.all([api("GET", v3("")), api("GET", v3("/brokers")), api("GET", v3("/topics"))]);
  let partitions = 0;
  const details = await Promise.all(topics.data.map(t => api("GET", v3(`/topics/${encodeURIComponent(t.topic_name)}/partitions`))));
  for (const d of details) partitions += d.data.length;
  const controller = cluster.controller ? cluster.controller.related.split("/").pop() : "–";
  main.innerHTML = `<h1>Overview</h1>
    <div class="cards">
      <div class="card"><div class="v" id="brokers">${brokers.data.length}</div><div class="k">brokers</div></div>
      <div class="card"><div class="v">${esc(controller)}</div><div class="k">controller</div></div>
      <div class="card"><div class="v" id="topic-count">${topics.data.filter(t => !t.is_internal).length}</div><div class="k">topics (+${topics.data.filter(t => t.is_internal).length} internal)</div></div>
      <div class="card"><div class="v">${partitions}</div><div class="k">partitions</div></div>
      <div class="card"><div class="v" id="under">–</div><div class="k">under-replicated partitions</div></div>
    </div>
    <h2>Brokers</h2>
    ${table(["id", "host", "port", "rack"], brokers.data.map(b => [esc(b.broker_id), esc(b.host), esc(b.port), esc(b.rack || "–")]), "broker-table")}
    <h2>Throughput and latency</h2><div class="charts" id="charts"></div>`;
  currentRedraw = () => {
    const s = metrics.samples;
    const el = document.getElementById("charts");
    if (!el) return;
    if (metrics.last) {
      const under = sum(metrics.last.s, "logd_under_replicated_partitions");
      const u = document.getElementById("under");
      u.textContent = fmtNum(under);
      u.classList.toggle("bad", under > 0);
    }
    el.innerHTML = chart("bytes in /s", s.map(p => ({ t: p.t, v: p.bytesIn })), fmtBytes, "chart-in") +
      chart("bytes out /s", s.map(p => ({ t: p.t, v: p.bytesOut })), fmtBytes, "chart-out") +
      chart("messages in /s", s.map(p => ({ t: p.t, v: p.msgsIn })), fmtNum, "chart-msgs") +
      chart("produce p99", s.map(p => ({ t: p.t, v: p.produceP99 })), v => `${(v * 1000).toFixed(1)} ms`, "chart-p99");
  };
  currentRedraw();
}

async function topicsPage() {
  const topics = await api("GET", v3("/topics"));
  main.innerHTML = `<h1>Topics</h1>
    <form class="inline" id="create-topic">
      <label>name <input name="name" required placeholder="orders"></label>
      <label>partitions <input name="partitions" type="number" min="1" value="3" style="width:6em"></label>
      <label>replication factor <input name="rf" type="number" min="1" placeholder="default" style="width:7em"></label>
      <label>cleanup.policy <select name="policy"><option>delete</option><option>compact</option><option>compact,delete</option></select></label>
      <button type="submit">Create topic</button>
    </form>
    ${table(["name", { label: "partitions", num: true }, { label: "replicas", num: true }, "internal"],
      topics.data.map(t => [`<a href="#/topics/${encodeURIComponent(t.topic_name)}">${esc(t.topic_name)}</a>`, t.partitions_count, t.replication_factor, t.is_internal ? "yes" : ""]), "topic-table")}`;
  document.getElementById("create-topic").onsubmit = async (ev) => {
    ev.preventDefault();
    const f = ev.target;
    const body = { topic_name: f.name.value, partitions_count: parseInt(f.partitions.value, 10), configs: [{ name: "cleanup.policy", value: f.policy.value }] };
    if (f.rf.value) body.replication_factor = parseInt(f.rf.value, 10);
    try { await api("POST", v3("/topics"), body); location.hash = `#/topics/${encodeURIComponent(f.name.value)}`; } catch (e) { showError(e.message); }
  };
}

function decodeB64(s) {
  if (s === null || s === undefined) return null;
  const bin = atob(s);
  return Uint8Array.from(bin, c => c.charCodeAt(0));
}

function render(bytes, view) {
  if (bytes === null) return `<span class="muted">null</span>`;
  if (view === "hex") return `<pre>${Array.from(bytes, b => b.toString(16).padStart(2, "0")).join(" ")}</pre>`;
  const text = new TextDecoder().decode(bytes);
  if (view === "json") { try { return `<pre>${esc(JSON.stringify(JSON.parse(text), null, 2))}</pre>`; } catch (e) { /* not JSON: as text */ } }
  return `<pre>${esc(text)}</pre>`;
}

// browse reads up to limit records of one partition from offset with a throw-away v2 instance.
async function browse(topic, partition, offset, limit) {
  const group = "logd-console";
  const name = "browse-" + Math.random().toString(36).slice(2);
  const inst = `/consumers/${group}/instances/${name}`;
  await api("POST", `/consumers/${group}`, { name, format: "binary", "auto.offset.reset": "earliest", "auto.commit.enable": "false" });
  try {
    await api("POST", inst + "/assignments", { partitions: [{ topic, partition }] });
    await api("POST", inst + "/positions", { offsets: [{ topic, partition, offset }] });
    const out = [];
    for (let i = 0; i < 4 && out.length < limit; i++) {
      const recs = await api("GET", inst + "/records?timeout=500", undefined, { Accept: "application/vnd.kafka.binary.v2+json" });
      out.push(...recs);
      if (!recs.length && out.length) break;
    }
    return out.slice(0, limit);
  } finally {
    api("DELETE", inst).catch(() => {});
  }
}

async function topicPage(name) {
  const t = encodeURIComponent(name);
  // Configs need DescribeConfigs, which a user allowed to read the topic may lack: the page
  // shows the rest, and says so.
  const [topic, parts, configs] = await Promise.all([api("GET", v3(`/topics/${t}`)), api("GET", v3(`/topics/${t}/partitions`)),
    api("GET", v3(`/topics/${t}/configs`)).catch(e => { if (e instanceof AuthError) throw e; return { data: [], error: e.message }; })]);
  const leaders = parts.data.map(p => [p.partition_id, p.leader ? p.leader.related.split("/").pop() : "none"]);
  main.innerHTML = `<h1>Topic ${esc(name)}</h1>
    <p>${topic.partitions_count} partitions, replication factor ${topic.replication_factor}
      <button class="danger" id="delete-topic">Delete topic</button></p>
    <h2>Partitions</h2>${table([{ label: "partition", num: true }, "leader"], leaders.map(([p, l]) => [p, esc(l)]), "partition-table")}
    <h2>Produce a message</h2>
    <form class="inline" id="produce">
      <label>partition <select name="partition"><option value="">any</option>${parts.data.map(p => `<option>${p.partition_id}</option>`).join("")}</select></label>
      <label>key <input name="key" placeholder="(none)"></label>
      <label>value <input name="value" size="40" required></label>
      <button type="submit">Produce</button> <span id="produced" class="muted"></span>
    </form>
    <h2>Messages</h2>
    <form class="inline" id="browse">
      <label>partition <select name="partition">${parts.data.map(p => `<option>${p.partition_id}</option>`).join("")}</select></label>
      <label>from <select name="from"><option value="offset">offset</option><option value="time">time</option></select></label>
      <label>offset <input name="offset" type="number" min="0" value="0" style="width:8em"></label>
      <label>time <input name="time" type="datetime-local" step="1"></label>
      <label>max <input name="limit" type="number" min="1" max="500" value="50" style="width:5em"></label>
      <label>key contains <input name="key"></label>
      <label>view <select name="view"><option>text</option><option>json</option><option>hex</option></select></label>
      <button type="submit">Show</button>
    </form>
    <div id="messages"></div>
    <h2>Configs</h2>
    <form class="inline" id="set-config">
      <label>name <input name="name" list="config-names" required></label>
      <label>value <input name="value" required></label>
      <button type="submit">Set</button>
    </form>
    <datalist id="config-names">${configs.data.map(c => `<option>${esc(c.name)}</option>`).join("")}</datalist>
    ${configs.error ? `<p class="bad" id="config-error">${esc(configs.error)}</p>` : ""}
    ${table(["name", "value", "source"], configs.data.map(c => [esc(c.name), esc(c.value ?? ""), c.source === "DEFAULT_CONFIG" ? `<span class="muted">default</span>` : esc(c.source)]), "config-table")}`;
  document.getElementById("delete-topic").onclick = async () => {
    if (!confirm(`Delete topic ${name} and all its data?`)) return;
    try { await api("DELETE", v3(`/topics/${t}`)); location.hash = "#/topics"; } catch (e) { showError(e.message); }
  };
  document.getElementById("produce").onsubmit = async (ev) => {
    ev.preventDefault();
    const f = ev.target;
    const body = { value: { type: "STRING", data: f.value.value } };
    if (f.key.value) body.key = { type: "STRING", data: f.key.value };
    if (f.partition.value !== "") body.partition_id = parseInt(f.partition.value, 10);
    try {
      const r = await api("POST", v3(`/topics/${t}/records`), body);
      if (r.error_code !== 200) throw new Error(r.message);
      document.getElementById("produced").textContent = `produced at partition ${r.partition_id}, offset ${r.offset}`;
    } catch (e) { showError(e.message); }
  };
  document.getElementById("browse").onsubmit = async (ev) => {
    ev.preventDefault();
    const f = ev.target;
    const el = document.getElementById("messages");
    el.innerHTML = `<p class="muted">Reading…</p>`;
    try {
      const partition = parseInt(f.partition.value, 10);
      let offset = parseInt(f.offset.value, 10);
      if (f.from.value === "time") {
        // The first record at or after that time (ListOffsets by time, in the browser's time zone).
        const ms = new Date(f.time.value).getTime();
        if (isNaN(ms)) throw new Error("pick a time to read from");
        offset = (await api("GET", v3(`/topics/${t}/partitions/${partition}/offsets?timestamp=${ms}`))).offset;
        f.offset.value = offset;
      }
      let recs = await browse(name, partition, offset, parseInt(f.limit.value, 10));
      const view = f.view.value;
      if (f.key.value) recs = recs.filter(r => r.key !== null && new TextDecoder().decode(decodeB64(r.key)).includes(f.key.value));
      el.innerHTML = table([{ label: "offset", num: true }, "timestamp", "key", "value"], recs.map(r => [r.offset,
        r.timestamp ? esc(new Date(r.timestamp).toISOString()) : "–", render(decodeB64(r.key), view), render(decodeB64(r.value), view)]), "message-table");
    } catch (e) { el.innerHTML = ""; showError(e.message); }
  };
  document.getElementById("set-config").onsubmit = async (ev) => {
    ev.preventDefault();
    const f = ev.target;
    try { await api("PUT", v3(`/topics/${t}/configs/${encodeURIComponent(f.name.value)}`), { value: f.value.value }); route(); } catch (e) { showError(e.message); }
  };
}

async function groupsPage() {
  const groups = await api("GET", v3("/consumer-groups"));
  main.innerHTML = `<h1>Consumer groups</h1>` + table(["group", "state", "type", "assignor"],
    groups.data.map(g => [`<a href="#/groups/${encodeURIComponent(g.consumer_group_id)}">${esc(g.consumer_group_id)}</a>`, esc(g.state), esc(g.type), esc(g.partition_assignor)]), "group-table");
}

async function groupPage(id) {
  const g = encodeURIComponent(id);
  const [group, consumers, lags, summary] = await Promise.all([api("GET", v3(`/consumer-groups/${g}`)), api("GET", v3(`/consumer-groups/${g}/consumers`)),
    api("GET", v3(`/consumer-groups/${g}/lags`)), api("GET", v3(`/consumer-groups/${g}/lag-summary`))]);
  main.innerHTML = `<h1>Group ${esc(id)}</h1>
    <div class="cards">
      <div class="card"><div class="v">${esc(group.state)}</div><div class="k">state</div></div>
      <div class="card"><div class="v">${consumers.data.length}</div><div class="k">members</div></div>
      <div class="card"><div class="v" id="total-lag">${fmtNum(summary.total_lag)}</div><div class="k">total lag</div></div>
    </div>
    <h2>Members</h2>${table(["member", "client", "instance"], consumers.data.map(c => [esc(c.consumer_id), esc(c.client_id), esc(c.instance_id || "–")]), "member-table")}
    <h2>Lag</h2>${table(["topic", { label: "partition", num: true }, { label: "committed", num: true }, { label: "log end", num: true }, { label: "lag", num: true }, "member"],
      lags.data.map(l => [esc(l.topic_name), l.partition_id, fmtNum(l.current_offset), fmtNum(l.log_end_offset), fmtNum(l.lag), esc(l.client_id || "–")]), "lag-table")}
    <h2>Lag over time</h2><div id="lag-chart"></div>
    <h2>Reset offsets</h2>
    ${group.state === "EMPTY" || group.state === "Empty" ? `<form class="inline" id="reset-offsets">
      <label>to <select name="to"><option>earliest</option><option>latest</option><option>timestamp</option><option>offset</option></select></label>
      <label>time <input name="time" type="datetime-local" step="1"></label>
      <label>offset <input name="offset" type="number" min="0" style="width:8em"></label>
      <label>topic <input name="topic" placeholder="(every topic)"></label>
      <button type="button" id="reset-preview-button">Preview</button>
      <button type="submit" class="danger">Reset</button>
    </form><div id="reset-preview"></div>` : `<p class="muted" id="reset-offsets-off">Offsets can only be reset while the group is empty: stop its consumers first.</p>`}`;
  const reset = document.getElementById("reset-offsets");
  if (reset) {
    const request = (dryRun) => {
      const body = { to: reset.to.value, dry_run: dryRun };
      if (reset.to.value === "timestamp") body.timestamp = String(new Date(reset.time.value).getTime());
      if (reset.to.value === "offset") body.offset = parseInt(reset.offset.value, 10);
      if (reset.topic.value) body.topic = reset.topic.value;
      return api("POST", v3(`/consumer-groups/${g}/offsets:reset`), body);
    };
    document.getElementById("reset-preview-button").onclick = async () => {
      try {
        const r = await request(true);
        document.getElementById("reset-preview").innerHTML = table(["topic", { label: "partition", num: true }, { label: "new offset", num: true }],
          r.data.map(o => [esc(o.topic_name), o.partition_id, fmtNum(o.offset)]), "reset-table");
      } catch (e) { showError(e.message); }
    };
    reset.onsubmit = async (ev) => {
      ev.preventDefault();
      if (!confirm(`Move group ${id}'s committed offsets to ${reset.to.value}? Its consumers will start from there.`)) return;
      try { await request(false); route(); } catch (e) { showError(e.message); }
    };
  }
  currentRedraw = () => {
    const el = document.getElementById("lag-chart");
    if (el) el.innerHTML = chart("total lag", (metrics.lag[id] || []).map(p => ({ t: p.t, v: p.v })), fmtNum, "chart-lag");
  };
  currentRedraw();
}

// aclsPage lists the ACLs a filter (in the hash's query) matches, and creates and deletes them.
async function aclsPage(query) {
  const q = new URLSearchParams(query);
  const acls = await api("GET", v3("/acls" + (query ? "?" + query : "")));
  const opt = (names, cur) => names.map(n => `<option${n === cur ? " selected" : ""}>${n}</option>`).join("");
  const types = ["TOPIC", "GROUP", "CLUSTER", "TRANSACTIONAL_ID", "DELEGATION_TOKEN", "USER"];
  const ops = ["ALL", "READ", "WRITE", "CREATE", "DELETE", "ALTER", "DESCRIBE", "CLUSTER_ACTION", "DESCRIBE_CONFIGS", "ALTER_CONFIGS", "IDEMPOTENT_WRITE"];
  main.innerHTML = `<h1>ACLs</h1>
    <form class="inline" id="acl-filter">
      <label>resource type <select name="resource_type"><option value="">any</option>${opt(types, q.get("resource_type"))}</select></label>
      <label>resource name <input name="resource_name" value="${esc(q.get("resource_name") || "")}"></label>
      <label>principal <input name="principal" placeholder="User:alice" value="${esc(q.get("principal") || "")}"></label>
      <button type="submit">Filter</button>
    </form>
    ${table(["resource type", "resource name", "pattern", "principal", "host", "operation", "permission", ""],
      acls.data.map((a, i) => [esc(a.resource_type), esc(a.resource_name), esc(a.pattern_type), esc(a.principal), esc(a.host), esc(a.operation),
        `<span class="${a.permission === "DENY" ? "bad" : ""}">${esc(a.permission)}</span>`, `<button class="danger" data-acl="${i}">Delete</button>`]), "acl-table")}
    <h2>Add an ACL</h2>
    <form class="inline" id="create-acl">
      <label>principal <input name="principal" required placeholder="User:alice"></label>
      <label>permission <select name="permission">${opt(["ALLOW", "DENY"])}</select></label>
      <label>operation <select name="operation">${opt(ops, "READ")}</select></label>
      <label>resource type <select name="resource_type">${opt(types, "TOPIC")}</select></label>
      <label>resource name <input name="resource_name" required placeholder="orders (kafka-cluster for CLUSTER)"></label>
      <label>pattern <select name="pattern_type">${opt(["LITERAL", "PREFIXED"])}</select></label>
      <label>host <input name="host" value="*" style="width:8em"></label>
      <button type="submit">Add</button>
    </form>`;
  document.getElementById("acl-filter").onsubmit = (ev) => {
    ev.preventDefault();
    const p = new URLSearchParams();
    for (const el of ev.target.elements) if (el.name && el.value) p.set(el.name, el.value);
    location.hash = "#/acls" + (p.toString() ? "?" + p : "");
  };
  for (const b of main.querySelectorAll("button[data-acl]")) {
    b.onclick = async () => {
      const a = acls.data[+b.dataset.acl];
      if (!confirm(`Delete ${a.permission} ${a.operation} on ${a.resource_type} ${a.resource_name} for ${a.principal}?`)) return;
      const p = new URLSearchParams({ resource_type: a.resource_type, resource_name: a.resource_name, pattern_type: a.pattern_type,
        principal: a.principal, host: a.host, operation: a.operation, permission: a.permission });
      try { await api("DELETE", v3("/acls?" + p)); route(); } catch (e) { showError(e.message); }
    };
  }
  document.getElementById("create-acl").onsubmit = async (ev) => {
    ev.preventDefault();
    const body = {};
    for (const el of ev.target.elements) if (el.name) body[el.name] = el.value;
    try { await api("POST", v3("/acls"), body); route(); } catch (e) { showError(e.message); }
  };
}

// usersPage lists the SCRAM users, sets a password (creating the user) and deletes users.
async function usersPage() {
  const users = await api("GET", v3("/scram-users"));
  main.innerHTML = `<h1>Users</h1>
    <p class="muted">SCRAM credentials the broker authenticates clients with (PLAIN users live in the broker's configuration).</p>
    ${table(["user", "credentials", ""], users.data.map(u => [esc(u.user_name),
      esc(u.credentials.map(c => `${c.mechanism} (${c.iterations} iterations)`).join(", ")),
      `<button class="danger" data-user="${esc(u.user_name)}">Delete</button>`]), "user-table")}
    <h2>Add a user or set a password</h2>
    <form class="inline" id="create-user">
      <label>user <input name="user_name" required autocomplete="off"></label>
      <label>password <input name="password" type="password" required autocomplete="new-password"></label>
      <label>mechanism <select name="mechanism"><option>SCRAM-SHA-512</option><option>SCRAM-SHA-256</option></select></label>
      <label>iterations <input name="iterations" type="number" min="4096" max="16384" value="8192" style="width:7em"></label>
      <button type="submit">Save</button>
    </form>`;
  for (const b of main.querySelectorAll("button[data-user]")) {
    b.onclick = async () => {
      if (!confirm(`Delete every SCRAM credential of ${b.dataset.user}? Their clients can no longer log in.`)) return;
      try { await api("DELETE", v3(`/scram-users/${encodeURIComponent(b.dataset.user)}`)); route(); } catch (e) { showError(e.message); }
    };
  }
  document.getElementById("create-user").onsubmit = async (ev) => {
    ev.preventDefault();
    const f = ev.target;
    const body = { user_name: f.user_name.value, password: f.password.value, mechanism: f.mechanism.value, iterations: parseInt(f.iterations.value, 10) };
    try { await api("POST", v3("/scram-users"), body); route(); } catch (e) { showError(e.message); }
  };
}

// transactionsPage lists the transactional ids: state, producer, age and partitions.
async function transactionsPage() {
  const txns = await api("GET", v3("/transactions"));
  const age = (ms) => ms === null ? "–" : ms < 120000 ? `${(ms / 1000).toFixed(0)} s` : `${(ms / 60000).toFixed(0)} min`;
  main.innerHTML = `<h1>Transactions</h1>
    <p class="muted">A transaction open longer than its timeout is hanging: the broker aborts it when the timeout passes; if it stays, its producer's partitions hold back read_committed consumers.</p>
    ${table(["transactional id", "state", { label: "producer id", num: true }, { label: "epoch", num: true }, { label: "timeout", num: true }, { label: "age", num: true }, "partitions"],
      txns.data.map(x => [esc(x.transactional_id), x.hanging ? `<span class="bad">${esc(x.state)} (hanging)</span>` : esc(x.state), x.producer_id, x.producer_epoch,
        age(x.timeout_ms), age(x.age_ms), esc(x.partitions.map(p => `${p.topic_name}-${p.partition_id}`).join(", ") || "–")]), "txn-table")}`;
}

async function shareGroupsPage() {
  const groups = await api("GET", v3("/share-groups"));
  main.innerHTML = `<h1>Share groups</h1>` + table(["group", "state"],
    groups.data.map(g => [`<a href="#/share-groups/${encodeURIComponent(g.share_group_id)}">${esc(g.share_group_id)}</a>`, esc(g.state)]), "share-group-table");
}

async function shareGroupPage(id) {
  const g = await api("GET", v3(`/share-groups/${encodeURIComponent(id)}`));
  const totalLag = g.partitions.reduce((s, p) => s + Math.max(0, p.lag), 0);
  main.innerHTML = `<h1>Share group ${esc(id)}</h1>
    <div class="cards">
      <div class="card"><div class="v">${esc(g.state)}</div><div class="k">state</div></div>
      <div class="card"><div class="v">${g.members.length}</div><div class="k">members</div></div>
      <div class="card"><div class="v" id="share-lag">${fmtNum(totalLag)}</div><div class="k">lag</div></div>
    </div>
    <h2>Members</h2>${table(["member", "client", "host", "assigned partitions"], g.members.map(m => [esc(m.member_id), esc(m.client_id), esc(m.client_host),
      esc(m.assignment.map(p => `${p.topic_name}-${p.partition_id}`).join(", ") || "–")]), "share-member-table")}
    <h2>Partitions</h2>${table(["topic", { label: "partition", num: true }, { label: "start offset", num: true }, { label: "lag", num: true }],
      g.partitions.map(p => [esc(p.topic_name), p.partition_id, fmtNum(p.start_offset), p.lag < 0 ? "–" : fmtNum(p.lag)]), "share-partition-table")}`;
}

// loginPage asks for the broker user's name and password; message says why (a refusal).
function loginPage(message) {
  main.innerHTML = `<h1>Log in</h1>
    <p class="muted">This broker authenticates its clients: the console acts as the broker user you log in as, and the broker's ACLs decide what it may see and change.</p>
    ${message ? `<p class="bad" id="login-error">${esc(message)}</p>` : ""}
    <form class="inline" id="login">
      <label>user <input name="user" autocomplete="username" required value="${esc(login.user)}"></label>
      <label>password <input name="password" type="password" autocomplete="current-password" required></label>
      <button type="submit">Log in</button>
    </form>`;
  document.getElementById("login").onsubmit = (ev) => {
    ev.preventDefault();
    login.set(ev.target.user.value, ev.target.password.value);
    clusterID = "";
    route();
  };
  main.dataset.page = "login";
}

function showUser() {
  const el = document.getElementById("user");
  el.innerHTML = login.user ? `${esc(login.user)} · <a href="#/" id="logout">log out</a>` : "";
  const out = document.getElementById("logout");
  if (out) out.onclick = (ev) => {
    ev.preventDefault();
    login.clear();
    clusterID = "";
    showUser();
    history.replaceState(null, "", "#/"); // the next user starts at the overview
    loginPage("");
  };
}

// --- routing -------------------------------------------------------------------------------

async function route() {
  currentRedraw = null;
  const [hash, query] = (location.hash.replace(/^#/, "") || "/").split("?");
  const parts = hash.split("/").filter(Boolean).map(decodeURIComponent);
  for (const a of document.querySelectorAll("header nav a")) a.classList.toggle("active", a.dataset.nav === (parts[0] || "overview"));
  try {
    if (!clusterID) {
      const cl = await api("GET", "/v3/clusters");
      clusterID = cl.data[0].cluster_id;
      document.getElementById("cluster").textContent = `cluster ${clusterID}`;
    }
    if (parts[0] === "topics" && parts[1]) await topicPage(parts[1]);
    else if (parts[0] === "topics") await topicsPage();
    else if (parts[0] === "groups" && parts[1]) await groupPage(parts[1]);
    else if (parts[0] === "groups") await groupsPage();
    else if (parts[0] === "acls") await aclsPage(query || "");
    else if (parts[0] === "users") await usersPage();
    else if (parts[0] === "transactions") await transactionsPage();
    else if (parts[0] === "share-groups" && parts[1]) await shareGroupPage(parts[1]);
    else if (parts[0] === "share-groups") await shareGroupsPage();
    else await overview();
    if (readOnly) {
      for (const el of document.querySelectorAll("#create-topic, #produce, #set-config, #delete-topic, #create-acl, button[data-acl], #create-user, button[data-user], #reset-offsets")) el.remove();
      document.getElementById("cluster").textContent = `cluster ${clusterID} (read-only)`;
    }
    main.dataset.page = parts.join("/") || "overview";
    showUser();
  } catch (e) {
    if (e instanceof AuthError) {
      // A stored password the broker refuses now (changed, or the user deleted) is forgotten.
      const refused = login.header ? e.message : "";
      login.clear();
      showUser();
      loginPage(refused);
      return;
    }
    main.innerHTML = `<p class="bad">${esc(e.message)}</p>`;
    main.dataset.page = "error";
  }
}

window.addEventListener("hashchange", route);
route();
scrape();
setInterval(scrape, 2000);
