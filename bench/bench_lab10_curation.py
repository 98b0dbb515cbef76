"""Preference curation by rater agreement, and what it does to DPO.

    python bench/bench_lab10_curation.py        # writes bench/results/lab10_curation.json

fixtures/lab10/prefs_rated.jsonl: 80 pairs, three raters each. One SFT+replay model is trained and
merged, then DPO (the lab's defaults) runs three times from it: on all 80 pairs with their majority
labels, on the pairs whose agreement P_i reaches the threshold, and, as the ceiling, on the 80 pairs
with their true labels (which a real team never has). Each is scored on the clean held-out
prefs_test: DPO's implicit-reward accuracy and margin, and the loss.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import datasets
from transformers.utils import logging

from labs.lab10_finetune import curation as C
from labs.lab10_finetune import model as M
from labs.lab10_finetune import train as T

OUT = Path(__file__).resolve().parent / "results"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threshold", type=float, default=0.5)
    args = parser.parse_args(argv)
    datasets.disable_progress_bars()
    logging.disable_progress_bar()
    logging.set_verbosity_error()
    rated = M.fixture("prefs_rated")
    everything, curated = C.curate(rated, 0.0), C.curate(rated, args.threshold)
    truth = [{"prompt": r["prompt"], "chosen": r[r["truth"]], "rejected": r["b" if r["truth"] == "a" else "a"]}
             for r in rated]
    t0 = time.perf_counter()
    runs = {}
    with tempfile.TemporaryDirectory() as tmp:
        base = M.base_path(tmp)
        sft = T.sft(base, M.fixture("addition_train"), Path(tmp) / "sft", {"replay": 30})
        merged = T.merge(base, sft["adapter"], Path(tmp) / "merged")
        for name, rows, info in (("majority, all pairs", everything["rows"], everything),
                                 (f"majority, agreement >= {args.threshold}", curated["rows"], curated),
                                 ("true labels, all pairs (ceiling)", truth, None)):
            out = T.dpo(merged, rows, Path(tmp) / name.split(",")[0], eval_rows=M.fixture("prefs_test"))
            runs[name] = {"pairs": len(rows), "steps": len(out["history"]),
                          "wrong_labels": info["wrong_labels"]["kept"] if info else 0,
                          "heldout_before": out["heldout_before"], "heldout_after": out["heldout_after"]}
    summary = {k: v for k, v in curated.items() if k != "rows"}
    result = {"machine": f"{os.cpu_count()} CPU cores, device {M.pick_device()}",
              "load_average_1min_at_end": round(os.getloadavg()[0], 2), "wall_s": round(time.perf_counter() - t0, 1),
              "agreement": summary, "dpo": runs}
    OUT.mkdir(exist_ok=True)
    (OUT / "lab10_curation.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
