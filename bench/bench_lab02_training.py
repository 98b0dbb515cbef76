"""Training-loop measurements for lab-02, as side-by-side ratios: compile, AMP, checkpointing, DataLoader.

    .venv/bin/python bench/bench_lab02_training.py          # a few minutes on 2 busy cores

- torch.compile: the first compiled step in a fresh inductor cache (cold), the same after
  torch._dynamo.reset() with the cache filled (warm), and steady-state steps/s vs eager.
- AMP on CPU: steps/s for off / bf16 autocast / fp16 autocast + GradScaler (a wider MLP).
- gradient checkpointing: bytes autograd saves for backward, and step time, with and without.
- DataLoader: one epoch of the digits set per option (workers, persistent workers, batched
  indexing) relative to the default (num_workers=0, one __getitem__ per example).
- resume ablation: drift after 10 resumed steps with one piece of state left out.
Writes bench/results/lab02_training.json and .png. Every number is measured on this machine;
nothing here is asserted by the tests.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.data import BatchSampler, DataLoader, RandomSampler

from labs.lab02_pytorch import checkpoint
from labs.lab02_pytorch.data import digits
from labs.lab02_pytorch.model import MLP, activation_bytes
from labs.lab02_pytorch.train import TrainConfig, Trainer
from shared.plots import plt, replot, save

OUT = Path(__file__).resolve().parent / "results"
THREADS = 1  # on a shared box 2 OpenMP threads wait on each other's time slices (measured: 3-4x slower)
README = Path(__file__).resolve().parents[1] / "labs" / "lab02_pytorch" / "README.md"


def steps_per_s(cfg: TrainConfig, steps: int, warm: int = 5) -> float:
    t = Trainer(cfg)
    t.run(until=warm)
    start = time.perf_counter()
    t.run(until=warm + steps)
    return steps / (time.perf_counter() - start)


def bench_compile() -> dict:
    base = dict(steps=400, hidden=256, depth=4, batch_size=128, eval_every=0, threads=THREADS, augment=False)
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = tempfile.mkdtemp(prefix="inductor-")
    out = {}
    for label in ("cold", "warm"):
        torch._dynamo.reset()
        t = Trainer(TrainConfig(**base, compile=True))
        start = time.perf_counter()
        t.run(until=1)
        out[f"first_step_s_{label}"] = round(time.perf_counter() - start, 2)
    eager = steps_per_s(TrainConfig(**base), 60)
    compiled = steps_per_s(TrainConfig(**base, compile=True), 60)
    eager_step = 1 / eager
    return {**out, "eager_steps_per_s": round(eager, 1), "compiled_steps_per_s": round(compiled, 1),
            "steady_speedup": round(compiled / eager, 2),
            "warm_vs_cold_compile": round(out["first_step_s_cold"] / out["first_step_s_warm"], 2),
            "break_even_steps": (round(out["first_step_s_cold"] / (eager_step - 1 / compiled))
                                 if compiled > eager else None)}


def bench_amp() -> dict:
    base = dict(steps=400, hidden=256, depth=4, batch_size=256, eval_every=0, threads=THREADS, augment=False)
    rates = {amp: steps_per_s(TrainConfig(**base, amp=amp), 20, warm=2) for amp in ("off", "bf16", "fp16")}
    return {"steps_per_s": {k: round(v, 1) for k, v in rates.items()},
            "speedup_vs_fp32": {k: round(v / rates["off"], 2) for k, v in rates.items()}}


def bench_checkpointing() -> dict:
    x = torch.randn(256, 64, generator=torch.Generator().manual_seed(0))
    out = {}
    for gc in (False, True):
        torch.manual_seed(0)
        out["with" if gc else "without"] = activation_bytes(MLP(hidden=256, depth=8, grad_checkpoint=gc).train(), x)
    base = dict(steps=400, hidden=256, depth=8, batch_size=256, eval_every=0, threads=THREADS, augment=False)
    plain = steps_per_s(TrainConfig(**base), 20, warm=2)
    recomputed = steps_per_s(TrainConfig(**base, grad_checkpoint=True), 20, warm=2)
    return {"model": "MLP(hidden=256, depth=8), batch 256", "saved_bytes": out,
            "memory_ratio": round(out["with"] / out["without"], 3),
            "time_ratio_with_vs_without": round(plain / recomputed, 2)}


def epoch_seconds(make_loader, epochs: int = 3) -> float:
    loader = make_loader()
    start = time.perf_counter()
    for _ in range(epochs):
        for _batch in loader:
            pass
    return (time.perf_counter() - start) / epochs


def bench_dataloader() -> dict:
    data = digits("train")
    g = torch.Generator().manual_seed(0)
    options = {
        "default (workers=0)": lambda: DataLoader(data, batch_size=32, shuffle=True, generator=g),
        "workers=2": lambda: DataLoader(data, batch_size=32, shuffle=True, generator=g, num_workers=2),
        "workers=2, persistent": lambda: DataLoader(data, batch_size=32, shuffle=True, generator=g, num_workers=2,
                                                    persistent_workers=True),
        "workers=2, persistent, prefetch 4": lambda: DataLoader(data, batch_size=32, shuffle=True, generator=g,
                                                                num_workers=2, persistent_workers=True,
                                                                prefetch_factor=4),
        # the sampler yields whole index lists; the dataset is indexed once per batch, not per example
        "batched indexing (batch_size=None)": lambda: DataLoader(
            data, batch_size=None, sampler=BatchSampler(RandomSampler(data, generator=g), 32, drop_last=False)),
    }
    seconds = {name: epoch_seconds(make) for name, make in options.items()}
    base = seconds["default (workers=0)"]
    return {"epoch_ms": {k: round(v * 1e3, 2) for k, v in seconds.items()},
            "speedup_vs_default": {k: round(base / v, 2) for k, v in seconds.items()}}


def bench_ablation() -> dict:
    cfg = TrainConfig(steps=60, amp="fp16", eval_every=0)
    drift = checkpoint.ablation(cfg, split=30, extra=10)
    drift["global_rng_sampler (all saved)"] = checkpoint.ablation(
        TrainConfig(steps=60, amp="fp16", eval_every=0, sampler="global"), 30, 10)["nothing"]
    return {"config": "digits MLP(64, 2), fp16 + GradScaler, resume at step 30, +10 steps",
            "max_abs_drift": {k: float(f"{v:.3g}") for k, v in drift.items()}}


def plot(result: dict, path: Path) -> None:
    """Four panels from the JSON: compile, AMP, checkpointing memory, DataLoader options."""
    # constrained layout: the DataLoader panel's long option names get their room without gaps elsewhere
    fig, ax = plt.subplots(1, 4, figsize=(17, 3.8), layout="constrained", gridspec_kw={"width_ratios": [1, 1, 1, 1.4]})
    c = result["compile"]
    ax[0].bar(["eager", "compiled"], [c["eager_steps_per_s"], c["compiled_steps_per_s"]])
    ax[0].set_title(f"torch.compile: first step cold {c['first_step_s_cold']}s,\nwarm {c['first_step_s_warm']}s",
                    fontsize=9)
    ax[0].set_xlabel("execution mode")
    ax[0].set_ylabel("training steps per second")
    a = result["amp"]["speedup_vs_fp32"]
    ax[1].bar(list(a), list(a.values()))
    ax[1].axhline(1, color="grey", lw=0.8)
    ax[1].set_title("AMP on CPU: speed vs fp32", fontsize=9)
    ax[1].set_xlabel("autocast dtype")
    ax[1].set_ylabel("steps/s relative to fp32 (x)")
    m = result["checkpointing"]["saved_bytes"]
    ax[2].bar(["without", "with"], [m["without"] / 1e6, m["with"] / 1e6])
    ax[2].set_title(f"gradient checkpointing\n(step time x{result['checkpointing']['time_ratio_with_vs_without']})",
                    fontsize=9)
    ax[2].set_xlabel("gradient checkpointing")
    ax[2].set_ylabel("MB saved for backward")
    d = result["dataloader"]["speedup_vs_default"]
    ax[3].barh(list(d), list(d.values()))
    ax[3].axvline(1, color="grey", lw=0.8)
    ax[3].set_title("DataLoader: epoch speed vs default", fontsize=9)
    ax[3].set_xlabel("epoch speed relative to the default (x)")
    ax[3].set_ylabel("DataLoader option")
    save(fig, path)


PLOTS = {"lab02_training.png": plot}


def readme_block(name: str, body: str) -> None:
    """Replace the text between `<!-- name:start -->` and `<!-- name:end -->` in lab-02's README."""
    pattern = re.compile(rf"(<!-- {name}:start -->\n).*?(<!-- {name}:end -->)", re.DOTALL)
    README.write_text(pattern.sub(lambda m: m.group(1) + body + "\n" + m.group(2), README.read_text()))


