// The /dashboard page: one self-contained HTML document (inline CSS, inline JS canvas charts, no CDN, no build step).
// The script reads `dashboard/events` (SSE): an `history` event with recent points, then a `status` event a second.
// It avoids backticks and dollar-brace sequences so it can live in this template literal unchanged.

export const DASHBOARD_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<link rel="icon" href="data:,">
<title>deepinfra-proxy dashboard</title>
<style>
  :root { --bg:#0f1419; --panel:#182029; --line:#2a3642; --text:#e6edf3; --dim:#8b98a5; --ok:#3fb950; --warn:#d29922; --crit:#f85149; --a:#58a6ff; --b:#bc8cff; --c:#f0883e; --d:#39c5cf; }
  * { box-sizing: border-box; }
  body { margin: 0; background: var(--bg); color: var(--text); font: 14px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
  header { display: flex; align-items: baseline; gap: 16px; padding: 12px 20px; border-bottom: 1px solid var(--line); flex-wrap: wrap; }
  header h1 { font-size: 18px; margin: 0; }
  header .meta { color: var(--dim); }
  #live { margin-left: auto; font-weight: 600; }
  #live::before { content: ""; display: inline-block; width: 10px; height: 10px; border-radius: 50%; margin-right: 6px; background: var(--warn); }
  #live.on::before { background: var(--ok); }
  #live.off::before { background: var(--crit); }
  main { padding: 16px 20px; display: grid; gap: 16px; }
  .tiles { display: grid; grid-template-columns: repeat(auto-fill, minmax(150px, 1fr)); gap: 10px; }
  .tile { background: var(--panel); border: 1px solid var(--line); border-radius: 8px; padding: 10px 12px; }
  .tile .k { color: var(--dim); font-size: 12px; text-transform: uppercase; letter-spacing: .04em; }
  .tile .v { font-size: 22px; font-weight: 600; font-variant-numeric: tabular-nums; }
  .tile .s { color: var(--dim); font-size: 12px; }
  .tile.warning { border-color: var(--warn); } .tile.critical { border-color: var(--crit); }
  .charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(360px, 1fr)); gap: 12px; }
  .chart { background: var(--panel); border: 1px solid var(--line); border-radius: 8px; padding: 8px 10px; }
  .chart h2 { font-size: 13px; margin: 0 0 4px; font-weight: 600; }
  .chart canvas { width: 100%; height: 150px; display: block; }
  .legend { color: var(--dim); font-size: 12px; min-height: 16px; }
  .legend span { margin-right: 10px; white-space: nowrap; }
  .legend i { display: inline-block; width: 10px; height: 3px; vertical-align: middle; margin-right: 4px; }
  .row { display: grid; grid-template-columns: 1fr 1fr; gap: 12px; }
  @media (max-width: 900px) { .row { grid-template-columns: 1fr; } }
  section.panel { background: var(--panel); border: 1px solid var(--line); border-radius: 8px; padding: 10px 12px; }
  section.panel h2 { font-size: 13px; margin: 0 0 8px; }
  table { width: 100%; border-collapse: collapse; font-variant-numeric: tabular-nums; }
  th, td { text-align: left; padding: 4px 6px; border-bottom: 1px solid var(--line); }
  th { color: var(--dim); font-weight: 500; font-size: 12px; }
  .badge { padding: 1px 8px; border-radius: 10px; font-size: 12px; font-weight: 600; }
  .closed, .none { background: rgba(63,185,80,.15); color: var(--ok); }
  .half_open, .warning, .unknown { background: rgba(210,153,34,.15); color: var(--warn); }
  .open, .critical { background: rgba(248,81,73,.15); color: var(--crit); }
  ul#alerts { list-style: none; margin: 0; padding: 0; }
  ul#alerts li { padding: 4px 0; }
</style>
</head>
<body>
<header>
  <h1>deepinfra-proxy</h1>
  <span class="meta" id="instance">-</span>
  <span class="meta" id="version">-</span>
  <span class="meta" id="uptime">-</span>
  <span id="live" class="">connecting</span>
