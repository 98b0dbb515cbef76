"""Self-contained HTML reports (tables and inline PNG plots) and the same data as JSON.

    python -m labs.lab08_eval report qa-<id> --out report.html

Run report: score by slice with 95% CIs, and, for runs graded by a judge, that judge's bias audit. Comparison report: the flip matrix and per-slice deltas with CIs.
Judge report: each bias before and after its mitigation. Plots are PNGs embedded as base64, so the
HTML file is one file you can attach to a ticket.
"""

from __future__ import annotations

import base64
import html
import json
from typing import Any

from shared.plots import png


def _png(fig) -> str:
    """The figure as an <img> the HTML report carries inline (one file, no side assets)."""
    return f'<img alt="plot" src="data:image/png;base64,{base64.b64encode(png(fig, dpi=90)).decode()}">'


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "<p>(none)</p>"
    head = "".join(f"<th>{html.escape(str(k))}</th>" for k in rows[0])
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in r.values()) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _page(title: str, parts: list[str], data: dict[str, Any]) -> str:
    style = ("body{font-family:sans-serif;max-width:960px;margin:2em auto}table{border-collapse:collapse}"
             "td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{style}</style></head><body><h1>{html.escape(title)}</h1>{''.join(parts)}"
            f"<details><summary>JSON</summary><pre>{html.escape(json.dumps(data, indent=2))}</pre></details>"
            "</body></html>")


def run_html(run: dict[str, Any]) -> str:
    summary = run.get("summary") or {"scores": {}, "slices": {}}
    plt = _plt()
    parts = [f"<p>dataset {html.escape(run['dataset'])} (version {run['version']}), model "
             f"{html.escape(run['model'])}, {run['done']}/{run['n_items']} items, status {run['status']}</p>",
             "<h2>Scores (95% bootstrap CI)</h2>",
             _table([{"scorer": k, **v} for k, v in summary["scores"].items()])]
    for name in summary["scores"]:
        slices = [(s, v[name]) for s, v in summary["slices"].items() if name in v]
        if not slices:
            continue
        fig, ax = plt.subplots(figsize=(7, 0.4 * len(slices) + 1))
        means = [v["mean"] for _, v in slices]
        err = [[m - v["low"] for m, (_, v) in zip(means, slices, strict=True)],
               [v["high"] - m for m, (_, v) in zip(means, slices, strict=True)]]
        ax.barh([s for s, _ in slices], means, xerr=err, color="#4c72b0", capsize=3)
        ax.set_xlim(0, 1)
        ax.set_xlabel(f"mean {name} score")
        ax.set_ylabel("slice")
        ax.set_title(f"{name} by slice (95% CI)")
        parts += [f"<h2>{html.escape(name)} by slice</h2>", _png(fig)]
    audit = summary.get("judge_bias")
    if audit:
        parts += ["<h2>The judge's biases (measured with this run's judge)</h2>",
                  *_bias_parts(audit["rows"], audit["options"])]
    return _page(f"Eval run {run['id']}", parts, run)


def compare_html(result: dict[str, Any]) -> str:
    plt = _plt()
    f = result["flips"]
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.5))
    matrix = [[f["both_pass"], f["broken"]], [f["fixed"], f["both_fail"]]]
    axes[0].imshow(matrix, cmap="Blues")
    for i in range(2):
        for j in range(2):
            axes[0].text(j, i, str(matrix[i][j]), ha="center", va="center")
    axes[0].set_xticks([0, 1], ["B pass", "B fail"])
    axes[0].set_yticks([0, 1], ["A pass", "A fail"])
    axes[0].set_xlabel("run B")
    axes[0].set_ylabel("run A")
    axes[0].set_title("flip matrix")
    sl = result["slices"]
    deltas = [r["delta"] for r in sl]
    axes[1].barh([r["slice"] for r in sl], deltas, color=["#c44e52" if r["regressed"] else "#55a868" for r in sl],
                 xerr=[[d - r["low"] for d, r in zip(deltas, sl, strict=True)],
                       [r["high"] - d for d, r in zip(deltas, sl, strict=True)]], capsize=3)
    axes[1].axvline(0, color="black", lw=0.8)
    axes[1].set_xlabel("score difference B − A")
    axes[1].set_ylabel("slice")
    axes[1].set_title("Δ by slice (B − A, 95% CI)")
    parts = [f"<p><b>verdict: {html.escape(result['verdict'])}</b>. {html.escape(result['explanation'])}</p>",
             _png(fig), "<h2>Slices</h2>", _table(sl)]
    return _page(f"Compare {result['a']} → {result['b']}", parts, result)


def _bias_parts(rows: list[dict[str, Any]], options: dict[str, Any]) -> list[str]:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 3))
    x = range(len(rows))
    ax.bar([i - 0.2 for i in x], [r["before"] for r in rows], width=0.4, label="before", color="#c44e52")
    ax.bar([i + 0.2 for i in x], [r["after"] for r in rows], width=0.4, label="after mitigation", color="#55a868")
    ax.set_xticks(list(x), [r["bias"] for r in rows])
    ax.set_ylim(0, 1)
    ax.set_xlabel("bias probe")
    ax.set_ylabel("symptom rate")
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1))  # beside the bars: a rate near 1 reaches the top
    ax.set_title("judge bias: symptom rate")
    return [f"<p>judge options {html.escape(json.dumps(options))}</p>", _png(fig), _table(rows)]


def bias_html(rows: list[dict[str, Any]], options: dict[str, Any]) -> str:
    return _page("Judge bias", _bias_parts(rows, options), {"options": options, "rows": rows})
