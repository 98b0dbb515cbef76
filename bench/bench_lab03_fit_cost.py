"""The cost estimate behind POST /fit's budget (models.fit_cost_s) against measured fit times.

    .venv/bin/python bench/bench_lab03_fit_cost.py           # ~1 minute; --quick skips the whole reports

1. One fit of each model on each bundled dataset's 75% training split (the fastest of --repeats runs,
   one thread, as fit_predict runs it) beside the estimate of one fit (FIT_COST: overhead_s + s_per_unit
   * rows * features * classes): measured / estimated below 1 means the estimate is on the safe side.
2. Whole fit_report calls, timed end to end, beside fit_cost_s: the README's light examples and the
   heavy request the sync route refuses (digits + gradient_boosting + 3 folds, ~10 s: skipped by --quick).
Writes bench/results/lab03_fit_cost.json. Times depend on the machine and its load: re-run this after a
change of models or machine, and move FIT_COST in models.py up to the measured envelope.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from labs.lab03_classical import models, splits

OUT = Path(__file__).resolve().parent / "results"
REPORTS = [("iris_versicolor", "logistic", 0), ("iris_versicolor", "gradient_boosting", 0),
           ("breast_cancer", "logistic", 3), ("fair", "random_forest", 5), ("digits", "random_forest", 3),
           ("digits", "gradient_boosting", 0)]
HEAVY = [("digits", "gradient_boosting", 3)]


def one_fit(dataset: str, model: str, repeats: int) -> float:
    data = models.load(dataset)
    train, _, test = splits.train_val_test(len(data.y), data.y, val=1e-9, test=0.25, seed=0)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        models.fit_predict(model, data.X[train], data.y[train], data.X[test], 0)
        times.append(time.perf_counter() - t0)
    return min(times)


def per_fit_estimate(dataset: str, model: str) -> float:
    """The estimate of one fit: what one more fold adds to fit_cost_s."""
    return models.fit_cost_s(dataset, model, 1) - models.fit_cost_s(dataset, model, 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="per-fit times only, no whole reports")
    args = parser.parse_args()
    fits = []
    for dataset in models.DATASETS:
        data = models.load(dataset)
        for model in models.MODELS:
            measured, estimated = one_fit(dataset, model, args.repeats), per_fit_estimate(dataset, model)
            fits.append({"dataset": dataset, "model": model,
                         "units": int(data.X.shape[0] * data.X.shape[1] * data.n_classes),
                         "measured_s": round(measured, 4), "estimated_s": round(estimated, 4),
                         "measured_over_estimated": round(measured / estimated, 2)})
            print(f"{dataset:16s} {model:18s} {measured:6.3f} s measured, {estimated:6.3f} s estimated", flush=True)
    reports = []
    for dataset, model, k in ([] if args.quick else REPORTS + HEAVY):
        t0 = time.perf_counter()
        models.fit_report(dataset, model, cv_folds=k)
        took = time.perf_counter() - t0
        estimate = models.fit_cost_s(dataset, model, k)
        reports.append({"dataset": dataset, "model": model, "cv_folds": k, "measured_s": round(took, 3),
                        "estimated_s": round(estimate, 3), "sync": estimate <= models.SYNC_FIT_BUDGET_S})
        print(f"fit_report {dataset} {model} cv={k}: {took:.2f} s measured, {estimate:.2f} s estimated", flush=True)
    under = [f for f in fits if f["measured_over_estimated"] > 1]
    result = {"budget_s": models.SYNC_FIT_BUDGET_S, "fit_cost": {m: list(c) for m, c in models.FIT_COST.items()},
              "bootstrap_s": models.BOOTSTRAP_S, "repeats": args.repeats, "fits": fits, "reports": reports,
              "under_estimated": [f"{f['dataset']}/{f['model']}: {f['measured_over_estimated']}x" for f in under]}
    OUT.mkdir(exist_ok=True)
    (OUT / "lab03_fit_cost.json").write_text(json.dumps(result, indent=2))
    print(json.dumps({"under_estimated": result["under_estimated"], "reports": reports}, indent=2))


if __name__ == "__main__":
    main()
