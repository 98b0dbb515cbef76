"""The dashboard: one HTML page with no build step; it reads GET /dashboard/data every 5 seconds.

    make lab-09, then open http://127.0.0.1:8009/dashboard (POST /traffic first to have something to see)

Panels, in the order a runbook asks for them: golden signals per model and tenant, cost per tenant
and per prompt version, latency percentiles and the TTFT / decode split, SLO burn rates with firing
alerts, and the recent traces the tail sampler kept, with their span trees and the kept fraction.
Above the tables, time series (timeseries.py) drawn by static/charts.js, a small SVG line-chart
renderer served by the lab itself (GET /dashboard/charts.js): nothing is fetched from the network.
"""

from __future__ import annotations

from typing import Any

from labs.lab09_gateway import latency, slo, timeseries, tracing
from labs.lab09_gateway.calls import CallLog
from labs.lab09_gateway.golden import golden_signals
from labs.lab09_gateway.sampling import LiveSampling
from shared.slo import SLO, Alert


def data(log: CallLog, window_s: float, inflight: dict[str, int], slos: list[SLO], alerts: list[Alert],
         sampling: LiveSampling) -> dict[str, Any]:
    """Everything the page draws, in one JSON (GET /dashboard/data)."""
    rows = log.window(window_s)
    by_tenant = log.cost_by("tenant", window_s)
    return {"window_s": window_s, "golden": golden_signals(rows, window_s, inflight),
            "cost": {"tenant": by_tenant, "prompt_version": log.cost_by("prompt_version", window_s),
                     "total_usd": round(sum(r["cost_usd"] for r in by_tenant), 8)},
            "latency": latency.breakdown(rows), "components": latency.components(rows), "slo": slo.status(log, slos, alerts), "sampling": sampling.stats(),
            "traces": tracing.recent(log, 5, trees=True), "series": timeseries.series(rows, slos, window_s, BUCKETS)}


