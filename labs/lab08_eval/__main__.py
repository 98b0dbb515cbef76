"""The eval CLI: run a golden set, compare two runs (CI gate), write a report.

    python -m labs.lab08_eval run classification --model "mock/assistant?variant=v2"
    python -m labs.lab08_eval compare tide-a tide-b --fail-on-regression     # exit 1 on a regression
    python -m labs.lab08_eval report <run-id> --out report.html

Runs and results live in DATA_DIR/lab08/lab08.db (the service's database), so the CLI and
`make lab-08` see the same runs; kill a run and rerun the same command to resume it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

from tqdm import tqdm

from labs.lab08_eval import report
from labs.lab08_eval.compare import CompareError, compare_runs
from labs.lab08_eval.runner import RunConfig, RunError, Runner, get_run, import_tide
from labs.lab08_eval.runner import open_store as runner_open_store
from shared.config import get_settings
from shared.llm import litellm_module
from shared.service import settle_heap
from shared.store import Store


def open_store() -> Store:
    settings = get_settings()
    store = runner_open_store(settings.lab_dir("lab08") / "lab08.db", settings.database_url)
    import_tide(store, replace=False)
    return store


def cmd_run(args: argparse.Namespace) -> int:
    config = RunConfig(dataset=args.dataset, model=args.model, scorers=args.scorers or [],
                       concurrency=args.concurrency, limit=args.limit, n_samples=args.n_samples,
                       run_id=args.run_id, judge_mock=json.loads(args.judge_options))
    runner = Runner(open_store())
    litellm_module()
    settle_heap()  # as a server does after its warm-up: no full GC pass over the imports mid-run
    bar = tqdm(total=0, unit="item", desc=args.dataset)

    def progress(done: int, total: int) -> None:
        bar.total = total
        bar.n = done
        bar.refresh()

    try:
        result = asyncio.run(runner.run(config, progress=progress))
    except RunError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        bar.close()
    print(json.dumps({**result, "calls": runner.calls}, indent=2))
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    store = open_store()
    try:
        result = compare_runs(store, args.a, args.b, args.scorer, args.threshold)
    except CompareError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.html:
        with open(args.html, "w") as f:
            f.write(report.compare_html(result))
    print(f"verdict: {result['verdict']}\n{result['explanation']}")
    print(f"flips: fixed {result['flips']['fixed']}, broken {result['flips']['broken']}")
    for s in result["slices"]:
        print(f"  {s['slice']:14} Δ {s['delta']:+.3f} [{s['low']:+.3f}, {s['high']:+.3f}]  "
              f"fixed {s['fixed']:3} broken {s['broken']:3}  p_holm {s['p_holm']:.3g}")
    return 1 if args.fail_on_regression and result["verdict"] == "regression" else 0


def cmd_report(args: argparse.Namespace) -> int:
    run = get_run(open_store(), args.run_id)
    if run is None:
        print(f"error: no run {args.run_id!r}", file=sys.stderr)
        return 2
    text = json.dumps(run, indent=2) if args.json else report.run_html(run)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)
        print(f"wrote {args.out}")
    else:
        print(text)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m labs.lab08_eval", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    run = sub.add_parser("run", help="evaluate a model on a golden set")
    run.add_argument("dataset")
    run.add_argument("--model", default="mock/assistant")
    run.add_argument("--scorers", nargs="*")
    run.add_argument("--concurrency", type=int, default=8)
    run.add_argument("--limit", type=int)
    run.add_argument("--n-samples", type=int, default=5)
    run.add_argument("--run-id")
    run.add_argument("--judge-options", default="{}", help='e.g. \'{"length_bias": 0.8}\'')
    run.set_defaults(fn=cmd_run)
    cmp = sub.add_parser("compare", help="B against A: flips, slices, McNemar, verdict")
    cmp.add_argument("a")
    cmp.add_argument("b")
    cmp.add_argument("--scorer")
    cmp.add_argument("--threshold", type=float, default=0.5)
    cmp.add_argument("--html")
    cmp.add_argument("--fail-on-regression", action="store_true")
    cmp.set_defaults(fn=cmd_compare)
    rep = sub.add_parser("report", help="a run's HTML (or JSON) report")
    rep.add_argument("run_id")
    rep.add_argument("--out")
    rep.add_argument("--json", action="store_true")
    rep.set_defaults(fn=cmd_report)
    args = parser.parse_args(argv)
    return args.fn(args)


if __name__ == "__main__":
    sys.exit(main())