</header>
<main>
  <div class="tiles">
    <div class="tile" id="t-conn"><div class="k">Connections</div><div class="v" id="connections">-</div><div class="s" id="connections-s">-</div></div>
    <div class="tile" id="t-mem"><div class="k">Memory</div><div class="v" id="memory">-</div><div class="s" id="memory-s">-</div></div>
    <div class="tile"><div class="k">Requests</div><div class="v" id="total-requests">-</div><div class="s" id="rps">-</div></div>
    <div class="tile" id="t-err"><div class="k">Errors</div><div class="v" id="error-count">-</div><div class="s" id="error-rate">-</div></div>
    <div class="tile"><div class="k">Latency p95</div><div class="v" id="p95">-</div><div class="s" id="ttfb">-</div></div>
    <div class="tile"><div class="k">Queue / shed</div><div class="v" id="queue">-</div><div class="s" id="shed">-</div></div>
    <div class="tile" id="t-tok"><div class="k">Tokens</div><div class="v" id="tokens">-</div><div class="s" id="tokens-s">-</div></div>
    <div class="tile"><div class="k">Aborts</div><div class="v" id="aborts">-</div><div class="s">client / upstream</div></div>
    <div class="tile"><div class="k">Workers</div><div class="v" id="pool">-</div><div class="s" id="pool-s">-</div></div>
    <div class="tile"><div class="k">Event loop p99</div><div class="v" id="eld">-</div><div class="s" id="eld-s">-</div></div>
  </div>
  <div class="charts">
    <div class="chart"><h2>Connection use %</h2><canvas id="c-conn"></canvas><div class="legend" id="l-conn"></div></div>
    <div class="chart"><h2>Memory use %</h2><canvas id="c-mem"></canvas><div class="legend" id="l-mem"></div></div>
    <div class="chart"><h2>Error rate % (60 s)</h2><canvas id="c-err"></canvas><div class="legend" id="l-err"></div></div>
    <div class="chart"><h2>Requests / s (10 s)</h2><canvas id="c-rps"></canvas><div class="legend" id="l-rps"></div></div>
    <div class="chart"><h2>Latency ms (60 s window)</h2><canvas id="c-lat"></canvas><div class="legend" id="l-lat"></div></div>
  </div>
  <div class="row">
    <section class="panel"><h2>Alerts</h2><ul id="alerts"><li><span class="badge none">none</span></li></ul></section>
    <section class="panel"><h2>Upstream mirrors</h2>
      <table><thead><tr><th>#</th><th>host</th><th>circuit</th><th>latency</th><th>attempts</th><th>failures</th></tr></thead><tbody id="mirrors"></tbody></table>
    </section>
  </div>