BUCKETS = 30  # points per chart: the window cut into 30 buckets


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>lab-09 gateway dashboard</title>
<link rel="icon" href="/dashboard/favicon.svg" type="image/svg+xml">
<script src="/dashboard/charts.js"></script>
<style>
 body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}
 h1{font-size:1.3em} h2{font-size:1.05em;margin:1.2em 0 .4em}
 table{border-collapse:collapse;margin-bottom:.5em} td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}
 th{background:#f3f3f3} td:first-child,th:first-child{text-align:left}
 .firing{color:#b00;font-weight:bold} .ok{color:#070} .bar{display:inline-block;height:10px;background:#4a7}
 pre{background:#f7f7f7;padding:6px;font-size:12px}
 .charts{display:flex;flex-wrap:wrap;gap:12px} .charts figure{margin:0} figcaption{font-weight:600;margin-bottom:2px}
 .seg{display:inline-block;height:10px} .tag{display:inline-block;background:#eef;border-radius:3px;padding:0 6px;margin-right:6px}
</style></head>
<body>
<h1>lab-09 gateway <small id="updated"></small></h1>
<label>window <select id="window"><option value="300">5 min</option><option value="900" selected>15 min</option>
<option value="3600">1 hour</option><option value="86400">24 hours</option></select></label>
<h2>Over time <small id="bucket"></small></h2>
<div class="charts">
<figure><figcaption>Latency percentiles</figcaption><div id="chart-latency"></div></figure>
<figure><figcaption>Error rate</figcaption><div id="chart-errors"></div></figure>
<figure><figcaption>Cost</figcaption><div id="chart-cost"></div></figure>
<figure><figcaption>SLO burn rate</figcaption><div id="chart-burn"></div></figure>
</div>
<h2>Golden signals (per model and tenant)</h2>
<table id="golden"><thead><tr><th>model</th><th>tenant</th><th>calls</th><th>calls/s</th><th>error rate</th>
<th>client / provider / gateway errors</th><th>p50 ms</th><th>p99 ms</th><th>provider 429s</th><th>cost $</th></tr></thead>
<tbody></tbody></table>
<div>in flight (per upstream model, now): <span id="inflight"></span></div>
<h2>Cost per tenant <span id="total-cost"></span></h2>
<table id="cost-tenant"><thead><tr><th>tenant</th><th>calls</th><th>cost $</th><th></th></tr></thead><tbody></tbody></table>
<h2>Cost per prompt version</h2>
<table id="cost-version"><thead><tr><th>prompt version</th><th>calls</th><th>cost $</th><th></th></tr></thead><tbody></tbody></table>
<h2>Latency percentiles (ms) and breakdown</h2>
<table id="latency"><thead><tr><th>model</th><th>n</th><th>p50</th><th>p90</th><th>p99</th><th>queue</th><th>TTFT</th>
<th>decode</th></tr></thead><tbody></tbody></table>
<h2>Where the time goes (streamed calls, median ms)</h2>
<table id="components"><thead><tr><th>model</th><th>calls</th><th>network</th><th>queue</th><th>prefill</th>
<th>decode</th><th>gateway</th><th>TPOT</th><th>prefill ms / input token</th><th></th></tr></thead><tbody></tbody></table>
<h2>SLO burn rates</h2>
<table id="slo"><thead><tr><th>SLO</th><th>target</th><th>SLI</th><th>budget left</th><th>burn 5m</th><th>1h</th>
<th>6h</th><th>3d</th><th>alerts</th></tr></thead><tbody></tbody></table>
<h2>Recent traces (kept by tail sampling)</h2>
<div id="sampling"></div>
<div id="traces"></div>
<script>
const fmt = (v, d=3) => v === null || v === undefined ? "-" : (typeof v === "number" ? +v.toFixed(d) : v);
const esc = s => String(s).replace(/[&<>"]/g, c => ({"&":"&amp;","<":"&lt;",">":"&gt;",'"':"&quot;"}[c]));
function rows(id, items, cells) {
  document.querySelector(`#${id} tbody`).innerHTML = items.map(
    it => "<tr>" + cells(it).map(c => `<td>${c}</td>`).join("") + "</tr>").join("");
}
function tree(nodes, depth=0) {
  return nodes.map(n => "  ".repeat(depth) + `${esc(n.name)}  ${fmt(n.duration_ms, 2)} ms` +
    (n.attributes["error.type"] ? `  error.type=${esc(n.attributes["error.type"])}` : "") + "\\n" +
    tree(n.children || [], depth + 1)).join("");
}
function charts(s) {
  const t = s.t;
  document.getElementById("bucket").textContent = `(one point per ${fmt(s.bucket_s, 1)} s)`;
  Charts.line(document.getElementById("chart-latency"), {t, yLabel: "latency (ms)", series: [
    {name: "p50", values: s.p50_ms}, {name: "p90", values: s.p90_ms}, {name: "p99", values: s.p99_ms}]});
  Charts.line(document.getElementById("chart-errors"), {t, yLabel: "error rate",
    series: [{name: "errors / calls", values: s.error_rate, color: "#d62728"}]});
  Charts.line(document.getElementById("chart-cost"), {t, yLabel: "cost (USD)", series: [
    {name: "per bucket", values: s.cost_usd}, {name: "cumulative", values: s.cumulative_usd}]});
  Charts.line(document.getElementById("chart-burn"), {t, yLabel: "burn rate (x budget)",
    refs: [{y: 1, label: "1x: budget spent in the period"}],
    series: Object.entries(s.burn_rate).map(([name, values]) => ({name, values}))});
}
function inflight(m) {
  const items = Object.entries(m);
  return items.length ? items.map(([k, v]) => `<span class="tag">${esc(k)}: ${v}</span>`).join("") : "none";
}
async function refresh() {
  const w = document.getElementById("window").value;
  const d = await (await fetch(`/dashboard/data?window_s=${w}`)).json();
  charts(d.series);
  rows("golden", d.golden.rows, r => [esc(r.model), esc(r.tenant), r.calls, fmt(r.calls_per_s, 4),
    fmt(r.error_rate, 4), `${r.errors.client} / ${r.errors.provider} / ${r.errors.gateway}`,
    fmt(r.p50_ms, 1), fmt(r.p99_ms, 1), r.provider_429, fmt(r.cost_usd, 8)]);
  document.getElementById("inflight").innerHTML = inflight(d.golden.inflight);
  const max = Math.max(1e-12, ...d.cost.tenant.map(c => c.cost_usd));
  const bar = c => `<span class="bar" style="width:${Math.round(200 * c.cost_usd / max)}px"></span>`;
  rows("cost-tenant", d.cost.tenant, c => [esc(c.name), c.calls, fmt(c.cost_usd, 8), bar(c)]);
  rows("cost-version", d.cost.prompt_version, c => [esc(c.name), c.calls, fmt(c.cost_usd, 8), bar(c)]);
  document.getElementById("total-cost").textContent = `(total $${fmt(d.cost.total_usd, 8)})`;
  rows("latency", Object.entries(d.latency), ([m, l]) => [esc(m), l.latency_ms.n, fmt(l.latency_ms.p50, 1),
    fmt(l.latency_ms.p90, 1), fmt(l.latency_ms.p99, 1), fmt(l.median_stages_ms.queue, 2),
    fmt(l.median_stages_ms.ttft, 1), fmt(l.median_stages_ms.decode, 1)]);
  const parts = ["network", "queue", "prefill", "decode", "gateway"];
  const hues = {network: "#1f77b4", queue: "#ff7f0e", prefill: "#9467bd", decode: "#2ca02c", gateway: "#888"};
  const stack = m => { const tot = parts.reduce((a, k) => a + (m[k] || 0), 0) || 1;
    return parts.map(k => `<span class="seg" title="${k}" style="width:${Math.round(200 * (m[k] || 0) / tot)}px;` +
      `background:${hues[k]}"></span>`).join(""); };
  rows("components", Object.entries(d.components), ([m, c]) => [esc(m), c.calls, fmt(c.median_ms.network, 2),
    fmt(c.median_ms.queue, 2), fmt(c.median_ms.prefill, 2), fmt(c.median_ms.decode, 2), fmt(c.median_ms.gateway, 2),
    fmt(c.median_ms.tpot, 2), fmt(c.prefill_fit.b_ms_per_token, 4), stack(c.median_ms)]);
  rows("slo", d.slo.slos, s => [esc(s.name), s.target, fmt(s.sli_value, 4), fmt(s.budget_remaining, 4),
    fmt(s.burn_rates["5m"], 2), fmt(s.burn_rates["1h"], 2), fmt(s.burn_rates["6h"], 2), fmt(s.burn_rates["3d"], 2),
    s.alerts.filter(a => a.firing).map(a => `<span class="firing">${esc(a.alert)}</span>`).join(" ") ||
    '<span class="ok">none</span>']);
  const sm = d.sampling;
  document.getElementById("sampling").textContent = `kept ${sm.kept} of ${sm.traces} traces ` +
    `(kept fraction ${fmt(sm.kept_fraction, 4)}; policy p=${sm.policy.p}, slow >= ${sm.policy.slow_ms} ms; ` +
    Object.entries(sm.by_reason).map(([k, v]) => `${k} ${v}`).join(", ") + ")";
  document.getElementById("traces").innerHTML = d.traces.map(t =>
    `<div class="trace"><b>${esc(t.route)}</b> ${esc(t.tenant)} status ${t.status} ${fmt(t.latency_ms, 1)} ms ` +
    `trace ${esc(t.trace_id || "-")}<pre>${tree(t.tree)}</pre></div>`).join("");
  document.getElementById("updated").textContent = "updated " + new Date().toLocaleTimeString();
  document.body.dataset.loaded = "1";
}
document.getElementById("window").addEventListener("change", refresh);
refresh(); setInterval(refresh, 5000);
</script></body></html>
"""
