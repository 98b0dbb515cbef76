"""Lab-13's operations numbers in one run: triage (rules vs model prompts), RCA (accuracy and tool-call
efficiency under the investigator's flaws), anomaly detectors (precision / recall), change-risk calibration.

    .venv/bin/python bench/bench_lab13_ops.py          # ~1-2 minutes on a laptop CPU

The triage model's default `wrong_rate` is 0.1; the two wrong_rate-0 rows separate what the prompt
changes (the graph, the rubric) from the model's own slips. Incidents: the 14 fixture ones plus generated ones (fixed seeds). Writes bench/results/lab13_ops.json
and lab13_ops.png (four panels). Every number in the lab README's results table comes from here.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from labs.lab13_sre import (
    anomaly,
    change_risk,
    mock_plugin,  # noqa: F401  (the lab's models for the in-process mock)
    rca,
    triage,
)
from labs.lab13_sre.estate import fixture_incidents, generate, load_estate, render
from shared.llm import Model
from shared.plots import plt, replot, save

OUT = Path(__file__).resolve().parent / "results"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replot", action="store_true", help="re-draw the PNG from the committed JSON; measure nothing")
    if parser.parse_args().replot:
        replot(OUT / "lab13_ops.json", PLOTS)
        return
    OUT.mkdir(exist_ok=True)
    estate = load_estate()
    model = Model.from_settings()
    tri_incs = fixture_incidents() + [render(s, estate) for s in generate(26, seed=1, estate=estate)]
    tri = {}
    for name, kw in (("rules", {"classifier": "rules"}), ("llm v1 (no graph)", {"classifier": "llm", "version": "v1"}),
                     ("llm v2 (graph)", {"classifier": "llm", "version": "v2"}),
                     ("llm v3 (no rubric)", {"classifier": "llm", "version": "v3"}),
                     ("llm v1, wrong_rate 0", {"classifier": "llm", "version": "v1", "mock": {"wrong_rate": 0}}),
                     ("llm v2, wrong_rate 0", {"classifier": "llm", "version": "v2", "mock": {"wrong_rate": 0}})):
        res = triage.measure(tri_incs, estate, model=model.for_behaviour("sre_triage"), **kw)
        tri[name] = {k: v for k, v in res["accuracy"].items()}
        print("triage", name, {k: v["value"] for k, v in res["accuracy"].items()})
    rca_incs = fixture_incidents() + [render(s, estate) for s in generate(14, seed=2, estate=estate)]
    rc = {}
    for name, mock in (("careful", {"anchor_rate": 0, "wander_rate": 0}), ("default", {}),
                       ("anchors often", {"anchor_rate": 0.5}), ("wanders", {"wander_rate": 0.5}),
                       ("loops", {"repeat_rate": 0.3})):
        res = rca.evaluate(rca_incs, estate, model.for_behaviour("sre_rca"), mock or None)
        rc[name] = {k: res[k] for k in ("accuracy", "service_accuracy", "efficiency", "mean_calls", "statuses")}
        print("rca", name, rc[name])
    det = {"labelled_week": anomaly.benchmark(), "incidents": incident_detection()}
    print("anomaly", json.dumps(det))
    _, risk = change_risk.fixture_report()
    result = {"triage": tri, "triage_incidents": len(tri_incs), "rca": rc, "rca_incidents": len(rca_incs),
              "anomaly": det, "change_risk": risk}
    (OUT / "lab13_ops.json").write_text(json.dumps(result, indent=2))
    plot(result, OUT / "lab13_ops.png")


def incident_detection() -> dict[str, dict]:
    """Each detector on the root service's error ratio of every fixture incident (the onset is the label)."""
    scores: dict[str, list[dict]] = {d: [] for d in ("ewma", "zscore", "cusum")}
    for inc in fixture_incidents():
        x = np.asarray(inc.series[inc.truth["service"]]["error_ratio"])
        for d in scores:
            scores[d].append(anomaly.score(anomaly.detect(x, d, k=4.0, warmup=10), [inc.spec.onset_min], tolerance=3))
    return {d: {"precision": round(float(np.mean([s["precision"] for s in ss])), 4),
                "recall": round(float(np.mean([s["recall"] for s in ss])), 4)} for d, ss in scores.items()}


def plot(r: dict, path: Path) -> None:
    """Triage accuracy, RCA accuracy/efficiency, detectors' precision/recall, change-risk reliability (JSON)."""
    fig, ax = plt.subplots(2, 2, figsize=(12, 7.5))
    names = list(r["triage"])
    for i, f in enumerate(("severity", "team", "triage")):
        vals = [r["triage"][n][f]["value"] for n in names]
        ax[0, 0].bar([x + (i - 1) * 0.27 for x in range(len(names))], vals, 0.27, label=f)
    ax[0, 0].set_xticks(range(len(names)), names, fontsize=7, rotation=15)
    ax[0, 0].set_title(f"triage accuracy ({r['triage_incidents']} incidents)", fontsize=9)
    ax[0, 0].set_xlabel("triage classifier", fontsize=8)
    ax[0, 0].set_ylabel("share of incidents right", fontsize=8)
    ax[0, 0].set_ylim(0, 1.05)
    ax[0, 0].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1))
    names = list(r["rca"])
    ax[0, 1].bar([x - 0.2 for x in range(len(names))], [r["rca"][n]["accuracy"] for n in names], 0.4, label="accuracy")
    ax[0, 1].bar([x + 0.2 for x in range(len(names))], [r["rca"][n]["efficiency"] for n in names], 0.4, label="efficiency")
    ax[0, 1].set_xticks(range(len(names)), names, fontsize=7)
    ax[0, 1].set_title(f"RCA agent ({r['rca_incidents']} incidents)", fontsize=9)
    ax[0, 1].set_xlabel("mock agent behaviour", fontsize=8)
    ax[0, 1].set_ylabel("accuracy / efficiency (0 to 1)", fontsize=8)
    ax[0, 1].set_ylim(0, 1.05)
    ax[0, 1].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1))
    wk = r["anomaly"]["labelled_week"]
    ax[1, 0].bar([x - 0.2 for x in range(len(wk))], [wk[d]["precision"] for d in wk], 0.4, label="precision")
    ax[1, 0].bar([x + 0.2 for x in range(len(wk))], [wk[d]["recall"] for d in wk], 0.4, label="recall")
    ax[1, 0].set_xticks(range(len(wk)), list(wk), fontsize=8)
    ax[1, 0].set_title("detectors on a labelled week with a daily cycle", fontsize=9)
    ax[1, 0].set_xlabel("anomaly detector", fontsize=8)
    ax[1, 0].set_ylabel("precision / recall of flagged hours", fontsize=8)
    ax[1, 0].set_ylim(0, 1.05)
    ax[1, 0].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1))
    rel = r["change_risk"]["test"]["reliability"]
    ax[1, 1].plot([0, 0.5], [0, 0.5], "k:", lw=1)
    ax[1, 1].scatter([b["mean_p"] for b in rel], [b["observed"] for b in rel], s=[10 + 3 * b["n"] for b in rel])
    ax[1, 1].set_xlabel("predicted risk", fontsize=8)
    ax[1, 1].set_ylabel("observed incident rate", fontsize=8)
    t = r["change_risk"]["test"]
    ax[1, 1].set_title(f"change risk reliability (AUC {t['auc']}, ECE {t['ece']}, Brier {t['brier']})", fontsize=9)
    fig.tight_layout()
    save(fig, path, dpi=90)


PLOTS = {"lab13_ops.png": plot}


if __name__ == "__main__":
    main()
