// vpcalertd report page. Reads the inline JSON in #report-data (built by
// report/page.go), draws the timeline with uPlot and keeps the selection
// (window, address) in the URL hash: #from=<RFC 3339>&to=<RFC 3339>&ip=<addr>.
(function () {
  "use strict";
  var D = JSON.parse(document.getElementById("report-data").textContent);
  var W = D.width, N = D.n, S = D.start;
  var state = { i0: 0, i1: N - 1, sel: false, ip: "", metric: "bytes" };
  var charts = [];
  var K = 20;

  function el(tag, attrs, kids) {
    var e = document.createElement(tag);
    if (attrs) for (var k in attrs) {
      if (k === "text") e.textContent = attrs[k];
      else if (k === "cls") e.className = attrs[k];
      else if (k.slice(0, 2) === "on") e.addEventListener(k.slice(2), attrs[k]);
      else e.setAttribute(k, attrs[k]);
    }
    (kids || []).forEach(function (c) { if (c != null) e.appendChild(typeof c === "string" ? document.createTextNode(c) : c); });
    return e;
  }
  function pad(n) { return n < 10 ? "0" + n : "" + n; }
  function iso(t) { return new Date(t * 1000).toISOString().replace(".000Z", "Z"); }
  function day(t) { return iso(t).slice(0, 10); }
  function hhmm(t) { var d = new Date(t * 1000); return pad(d.getUTCHours()) + ":" + pad(d.getUTCMinutes()); }
  function stamp(t) { return iso(t).replace("T", " ").replace("Z", ""); }
  var multiDay = N > 0 && day(S) !== day(S + N * W - 1);
  // span renders a window [a, b) of times as "HH:MM–HH:MM", with dates when needed.
  function span(a, b) {
    var sameDay = day(a) === day(b - 1);
    var end = hhmm(b) === "00:00" && sameDay ? "24:00" : hhmm(b);
    if (!multiDay && sameDay) return hhmm(a) + "–" + end + " UTC";
    return day(a) + " " + hhmm(a) + "–" + (sameDay ? "" : day(b) + " ") + end + " UTC";
  }
  function human(v, unit) {
    var u = unit === "bytes" ? ["B", "KB", "MB", "GB", "TB", "PB"] : ["", "k", "M", "G", "T", "P"];
    var i = 0, x = v;
    while (Math.abs(x) >= 1000 && i < u.length - 1) { x /= 1000; i++; }
    var s = i === 0 ? String(x) : x.toFixed(x < 10 ? 2 : x < 100 ? 1 : 0);
    return unit === "bytes" ? s + " " + u[i] : s + u[i];
  }
  function num(v) { return v.toLocaleString("en-US"); }
  var ACT = { ACCEPT: 0, REJECT: 1, "-": 2 };
  var PROTO = { 1: "ICMP", 6: "TCP", 17: "UDP", 47: "GRE", 50: "ESP", 58: "ICMPv6" };
  function proto(p) { return PROTO[p] ? PROTO[p] + " (" + p + ")" : String(p); }

  // ----- talkers: the same merge as report.MergeTops (window.go) -----
  // row: [src, dst, port, proto, action (0 ACCEPT, 1 REJECT, 2 other), bytes, packets, flows, hi (0: exact)]
  var ACTS = ["ACCEPT", "REJECT", "-"];
  function mergeTops(lists, keep) {
    var hidden = 0, m = new Map();
    for (var i = 0; i < lists.length; i++) {
      var t = lists[i];
      if (!t) continue;
      var rest = t[0];
      hidden += rest;
      for (var j = 1; j < t.length; j++) {
        var r = t[j], key = r[0] + "|" + r[1] + "|" + r[2] + "|" + r[3] + "|" + r[4];
        var a = m.get(key);
        if (!a) { a = { src: r[0], dst: r[1], port: r[2], proto: r[3], action: ACTS[r[4]], bytes: 0, packets: 0, flows: 0, hi: 0, listed: 0, exact: true }; m.set(key, a); }
        a.bytes += r[5]; a.packets += r[6]; a.flows += r[7]; a.hi += r[8] === 0 ? r[5] : Math.max(r[8], 0); a.listed += rest;
        a.exact = a.exact && r[8] === 0;
      }
    }
    var rows = [];
    m.forEach(function (a) {
      a.hi += hidden - a.listed;
      a.approx = !a.exact || a.hi > a.bytes;
      if (!keep || keep(a)) rows.push(a);
    });
    rows.sort(function (x, y) {
      if (x.bytes !== y.bytes) return y.bytes - x.bytes;
      return cmpAddr(D.addrs[x.src], D.addrs[y.src]) || cmpAddr(D.addrs[x.dst], D.addrs[y.dst]) || x.port - y.port || x.proto - y.proto || ACT[x.action] - ACT[y.action];
    });
    var bound = hidden;
    if (rows.length > K) {
      for (var k = K; k < rows.length; k++) bound = Math.max(bound, rows[k].hi);
      rows = rows.slice(0, K);
    }
    rows.forEach(function (a) { a.approx = a.approx || a.bytes < bound; });
    return rows;
  }
  // cmpAddr orders addresses as netip.Addr.Compare does: IPv4 before IPv6, then by value.
  function addrKey(s) {
    if (s.indexOf(":") < 0) return "4" + s.split(".").map(function (p) { return ("00" + p).slice(-3); }).join(".");
    var parts = s.split("::");
    var head = parts[0] ? parts[0].split(":") : [], tail = parts.length > 1 && parts[1] ? parts[1].split(":") : [];
    var fill = parts.length > 1 ? 8 - head.length - tail.length : 0;
    var groups = head.concat(new Array(fill).fill("0"), tail);
    return "6" + groups.map(function (g) { return ("0000" + g.toLowerCase()).slice(-4); }).join(":");
  }
  function cmpAddr(a, b) { var x = addrKey(a), y = addrKey(b); return x < y ? -1 : x > y ? 1 : 0; }

  // ----- selection and the URL hash -----
  function clampWindow(from, to) {
    var i0 = Math.floor((from - S) / W), i1 = Math.ceil((to - S) / W) - 1;
    i0 = Math.max(0, i0); i1 = Math.min(N - 1, i1);
    if (i1 < i0) return null;
    return [i0, i1];
  }
  function parseHash() {
    var h = location.hash.replace(/^#/, ""), out = {};
    h.split("&").forEach(function (kv) {
      var i = kv.indexOf("=");
      if (i > 0) out[decodeURIComponent(kv.slice(0, i))] = decodeURIComponent(kv.slice(i + 1));
    });
    return out;
  }
  function writeHash() {
    var parts = [];
    if (state.sel) parts.push("from=" + iso(S + state.i0 * W), "to=" + iso(S + (state.i1 + 1) * W));
    if (state.ip) parts.push("ip=" + encodeURIComponent(state.ip));
    var h = parts.length ? "#" + parts.join("&") : "";
    if (location.hash !== h) history.replaceState(null, "", h || location.pathname + location.search);
  }
  function applyHash() {
    var h = parseHash();
    state.ip = h.ip || "";
    if (h.from && h.to) {
      var f = Date.parse(h.from), t = Date.parse(h.to);
      var w = isNaN(f) || isNaN(t) ? null : clampWindow(f / 1000, t / 1000);
      if (w) { state.i0 = w[0]; state.i1 = w[1]; state.sel = true; }
      else notes(["The link's window (" + h.from + " to " + h.to + ") is not in this page's span: showing the whole span."]);
    } else { state.i0 = 0; state.i1 = N - 1; state.sel = false; }
  }
  function select(i0, i1, fromChart) {
    state.i0 = i0; state.i1 = i1; state.sel = !(i0 === 0 && i1 === N - 1);
    writeHash();
    renderDetail();
    if (!fromChart) showSelectOnCharts();
  }
  function selectIP(ip) { state.ip = ip; writeHash(); renderDetail(); updateIPSeries(); }

  // ----- header, summary, notes -----
  function notes(list) {
    var ul = document.getElementById("notes");
    list.forEach(function (n) { ul.appendChild(el("li", { text: n })); });
  }
  function renderSummary() {
    var s = D.Summary || D.summary, sec = document.getElementById("summary");
    var spanText = s.First ? stamp(s.First) + " – " + stamp(s.Last) + " UTC" : "none";
    var items = [
      ["records", num(s.Records)], ["flows", num(s.Flows)], ["bytes", human(s.Bytes, "bytes")], ["packets", num(s.Packets)],
      ["alerts", num(s.Alerts)], ["accounts", num(s.Accounts)], ["interfaces", num(s.Interfaces)], ["regions", num(s.Regions)],
      ["span", spanText], ["bad lines", num(s.BadLines)]
    ];
    if (s.Outside) items.push(["outside the window", num(s.Outside)]);
    var dl = el("dl");
    items.forEach(function (it) {
      dl.appendChild(el("div", { "data-field": it[0] }, [el("dt", { text: it[0] }), el("dd", { text: it[1] })]));
    });
    sec.appendChild(el("h2", { text: "Summary" }));
    sec.appendChild(dl);
    var src = document.getElementById("source");
    src.textContent = (D.source === "alerts" ? "From alerts files: " : D.source === "live" ? "Live, from the daemon: " : "From flow logs: ") + D.inputs.join(", ");
    if (D.alertedOnly) notes(["Read from alerts: the totals count alerted flows only (flows whose alerts were written), not every flow of the logs."]);
    notes(D.notes);
  }

  // ----- charts -----
  var METRIC = { bytes: ["BytesA", "BytesR"], packets: ["PktsA", "PktsR"], flows: ["FlowsA", "FlowsR"] };
  var xs = [];
  for (var i = 0; i < N; i++) xs.push(S + i * W);
  function ipSeries() {
    var out = new Array(N).fill(null);
    if (!state.ip) return out;
    var id = D.addrs.indexOf(state.ip);
    if (id < 0) return out;
    for (var i = 0; i < N; i++) {
      var t = D.top[i], v = 0;
      if (t) for (var j = 1; j < t.length; j++) if (t[j][0] === id || t[j][1] === id) v += t[j][state.metric === "bytes" ? 5 : state.metric === "packets" ? 6 : 7];
      out[i] = v;
    }
    return out;
  }
  function mainData() {
    var m = METRIC[state.metric];
    return [xs, D.series[m[0]], D.series[m[1]], ipSeries()];
  }
  // xAxis labels ticks in 24-hour UTC time, with the date at midnight and on the first tick.
  function xAxis() {
    return { label: "UTC", values: function (u, splits) {
      return splits.map(function (v, i) {
        if (v == null) return "";
        var t = hhmm(v);
        return i === 0 || t === "00:00" ? t + "\n" + day(v) : t;
      });
    } };
  }
  function tz(ts) { return uPlot.tzDate(new Date(ts * 1000), "Etc/UTC"); }
  function drawCharts() {
    if (N === 0 || D.summary.Flows === 0 && D.summary.Alerts === 0) {
      var e = document.getElementById("empty");
      e.hidden = false;
      e.textContent = "No flow records in the input: there is no traffic to chart.";
      if (N === 0) return;
    }
    var width = Math.max(600, document.getElementById("timeline").clientWidth - 20);
    var sync = uPlot.sync("vpc");
    var unit = function () { return state.metric; };
    var main = new uPlot({
      width: width, height: 260, tzDate: tz,
      cursor: { drag: { x: true, y: false, setScale: false }, sync: { key: sync.key } },
      scales: { x: { time: true } },
      axes: [xAxis(), { values: function (u, v) { return v.map(function (x) { return human(x, unit()); }); }, size: 70 }],
      series: [
        { value: function (u, v) { return v == null ? "" : stamp(v) + " UTC"; } },
        { label: "ACCEPT", stroke: "#2a7d3f", fill: "rgba(42,125,63,0.25)", width: 1, paths: uPlot.paths.stepped({ align: 1 }), value: function (u, v) { return v == null ? "" : human(v, unit()); } },
        { label: "REJECT", stroke: "#c0392b", fill: "rgba(192,57,43,0.25)", width: 1, paths: uPlot.paths.stepped({ align: 1 }), value: function (u, v) { return v == null ? "" : human(v, unit()); } },
        { label: "selected address (from the talker lists)", stroke: "#1f5fbf", width: 2, show: true, paths: uPlot.paths.stepped({ align: 1 }), value: function (u, v) { return v == null ? "" : human(v, unit()); } }
      ],
      hooks: {
        ready: [function () { setTimeout(showSelectOnCharts, 0); }],
        setSelect: [function (u) {
          if (u.select.width < 2) return;
          var a = u.posToVal(u.select.left, "x"), b = u.posToVal(u.select.left + u.select.width, "x");
          var w = clampWindow(a, b);
          if (w) select(w[0], w[1], true);
        }]
      }
    }, mainData(), document.getElementById("chart"));
    var colors = ["#7f8c8d", "#e6a700", "#e67e22", "#8e44ad"];
    var bands = ["levels 0–6", "levels 7–11", "levels 12–14", "levels 15–16"];
    var aseries = [{ value: function (u, v) { return v == null ? "" : stamp(v) + " UTC"; } }];
    for (var b = 0; b < 4; b++) aseries.push({ label: bands[b], stroke: colors[b], fill: colors[b] + "40", width: 1, paths: uPlot.paths.stepped({ align: 1 }) });
    var alerts = new uPlot({
      width: width, height: 140, tzDate: tz,
      cursor: { drag: { x: true, y: false, setScale: false }, sync: { key: sync.key } },
      scales: { x: { time: true } },
      axes: [xAxis(), { size: 70 }],
      series: aseries,
      hooks: { setSelect: main.hooks.setSelect }
    }, [xs, D.series.Alerts[0], D.series.Alerts[1], D.series.Alerts[2], D.series.Alerts[3]], document.getElementById("alertchart"));
    charts = [main, alerts];
    sync.sub(main); sync.sub(alerts);
  }
  function showSelectOnCharts() {
    charts.forEach(function (u) {
      if (!state.sel) { u.setSelect({ left: 0, width: 0, top: 0, height: 0 }, false); return; }
      var l = u.valToPos(S + state.i0 * W, "x"), r = u.valToPos(S + (state.i1 + 1) * W, "x");
      u.setSelect({ left: l, width: Math.max(2, r - l), top: 0, height: u.bbox.height / devicePixelRatio }, false);
    });
  }
  function updateIPSeries() { if (charts.length) charts[0].setData(mainData(), false); }
  function setMetric(m) {
    state.metric = m;
    document.querySelectorAll("[data-metric]").forEach(function (b) { b.setAttribute("aria-pressed", String(b.dataset.metric === m)); });
    if (charts.length) { charts[0].setData(mainData(), true); showSelectOnCharts(); }
  }

  // ----- peaks -----
  function talkerText(r) {
    return D.addrs[r[0]] + " → " + D.addrs[r[1]] + ":" + r[2];
  }
  function renderPeaks() {
    var sec = document.getElementById("peaks");
    var groups = { bytes: "Biggest intervals by bytes", reject: "REJECT bursts (flows)", flows: "Flow-count bursts" };
    ["bytes", "reject", "flows"].forEach(function (kind) {
      var list = D.peaks.filter(function (p) { return p.kind === kind; });
      sec.appendChild(el("h3", { text: groups[kind] }));
      if (!list.length) { sec.appendChild(el("p", { cls: "empty", text: "none" })); return; }
      var ol = el("ol", { "data-kind": kind });
      list.forEach(function (p) {
        var t = S + p.i * W;
        var value = kind === "bytes" ? human(p.value, "bytes") : num(p.value) + " flows";
        var top = p.top ? talkerText(p.top) + " (" + (kind === "reject" ? num(p.top[7]) + " flows" : human(p.top[5], "bytes")) + ")" : "no flows";
        var li = el("li", { "data-role": "peak", "data-kind": kind, "data-from": iso(t), "data-to": iso(t + W), tabindex: "0",
          onclick: function () { select(p.i, p.i); }, onkeydown: function (e) { if (e.key === "Enter") select(p.i, p.i); } }, [
          el("span", { cls: "when", text: span(t, t + W) }), " ",
          el("span", { cls: "val", text: value }), " ",
          el("span", { cls: "top", "data-role": "peak-talker", text: top })
        ]);
        ol.appendChild(li);
      });
      sec.appendChild(ol);
    });
  }

  // ----- detail: window, talkers, ip alerts, rules -----
  function ipButton(id) {
    var a = D.addrs[id];
    return el("button", { type: "button", cls: "ip" + (a === state.ip ? " on" : ""), "data-ip": a, onclick: function () { selectIP(a === state.ip ? "" : a); } }, [a]);
  }
  function renderDetail() {
    var win = document.getElementById("window");
    win.textContent = "";
    var from = S + state.i0 * W, to = S + (state.i1 + 1) * W;
    win.setAttribute("data-from", N ? iso(from) : "");
    win.setAttribute("data-to", N ? iso(to) : "");
    win.appendChild(el("h2", { text: state.sel ? "Window: " + span(from, to) : "Whole span" + (N ? ": " + span(from, to) : "") }));
    if (state.sel) win.appendChild(el("button", { type: "button", cls: "clear", onclick: function () { select(0, N - 1); } }, ["show the whole span"]));
    renderTalkers();
    renderIPAlerts();
    renderRules();
  }
  function renderTalkers() {
    var sec = document.getElementById("talkers");
    sec.textContent = "";
    var ipId = state.ip ? D.addrs.indexOf(state.ip) : -1;
    var keep = state.ip ? function (a) { return a.src === ipId || a.dst === ipId; } : null;
    // The whole span has a list of its own; a window merges its intervals'.
    var lists = !state.sel && !state.ip && D.spanTop ? [D.spanTop] : D.top.slice(state.i0, state.i1 + 1);
    var rows = N ? mergeTops(lists, keep) : [];
    sec.appendChild(el("h2", { text: "Top talkers" + (state.ip ? " with " + state.ip : "") }));
    if (state.ip) sec.appendChild(el("button", { type: "button", cls: "clear", onclick: function () { selectIP(""); } }, ["clear the address filter"]));
    var t = el("table");
    t.appendChild(el("thead", null, [el("tr", null, ["src", "dst", "dst port", "protocol", "action", "bytes", "packets", "flows"].map(function (h) { return el("th", { text: h }); }))]));
    var tb = el("tbody");
    rows.forEach(function (a) {
      var tr = el("tr", { "data-approx": a.approx ? "1" : "0", "data-src": D.addrs[a.src], "data-dst": D.addrs[a.dst], "data-bytes": String(a.bytes) }, [
        el("td", null, [ipButton(a.src)]), el("td", null, [ipButton(a.dst)]),
        el("td", { cls: "n", text: String(a.port) }), el("td", { text: proto(a.proto) }),
        el("td", { cls: a.action === "REJECT" ? "rej" : "", text: a.action }),
        el("td", { cls: "n", title: num(a.bytes) + (a.approx ? " to " + num(a.hi) : "") + " bytes", text: (a.approx ? "≈ " : "") + human(a.bytes, "bytes") }),
        el("td", { cls: "n", text: (a.approx ? "≥ " : "") + num(a.packets) }),
        el("td", { cls: "n", text: (a.approx ? "≥ " : "") + num(a.flows) })
      ]);
      tb.appendChild(tr);
    });
    t.appendChild(tb);
    sec.appendChild(t);
    if (!rows.length) sec.appendChild(el("p", { cls: "empty", text: state.ip ? "No listed talker with " + state.ip + " in this window." : "No flows in this window." }));
    if (rows.some(function (a) { return a.approx; })) sec.appendChild(el("p", { cls: "hint", text: "≈ marks rows that could differ from a full count: the window's intervals keep their top " + K + " talkers each, so these bytes are a lower bound (hover for the range)." }));
  }
  function renderIPAlerts() {
    var sec = document.getElementById("ipalerts");
    sec.textContent = "";
    sec.hidden = !state.ip;
    if (!state.ip) return;
    sec.setAttribute("data-ip", state.ip);
    sec.appendChild(el("h2", { text: "Alerts with " + state.ip + " (whole input, newest first)" }));
    var x = D.ipAlerts[state.ip];
    if (!x) {
      var why = "No alert of the input carries " + state.ip + ".";
      if (D.addrsDropped > 0 || D.pageCapped) why = "No alerts kept for " + state.ip + ": the report keeps the alerts of at most " + num(D.maxAddrs) + " addresses (" + num(D.addrsDropped) + " dropped, lowest levels first) and " + num(25000) + " alerts per page, talkers first.";
      sec.appendChild(el("p", { cls: "empty", text: why }));
      return;
    }
    if (x.a.length < x.n) sec.appendChild(el("p", { cls: "hint", "data-role": "ip-alerts-capped", text: "Capped: " + num(x.n) + " alerts carry this address; the newest " + D.perRule + " of each rule are listed (" + x.a.length + ")." }));
    var t = el("table");
    t.appendChild(el("thead", null, [el("tr", null, ["time (UTC)", "rule", "level", "description"].map(function (h) { return el("th", { text: h }); }))]));
    var tb = el("tbody");
    x.a.forEach(function (a) {
      var r = D.rules[a[1]];
      tb.appendChild(el("tr", { "data-rule": r[0] }, [el("td", { text: stamp(a[0]) }), el("td", { text: r[0] }), el("td", { cls: "n lvl" + bandOf(r[1]), text: String(r[1]) }), el("td", { text: D.descs[a[2]] })]));
    });
    t.appendChild(tb);
    sec.appendChild(t);
  }
  function bandOf(l) { return l >= 15 ? 3 : l >= 12 ? 2 : l >= 7 ? 1 : 0; }
  function renderRules() {
    var sec = document.getElementById("rules");
    sec.textContent = "";
    var m = new Map();
    for (var i = state.i0; i <= state.i1 && i < N; i++) {
      var base = S + i * W;
      (D.ruleHits[i] || []).forEach(function (h) {
        var a = m.get(h[0]);
        if (!a) { a = { r: h[0], n: 0, first: base + h[2], last: base + h[3] }; m.set(h[0], a); }
        a.n += h[1]; a.first = Math.min(a.first, base + h[2]); a.last = Math.max(a.last, base + h[3]);
      });
    }
    var rows = Array.from(m.values());
    var OTHER = ["…", -1, "other rules (an interval of this page lists its " + D.rulesCapped + " most frequent rules by name)"];
    function rule(i) { return i < 0 ? OTHER : D.rules[i]; }
    rows.sort(function (a, b) { return rule(b.r)[1] - rule(a.r)[1] || b.n - a.n || a.r - b.r; });
    sec.appendChild(el("h2", { text: "Alerts by rule in the window" }));
    var t = el("table");
    t.appendChild(el("thead", null, [el("tr", null, ["rule", "level", "description", "count", "first seen (UTC)", "last seen (UTC)"].map(function (h) { return el("th", { text: h }); }))]));
    var tb = el("tbody");
    rows.forEach(function (a) {
      var r = rule(a.r);
      tb.appendChild(el("tr", { "data-rule": r[0], "data-count": String(a.n) }, [el("td", { text: r[0] }), el("td", { cls: "n lvl" + bandOf(r[1]), text: r[1] < 0 ? "" : String(r[1]) }), el("td", { text: r[2] }), el("td", { cls: "n", text: num(a.n) }), el("td", { text: stamp(a.first) }), el("td", { text: stamp(a.last) })]));
    });
    t.appendChild(tb);
    sec.appendChild(t);
    if (!rows.length) sec.appendChild(el("p", { cls: "empty", text: "No alerts in this window." }));
  }

  // ----- start -----
  document.getElementById("width").textContent = N ? "interval " + (W % 86400 === 0 ? W / 86400 + " d" : W % 3600 === 0 ? W / 3600 + " h" : W % 60 === 0 ? W / 60 + " min" : W + " s") + ", " + num(N) + " intervals" : "";
  document.querySelectorAll("[data-metric]").forEach(function (b) { b.addEventListener("click", function () { setMetric(b.dataset.metric); }); });
  renderSummary();
  applyHash();
  drawCharts();
  renderPeaks();
  renderDetail();
  showSelectOnCharts();
  updateIPSeries();
  window.addEventListener("hashchange", function () { applyHash(); renderDetail(); showSelectOnCharts(); updateIPSeries(); });
  document.body.setAttribute("data-ready", "1");
})();
