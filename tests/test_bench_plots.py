"""Every bench PNG re-draws from its committed JSON and passes shared.plots' check (labelled axes, no
legend over data); no bench writes a PNG around that check.

A bench whose plot drops an axis label, or whose JSON stops carrying what its plot draws, fails here
instead of shipping a picture a reader cannot read. Each bench module is imported once (a few import
torch or transformers: about 8 s of CPU here; drawing the 31 figures is about 10 s more).
"""

from __future__ import annotations

import functools
import importlib.util
import json
import re

import pytest
from matplotlib.figure import Figure

from shared.config import REPO_ROOT

BENCH = REPO_ROOT / "bench"
RESULTS = BENCH / "results"

# bench module -> the JSON its PNGs are drawn from (each module's PLOTS maps PNG name -> plot function)
BENCHES = {
    "bench_lab01_gradients": "lab01_gradients.json",
    "bench_lab02_training": "lab02_training.json",
    "bench_lab03_calibration": "lab03_calibration.json",
    "bench_lab04_figures": "lab04_figures.json",
    "bench_lab05_fewshot": "lab05_fewshot.json",
    "bench_lab05_ladder": "lab05_ladder.json",
    "bench_lab05_parallel": "lab05_parallel.json",
    "bench_lab05_self_consistency": "lab05_self_consistency.json",
    "bench_lab06_bm25": "lab06_bm25.json",
    "bench_lab06_dense": "lab06_dense.json",
    "bench_lab06_finetune": "lab06_finetune.json",
    "bench_lab06_quality": "lab06_quality.json",
    "bench_lab07_injection": "lab07_injection.json",
    "bench_lab07_patterns": "lab07_patterns.json",
    "bench_lab07_tool_zoo": "lab07_tool_zoo.json",
    "bench_lab08_online": "lab08_online.json",
    "bench_lab08_runner": "lab08_runner.json",
    "bench_lab09_overhead": "lab09_overhead.json",
    "bench_lab10_reward_hacking": "lab10_reward_hacking.json",
    "bench_lab10_stages": "lab10_stages.json",
    "bench_lab11_training": "lab11_training.json",
    "bench_lab12_redteam": "lab12_redteam.json",
    "bench_lab13_nl2query": "lab13_nl2query.json",
    "bench_lab13_ops": "lab13_ops.json",
    "bench_lab14_audit": "lab14_audit.json",
    "bench_mock": "mock.json",
}


@functools.cache
def bench_module(name: str):
    spec = importlib.util.spec_from_file_location(f"_bench_{name}", BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def small_raster(monkeypatch):
    """Write the PNGs at a low dpi: the check runs on the figure as laid out at its own dpi, before the
    raster is made, and rasterising and compressing full-size PNGs is most of what a plot costs here."""
    savefig = Figure.savefig
    monkeypatch.setattr(Figure, "savefig", lambda fig, *args, **kw: savefig(fig, *args, **{**kw, "dpi": 20}))


@pytest.mark.parametrize("name", sorted(BENCHES))
def test_bench_plots_redraw_from_the_committed_json(name, tmp_path, small_raster):
    module = bench_module(name)
    result = json.loads((RESULTS / BENCHES[name]).read_text())
    assert module.PLOTS, f"{name} has no plots"
    assert module.plot in module.PLOTS.values()
    for png_name, plot in module.PLOTS.items():
        assert (RESULTS / png_name).is_file(), f"{name} draws {png_name}, which is not committed in bench/results"
        out = tmp_path / png_name
        plot(result, out)  # raises ValueError naming the axes if a label is missing or a legend covers data
        assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_every_bench_that_writes_a_png_is_checked_here():
    writers = {p.stem for p in BENCH.glob("bench_*.py") if re.search(r"\.png\b", p.read_text())}
    assert writers <= set(BENCHES), f"benches writing a PNG but not re-drawn by this test: {writers - set(BENCHES)}"


def test_no_bench_calls_savefig_directly():
    """Every bench PNG goes through shared.plots.save (or a lab's plot that goes through shared.plots.png)."""
    offenders = [p.name for p in BENCH.glob("*.py") if re.search(r"\.savefig\(", p.read_text())]
    assert not offenders, f"call shared.plots.save instead of savefig in: {offenders}"