</main>
<script>
"use strict";
(function () {
  var MAX_POINTS = 300;
  var points = [];
  var thresholds = { connections: null, memory: null, error_rate: null };
  var updates = 0;
  function $(id) { return document.getElementById(id); }
  function text(id, v) { $(id).textContent = v; }
  function pct(x, d) { return x === null || x === undefined ? "-" : (x * 100).toFixed(d === undefined ? 1 : d) + " %"; }
  function num(x) { return x === null || x === undefined ? "-" : String(x); }
  function ms(x) { return x === null || x === undefined ? "-" : x + " ms"; }
  function dur(s) { var h = Math.floor(s / 3600), m = Math.floor(s % 3600 / 60); return (h ? h + "h " : "") + m + "m " + (s % 60) + "s"; }
  function css(name) { return getComputedStyle(document.documentElement).getPropertyValue(name).trim(); }

  function niceMax(v) {
    if (!(v > 0)) return 1;
    var p = Math.pow(10, Math.floor(Math.log10(v))), f = v / p;
    return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * p;
  }

  // series: [{ name, color, get(point) -> number|null, fmt }]; opts: { fixedMax, threshold, scale }
  function draw(id, series, opts) {
    var cv = $("c-" + id), dpr = window.devicePixelRatio || 1;
    var w = cv.clientWidth, h = cv.clientHeight;
    if (cv.width !== Math.round(w * dpr) || cv.height !== Math.round(h * dpr)) { cv.width = Math.round(w * dpr); cv.height = Math.round(h * dpr); }
    var g = cv.getContext("2d");
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, w, h);
    var left = 44, right = 8, top = 6, bottom = 16, pw = w - left - right, ph = h - top - bottom;
    var scale = opts.scale || 1, max = 0;
    series.forEach(function (s) { points.forEach(function (p) { var v = s.get(p); if (v !== null && v !== undefined && v * scale > max) max = v * scale; }); });
    if (opts.threshold !== null && opts.threshold !== undefined) max = Math.max(max, opts.threshold * scale * 1.1);
    max = opts.fixedMax !== undefined ? Math.max(opts.fixedMax, niceMax(max)) : niceMax(max);
    g.font = "11px system-ui, sans-serif"; g.fillStyle = css("--dim"); g.strokeStyle = css("--line"); g.lineWidth = 1;
    for (var i = 0; i <= 4; i++) {
      var y = top + ph - ph * i / 4;
      g.beginPath(); g.moveTo(left, Math.round(y) + 0.5); g.lineTo(left + pw, Math.round(y) + 0.5); g.stroke();
      var label = max * i / 4;
      g.fillText(label >= 100 ? label.toFixed(0) : label >= 10 ? label.toFixed(1) : label.toFixed(2), 2, y + 4);
    }
    g.fillText("-" + Math.round(MAX_POINTS) + " s", left, h - 3);
    g.fillText("now", left + pw - 20, h - 3);
    function xAt(k) { return left + pw - (points.length - 1 - k) * pw / (MAX_POINTS - 1); }
    function yAt(v) { return top + ph - Math.min(1, v * scale / max) * ph; }
    if (opts.threshold !== null && opts.threshold !== undefined) {
      g.save(); g.setLineDash([5, 4]); g.strokeStyle = css("--crit");
      g.beginPath(); g.moveTo(left, yAt(opts.threshold)); g.lineTo(left + pw, yAt(opts.threshold)); g.stroke(); g.restore();
    }
    var legend = [];
    series.forEach(function (s) {
      g.strokeStyle = s.color; g.lineWidth = 2; g.beginPath();
      var pen = false, last = null;
      points.forEach(function (p, k) {
        var v = s.get(p);
        if (v === null || v === undefined) { pen = false; return; }
        last = v;
        if (pen) g.lineTo(xAt(k), yAt(v)); else { g.moveTo(xAt(k), yAt(v)); pen = true; }
      });
      g.stroke();
      legend.push('<span><i style="background:' + s.color + '"></i>' + s.name + " " + (last === null ? "-" : s.fmt(last)) + "</span>");
    });
    if (opts.threshold !== null && opts.threshold !== undefined) legend.push('<span><i style="background:' + css("--crit") + '"></i>alert ' + (opts.threshold * scale).toFixed(1) + "</span>");
    $("l-" + id).innerHTML = legend.join("");
    cv.setAttribute("data-points", String(points.length));
  }

  function drawAll() {
    var p100 = function (x) { return (x * 100).toFixed(1) + " %"; };
    draw("conn", [{ name: "use", color: css("--a"), get: function (p) { return p.connection_use; }, fmt: p100 }], { scale: 100, fixedMax: 10, threshold: thresholds.connections });
    draw("mem", [{ name: "use", color: css("--b"), get: function (p) { return p.memory_use; }, fmt: p100 }], { scale: 100, fixedMax: 10, threshold: thresholds.memory });
    draw("err", [{ name: "error rate", color: css("--crit"), get: function (p) { return p.error_rate; }, fmt: function (x) { return (x * 100).toFixed(2) + " %"; } }], { scale: 100, fixedMax: 1, threshold: thresholds.error_rate });
    var perS = function (x) { return x.toFixed(1) + "/s"; };
    draw("rps", [
      { name: "requests", color: css("--a"), get: function (p) { return p.requests_per_s; }, fmt: perS },
      { name: "errors", color: css("--crit"), get: function (p) { return p.errors_per_s; }, fmt: perS },
      { name: "shed", color: css("--warn"), get: function (p) { return p.shed_per_s; }, fmt: perS }
    ], {});
    var msf = function (x) { return x + " ms"; };
    draw("lat", [
      { name: "p50", color: css("--d"), get: function (p) { return p.p50; }, fmt: msf },
      { name: "p95", color: css("--a"), get: function (p) { return p.p95; }, fmt: msf },
      { name: "p99", color: css("--b"), get: function (p) { return p.p99; }, fmt: msf },
      { name: "ttfb p95", color: css("--c"), get: function (p) { return p.ttfb_p95; }, fmt: msf }
    ], {});
  }

  function esc(s) { return String(s).replace(/[&<>"']/g, function (c) { return "&#" + c.charCodeAt(0) + ";"; }); }

  var lastTokens = null;
  function render(st) {
    thresholds = st.alert_thresholds || thresholds;
    var now = Date.now();
    var rate = lastTokens && now > lastTokens.t ? Math.max(0, (st.tokens.total - lastTokens.total) * 1000 / (now - lastTokens.t)) : 0;
    lastTokens = { t: now, total: st.tokens.total };
    text("tokens", num(st.tokens.total));
    text("tokens-s", "prompt " + num(st.tokens.prompt) + ", completion " + num(st.tokens.completion) + ", " + rate.toFixed(0) + " tok/s");
    text("instance", st.instance_id); text("version", "v" + st.version); text("uptime", "up " + dur(st.uptime_s));
    text("connections", st.current_connections + " / " + st.max_connections);
    text("connections-s", pct(st.connection_use) + " used, capacity " + st.capacity);
    text("memory", st.memory_usage_mb + " / " + st.memory_limit_mb + " MB");
    text("memory-s", pct(st.memory_use) + " of the limit" + (st.memory.shedding ? ", shedding" : ""));
    text("total-requests", num(st.total_requests));
    text("rps", st.rates.last_10s.requests_per_s + " req/s (10 s)");
    text("error-count", num(st.error_count));
    text("error-rate", "server error rate " + pct(st.rates.last_60s.error_rate, 2) + " (60 s)");
    text("p95", ms(st.response_time_ms.p95));
    text("ttfb", "p50 " + ms(st.response_time_ms.p50) + ", ttfb p95 " + ms(st.ttfb_ms.p95));
    text("queue", st.queue_length + " / " + st.shed_count);
    text("shed", st.rates.last_10s.shed_per_s + " shed/s (10 s)");
    text("aborts", st.client_aborts + " / " + st.upstream_aborts);
    text("pool", st.pool.inline ? "inline" : st.pool.size + " threads");
    text("pool-s", st.pool.busy + " streams in flight, " + st.pool.restarts + " restarts");
    text("eld", st.event_loop_delay_ms.p99_ms + " ms");
    text("eld-s", "max " + st.event_loop_delay_ms.max_ms + " ms (10 s)");
    var sev = {};
    st.alerts.forEach(function (a) { sev[a.name] = a.severity; });
    $("t-conn").className = "tile " + (sev.connections || "");
    $("t-mem").className = "tile " + (sev.memory || "");
    $("t-err").className = "tile " + (sev.error_rate || "");
    $("alerts").innerHTML = st.alerts.length === 0 ? '<li><span class="badge none">no active alerts</span></li>' : st.alerts.map(function (a) {
      return '<li data-alert="' + esc(a.name) + '"><span class="badge ' + esc(a.severity) + '">' + esc(a.severity) + "</span> <b>" + esc(a.name) + "</b> " +
        (a.value * 100).toFixed(1) + " % &gt; " + (a.threshold * 100).toFixed(1) + " % since " + esc(new Date(a.since).toLocaleTimeString()) + "</li>";
    }).join("");
    $("mirrors").innerHTML = st.mirrors.map(function (m) {
      return "<tr><td>" + m.index + "</td><td>" + esc(m.host) + '</td><td><span class="badge ' + esc(m.circuit) + '">' + esc(m.circuit) + "</span></td><td>" +
        ms(m.latency_ms) + "</td><td>" + m.attempts + "</td><td>" + m.failures + "</td></tr>";
    }).join("");
  }

  function push(p) { points.push(p); if (points.length > MAX_POINTS) points.splice(0, points.length - MAX_POINTS); }

  var token = new URLSearchParams(location.search).get("token");
  var url = "dashboard/events" + (token ? "?token=" + encodeURIComponent(token) : "");
  var live = $("live");
  function connect() {
    var es = new EventSource(url);
    es.addEventListener("open", function () { live.className = "on"; live.textContent = "live"; });
    es.addEventListener("error", function () { live.className = "off"; live.textContent = "reconnecting"; });
    es.addEventListener("history", function (e) { points = JSON.parse(e.data).slice(-MAX_POINTS); drawAll(); });
    es.addEventListener("status", function (e) {
      var msg = JSON.parse(e.data);
      if (msg.point) push(msg.point);
      render(msg.status);
      drawAll();
      updates++;
      document.body.setAttribute("data-updates", String(updates));
    });
  }
  window.addEventListener("resize", drawAll);
  connect();
})();
</script>
</body>
</html>
`;
