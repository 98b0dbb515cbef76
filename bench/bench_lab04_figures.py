"""lab-04's figures and the numbers its README quotes: gradients through depth, init, optimizers, schedule.

    .venv/bin/python bench/bench_lab04_figures.py       # ~1 minute on a laptop CPU

Writes bench/results/lab04_figures.json and four PNGs: lab04_gradients.png (gradient norm per layer,
plain vs residual), lab04_init_depth.png (activation std through 24 ReLU layers per init),
lab04_optim_paths.png (each optimizer on the Rosenbrock valley), lab04_lr_schedule.png (warmup +
cosine, ours over torch's). Also the op-order gap of a textbook Adam vs torch.optim.Adam, and the
speed of our numpy autograd next to torch autograd on one MLP step (a ratio, not a target).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import numpy as np
import torch

from labs.lab04_dl import activations, autograd, init, normalization, optim, schedules
from shared.plots import replot

OUT = Path(__file__).resolve().parent / "results"


def autograd_speed(repeats: int = 50) -> dict[str, float]:
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(128, 64)), rng.integers(0, 10, 128)
    raw = [(rng.normal(size=(128, 64)) * 0.1, np.zeros(128)), (rng.normal(size=(10, 128)) * 0.1, np.zeros(10))]

    def ours():
        ps = [(autograd.Tensor(W, requires_grad=True), autograd.Tensor(b, requires_grad=True)) for W, b in raw]
        autograd.cross_entropy(autograd.mlp(autograd.Tensor(X), ps), y).backward()

    tX, ty = torch.tensor(X), torch.tensor(y)

    def theirs():
        ps = [(torch.tensor(W, requires_grad=True), torch.tensor(b, requires_grad=True)) for W, b in raw]
        h = torch.relu(tX @ ps[0][0].T + ps[0][1]) @ ps[1][0].T + ps[1][1]
        torch.nn.functional.cross_entropy(h, ty).backward()

    out = {}
    for name, fn in (("ours_ms", ours), ("torch_ms", theirs)):
        fn()
        t = time.perf_counter()
        for _ in range(repeats):
            fn()
        out[name] = (time.perf_counter() - t) / repeats * 1000
    out["ours_over_torch"] = out["ours_ms"] / out["torch_ms"]
    return out


# The lab's own figure functions draw these PNGs (each goes through shared.plots.png, which runs the same
# check as shared.plots.save); the bench hands them what the JSON stores.
def plot(result: dict, path: Path) -> None:
    """Gradient norm per layer, plain vs residual."""
    path.write_bytes(activations.plot_depth({k: {"norms": v} for k, v in result["gradient_norm_per_layer"].items()}))


def plot_init_depth(result: dict, path: Path) -> None:
    """Activation std through 24 ReLU layers per initialisation."""
    path.write_bytes(init.plot_depth({k: {"stds": v, "last": v[-1]} for k, v in result["activation_std_per_layer"].items()}))


def plot_optim_paths(result: dict, path: Path) -> None:
    """Each optimizer's path on the Rosenbrock valley: a deterministic computation (no timing), re-run by the
    lab's figure for the number of steps the JSON records."""
    path.write_bytes(optim.plot_paths(result["optimizer_path_steps"]))


def plot_lr_schedule(result: dict, path: Path) -> None:
    """The warmup + cosine schedules whose parameters the JSON records."""
    path.write_bytes(schedules.plot({k: schedules.WarmupCosine(**p) for k, p in result["lr_schedules"].items()}))


PLOTS = {"lab04_gradients.png": plot, "lab04_init_depth.png": plot_init_depth,
         "lab04_optim_paths.png": plot_optim_paths, "lab04_lr_schedule.png": plot_lr_schedule}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replot", action="store_true", help="re-draw the PNGs from the committed JSON; measure nothing")
    if parser.parse_args().replot:
        replot(OUT / "lab04_figures.json", PLOTS)
        return
    OUT.mkdir(exist_ok=True)
    study = activations.depth_study(50)
    table = init.depth_table(24, 512)
    sched = {"peak 3e-4, warmup 200, min 3e-5": schedules.WarmupCosine(3e-4, 200, 2000, 3e-5),
             "peak 6e-4, warmup 50, min 0": schedules.WarmupCosine(6e-4, 50, 2000, 0.0)}
    results = {
        "gradient_norm_first_over_last_layer": {k: v["first_over_last"] for k, v in study.items()},
        "init_activation_std_after_24_relu_layers_width_512": {k: v["last"] for k, v in table.items()},
        "gradient_norm_per_layer": {k: v["norms"] for k, v in study.items()},
        "activation_std_per_layer": {k: v["stds"] for k, v in table.items()},
        "optimizer_path_steps": 500,
        "lr_schedules": {k: dataclasses.asdict(s) for k, s in sched.items()},
        "gpt2_residual_stream_std_after_24_blocks": {
            "unscaled": init.residual_stream_stds(scaled=False)[-1], "scaled_1_over_sqrt_2L": init.residual_stream_stds()[-1]},
        "optimizers_vs_torch_1000_steps": {n: optim.compare(n) for n in optim.OPTIMIZERS},
        "schedule_max_relative_gap_to_torch": {k: schedules.max_relative_gap(s) for k, s in sched.items()},
        "pre_vs_post_norm_grad_norm_block1_over_block24": {
            p: (n := normalization.residual_gradients(placement=p))[0] / n[-1] for p in ("pre", "post")},
        "autograd_mlp_step_128x64x128x10": autograd_speed(),
        "torch": torch.__version__, "cpu_capability": torch.backends.cpu.get_cpu_capability(),
    }
    (OUT / "lab04_figures.json").write_text(json.dumps(results, indent=2))
    for name, draw in PLOTS.items():
        draw(results, OUT / name)
    drawn = ("optimizers_vs_torch_1000_steps", "gradient_norm_per_layer", "activation_std_per_layer")
    print(json.dumps({k: v for k, v in results.items() if k not in drawn}, indent=2))
    for n, r in results["optimizers_vs_torch_1000_steps"].items():
        tb = r.get("textbook", {}).get("max_abs_diff", {})
        print(f"{n:<9} exact bit-exact: {r['exact']['bit_exact']}"
              + (f"   textbook gap @200 {tb['200']:.1e}, @1000 {tb['1000']:.1e}" if tb else ""))


if __name__ == "__main__":
    main()