def tables(r: dict) -> None:
    drift = r["ablation"]["max_abs_drift"]
    readme_block("ablation", "| left out | max abs drift after 10 steps |\n| --- | --- |\n" + "\n".join(
        f"| {k} | {v:g} |" for k, v in drift.items()))
    c, a, m, d = r["compile"], r["amp"], r["checkpointing"], r["dataloader"]
    rows = [
        ("torch.compile, first step (cold cache)", f"{c['first_step_s_cold']} s"),
        ("torch.compile, first step (warm cache, after dynamo reset)", f"{c['first_step_s_warm']} s "
                                                                      f"({c['warm_vs_cold_compile']}x faster)"),
        ("torch.compile, steady state vs eager", f"{c['steady_speedup']}x ({c['compiled_steps_per_s']} vs "
                                                 f"{c['eager_steps_per_s']} steps/s); "
                                                 + (f"pays back after {c['break_even_steps']} steps" if c["break_even_steps"]
                                                    else "never pays back here")),
        ("AMP bf16 autocast vs fp32", f"{a['speedup_vs_fp32']['bf16']}x"),
        ("AMP fp16 autocast + GradScaler vs fp32", f"{a['speedup_vs_fp32']['fp16']}x"),
        ("gradient checkpointing: bytes saved for backward", f"{m['memory_ratio']}x "
                                                            f"({m['saved_bytes']['with']:,} vs {m['saved_bytes']['without']:,})"),
        ("gradient checkpointing: step time", f"{m['time_ratio_with_vs_without']}x"),
    ] + [(f"DataLoader: {k}", f"{v}x epoch speed vs default ({d['epoch_ms'][k]} ms)")
         for k, v in d["speedup_vs_default"].items() if not k.startswith("default")]
    readme_block("training", "| measured | ratio |\n| --- | --- |\n" + "\n".join(f"| {k} | {v} |" for k, v in rows))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replot", action="store_true", help="re-draw the PNG from the committed JSON; measure nothing")
    if parser.parse_args().replot:
        replot(OUT / "lab02_training.json", PLOTS)
        return
    torch.set_num_threads(THREADS)
    result = {"torch": torch.__version__, "threads": THREADS, "cpus": os.cpu_count(),
              "note": "a shared 2-core box: ratios are what to read, absolute numbers move with the load"}
    for name, fn in (("dataloader", bench_dataloader), ("checkpointing", bench_checkpointing), ("amp", bench_amp),
                     ("ablation", bench_ablation), ("compile", bench_compile)):
        start = time.perf_counter()
        result[name] = fn()
        print(f"{name}: {json.dumps(result[name])}  ({time.perf_counter() - start:.0f}s)", flush=True)
    OUT.mkdir(exist_ok=True)
    (OUT / "lab02_training.json").write_text(json.dumps(result, indent=2) + "\n")
    plot(result, OUT / "lab02_training.png")
    tables(result)


if __name__ == "__main__":
    main()
