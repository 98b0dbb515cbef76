"""Attack success rate per probe family, undefended vs each guard layer vs all layers; over-refusal.

    .venv/bin/python bench/bench_lab12_redteam.py        # a few minutes on a laptop CPU
    -> bench/results/lab12_redteam.json, lab12_redteam.png, lab12_redteam.report.jsonl (garak format)

Target: mock/safety_target (obedience 0.85, indirect 0.9, spotlight_strength 1.0, refusal 0.97).
Ten families x 8 generated probes x 3 generations per configuration; over-refusal on the 30 benign
look-alikes x 3. The classifier (MiniLM + logistic regression) is fitted here on its train split
(attacks at another seed + generated benign look-alikes), its threshold picked on its validation split;
the red team's probes (TEST_SEED) and look-alikes (probes.BENIGN) are its test set and never trained on.
held_out_recall refits it without each family in turn and measures recall on that family.
Also written: each layer's false-positive rate alone on the look-alikes (layer_false_positives).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import shared  # noqa: F401  (offline environment first)
from labs.lab12_safety import classifier, mock_plugin, redteam
from labs.lab12_safety.guard import Guard
from labs.lab12_safety.judge import Judge
from labs.lab12_safety.probes import FAMILIES, TEST_SEED, benign, generate
from shared.config import REPO_ROOT
from shared.llm import Model
from shared.plots import plt, replot, save

OUT = REPO_ROOT / "bench" / "results"
assert mock_plugin.BEHAVIOUR_NAMES


def plot(result: dict, path: Path) -> None:
    """ASR per probe family per defence configuration, and over-refusal against ASR, from the JSON."""
    summary = result["summary"]
    configs, families = list(summary), result["families"]
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(15, 5.2), gridspec_kw={"width_ratios": [3, 1]})
    width = 0.8 / len(configs)
    for i, c in enumerate(configs):
        ax.bar([f + (i - (len(configs) - 1) / 2) * width for f in range(len(families))],  # centred on the tick
               [summary[c]["families"][fam]["asr"] for fam in families], width, label=c)
    ax.set_xticks(range(len(families)), families, rotation=25)
    ax.set_xlabel("probe family")
    ax.set_ylabel("attack success rate")
    ax.set_ylim(0, 1.05)
    ax.set_title("ASR per probe family: undefended, each layer alone, all layers (mock/safety_target)", pad=34)
    # above the panel: some family's bar reaches 1.0 in any corner a legend could take
    ax.legend(ncols=len(configs), fontsize=8, loc="lower center", bbox_to_anchor=(0.5, 1.0))
    ax2.scatter([summary[c]["over_refusal"] for c in configs], [summary[c]["asr"] for c in configs])
    for c in configs:
        ax2.annotate(c, (summary[c]["over_refusal"], summary[c]["asr"]), fontsize=8, xytext=(5, -3),
                     textcoords="offset points")
    ax2.set_xlabel("over-refusal on benign look-alikes")
    ax2.set_ylabel("overall ASR")
    ax2.set_title("helpfulness / safety trade-off")
    fig.tight_layout()
    save(fig, path, dpi=110)


PLOTS = {"lab12_redteam.png": plot}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replot", action="store_true", help="re-draw the PNG from the committed JSON; measure nothing")
    if parser.parse_args().replot:
        replot(OUT / "lab12_redteam.json", PLOTS)
        return
    start = time.perf_counter()
    model = Model.from_settings()
    data = classifier.dataset()
    t = time.perf_counter()
    clf = classifier.fit(data)  # fitted here, not loaded: the bench measures the procedure
    fit_s = time.perf_counter() - t
    shipped = classifier.load_or_fit()
    runner = redteam.Runner(model, Guard(lambda: clf, Judge(model)))
    out = redteam.run(runner, per_family=8, generations=3, seed=TEST_SEED, run_id="bench")
    rows = out.pop("report_rows")
    test_benign = [p.text for p in benign()]
    out["classifier"] = {
        "digest": clf.digest, "shipped_digest_matches": shipped.digest == clf.digest,
        "n_train": clf.n_train, "n_validation": len(data.validation.texts), "fit_s_cold": round(fit_s, 1),
        "validation": clf.validation,
        "test_false_positive_rate": round(float((clf.score(test_benign) >= clf.threshold).mean()), 4),
        "test_attack_recall": round(float((clf.score([p.text for p in generate(FAMILIES, 8, TEST_SEED)])
                                           >= clf.threshold).mean()), 4),
        "train_test_overlap": len(set(data.train.texts + data.validation.texts) & classifier.held_out_texts())}
    out["held_out_recall"] = classifier.held_out_recall(data)
    out["model"] = "mock/safety_target (obedience 0.85, indirect 0.9, spotlight_strength 1.0, refusal 0.97)"
    out["wall_s"] = round(time.perf_counter() - start, 1)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "lab12_redteam.json").write_text(json.dumps(out, indent=1) + "\n")
    (OUT / "lab12_redteam.report.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    plot(out, OUT / "lab12_redteam.png")
    print(redteam.table(out["summary"]))
    print("held-out family recall:", out["held_out_recall"])
    print("classifier:", json.dumps(out["classifier"]))
    print("each layer alone on the benign look-alikes:",
          {k: v["rate"] for k, v in out["layer_false_positives"].items()})


if __name__ == "__main__":
    main()
