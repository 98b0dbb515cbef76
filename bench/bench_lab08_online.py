"""Online and counterfactual evaluation, the numbers the lab-08 README shows.

    .venv/bin/python bench/bench_lab08_online.py        # ~1 minute on 2 cores

1. Peeking: the simulated false-positive rate (A/A) and power (A/B 0.10 → 0.13) of a fixed-horizon
   z-test, naive peeking at 10 looks and the SPRT, 2,000 tests of 2,000 users per arm; and the exact
   peeking rate for 1..50 looks (the curve the PNG draws).
2. Off-policy: bias, sd and RMSE of naive, IPS, SNIPS, DM and DR for logging ε = 0.5 and 0.1.
Writes bench/results/lab08_online.json and lab08_peeking.png.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from labs.lab08_eval import counterfactual, online
from shared.plots import plt, replot, save

OUT = Path(__file__).resolve().parent / "results"


def plot(result: dict, path: Path) -> None:
    """False-positive rate against the number of looks (exact), beside α and the SPRT, from the JSON."""
    by_looks = result["exact_fpr_by_looks"]
    looks, exact = [int(k) for k in by_looks], list(by_looks.values())
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(looks, exact, label="naive peeking (exact)")
    ax.axhline(0.05, color="grey", linestyle="--", label="α = 0.05 (fixed horizon)")
    sprt = next(r for r in result["peeking"]["aa"]["rows"] if r["procedure"] == "SPRT")
    ax.axhline(sprt["rejects"], color="#55a868", label=f"SPRT, checked after every pair ({sprt['rejects']:.3f})")
    ax.set_xlabel("looks at the data")
    ax.set_ylabel("false-positive rate (A/A)")
    ax.set_title("The peeking problem")
    ax.legend()
    save(fig, path)


PLOTS = {"lab08_peeking.png": plot}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replot", action="store_true", help="re-draw the PNG from the committed JSON; measure nothing")
    if parser.parse_args().replot:
        replot(OUT / "lab08_online.json", PLOTS)
        return
    t0 = time.perf_counter()
    peeking = {name: online.simulate(design, sims=2000, seed=0)
               for name, design in (("aa", online.ABDesign()), ("ab", online.ABDesign(p_b=0.13)))}
    looks = list(range(1, 51))
    exact = [online.peeking_fpr_exact(list(range(1, k + 1))) for k in looks]
    off_policy = {str(eps): counterfactual.evaluate(n_logs=2000, repeats=300, logging_epsilon=eps)
                  for eps in (0.5, 0.1)}
    result = {"peeking": peeking, "exact_fpr_by_looks": dict(zip(looks, [round(x, 4) for x in exact], strict=True)),
              "off_policy": off_policy, "seconds": round(time.perf_counter() - t0, 1)}
    OUT.mkdir(exist_ok=True)
    (OUT / "lab08_online.json").write_text(json.dumps(result, indent=2))
    plot(result, OUT / "lab08_peeking.png")
    for name, out in peeking.items():
        print(name, [(r["procedure"], r["rejects"], r["mean_users_per_arm"]) for r in out["rows"]])
    for eps, out in off_policy.items():
        print(f"ε={eps}", [(r["estimator"], r["bias"], r["sd"]) for r in out["rows"]])
    print(f"wrote {OUT / 'lab08_online.json'} in {result['seconds']} s")


if __name__ == "__main__":
    main()
