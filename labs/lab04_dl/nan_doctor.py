"""A NaN/Inf doctor: run training steps under a watch, name the first op and layer that made a
non-finite value, and say what usually causes it.

    python -m labs.lab04_dl.nan_doctor      # the four seeded failures, diagnosed

How it finds the origin:
- a TorchDispatchMode sees every aten op (forward and backward) with its inputs and outputs; the
  origin is the first op whose output holds a NaN or Inf while all its inputs were finite (later ops
  only propagate it);
- forward pre-hooks and hooks on every module keep a stack of module names, so the op is placed in
  its layer (`net.2`), or "outside any module" (a loss written by hand);
- torch.autograd.detect_anomaly stays on as well, so a non-finite gradient raises at the backward
  function that produced it, with the forward trace of where that function came from.

The cause is inferred from what the op saw, not from the scenario's name:
log/log-of-softmax of a 0 → log of 0; a division whose divisor was 0 → division by a zero norm;
float16 output beyond ±65504 from finite inputs → fp16 overflow; finite float32 inputs that grew
step after step until an op overflowed → learning rate too high (divergence).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

FP16_MAX = 65504.0
SUGGESTIONS = {
    "log of 0": "a probability underflowed to exactly 0 before log: use log_softmax / F.cross_entropy "
                "(log-sum-exp, never log(softmax)), or clamp the argument to a small epsilon",
    "division by a zero norm": "a vector with zero norm was normalised: divide by (norm + eps) or use "
                               "F.normalize(x, eps=1e-12); check for all-zero (padding) rows",
    "fp16 overflow": "a float16 value passed 65504: train in bfloat16 or float32 for this op, scale "
                     "inputs, keep softmax/exp/reductions in float32, use a GradScaler for the loss",
    "learning rate too high": "the loss and weights grew every step until an op overflowed: lower the "
                              "learning rate, add warmup, clip the gradient norm",
    "unknown": "inspect the op's inputs below; check the data for NaN/Inf first",
}


@dataclass
class Finding:
    step: int
    phase: str  # forward | backward
    op: str
    layer: str
    dtype: str
    kind: str  # nan | inf
    input_max_abs: float
    input_min_abs: float
    cause: str = "unknown"
    suggestion: str = ""
    anomaly: str | None = None
    losses: list[float] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _tensors(args: Any) -> list[torch.Tensor]:
    return [t for t in tree_flatten(args)[0] if isinstance(t, torch.Tensor) and t.is_floating_point()]


class _Watch(TorchDispatchMode):
    def __init__(self, layers: list[str]):
        super().__init__()
        self.layers = layers
        self.found: dict[str, Any] | None = None
        self.phase = "forward"

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if self.found is None:
            outs = _tensors(out)
            bad = [t for t in outs if not bool(torch.isfinite(t).all())]
            ins = _tensors((args, kwargs))
            if bad and all(bool(torch.isfinite(t).all()) for t in ins):
                ab = [t.detach().abs().double() for t in ins if t.numel()]
                self.found = {
                    "op": str(func.overloadpacket.__name__), "layer": self.layers[-1] if self.layers else
                    "outside any module", "phase": self.phase, "dtype": str(bad[0].dtype).replace("torch.", ""),
                    "kind": "nan" if bool(torch.isnan(bad[0]).any()) else "inf",
                    "input_max_abs": max((float(a.max()) for a in ab), default=0.0),
                    "input_min_abs": min((float(a.min()) for a in ab), default=0.0),
                    "divisor_has_zero": func.overloadpacket.__name__ == "div" and len(ins) > 1
                    and bool((ins[1] == 0).any()),
                }
        return out


def infer_cause(f: dict[str, Any], losses: list[float]) -> str:
    op = f["op"]
    if op in ("log", "log2", "log10", "log1p") and f["input_min_abs"] == 0.0:
        return "log of 0"
    if op == "div" and f.get("divisor_has_zero"):
        return "division by a zero norm"
    if f["dtype"] == "float16" and f["kind"] == "inf" and f["input_max_abs"] <= FP16_MAX:
        return "fp16 overflow"
    finite = [x for x in losses if math.isfinite(x)]
    if len(finite) >= 3 and finite[-1] > 10 * finite[0] and finite[-1] > finite[-2]:
        return "learning rate too high"
    return "unknown"


def diagnose(model: torch.nn.Module, step: Callable[[int], torch.Tensor], max_steps: int = 100) -> Finding | None:
    """Run `step(i)` (forward, backward, optimizer step; returns the loss) until a non-finite value appears.

    Returns the Finding for the first one, or None if `max_steps` steps stay finite.
    """
    layers: list[str] = []
    handles = []

    def enter(name: str) -> Callable[..., None]:
        def hook(module, args) -> None:  # a hook that returned a value would replace the module's input
            layers.append(name)
        return hook

    def leave(module, args, output) -> None:
        layers.pop()

    for name, module in model.named_modules():
        name = name or type(model).__name__
        handles.append(module.register_forward_pre_hook(enter(f"{name} ({type(module).__name__})")))
        handles.append(module.register_forward_hook(leave))
    losses: list[float] = []
    try:
        for i in range(max_steps):
            watch = _Watch(layers)
            anomaly = None
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # "anomaly detection is slow": it is on on purpose
                    with torch.autograd.detect_anomaly(check_nan=True), watch:
                        loss = step(i)
            except RuntimeError as exc:  # detect_anomaly raises at the backward function that made a NaN
                anomaly = str(exc).splitlines()[0][:300]
                loss = None
            losses.append(float(loss) if loss is not None else float("nan"))
            if watch.found is not None:
                f = watch.found
                cause = infer_cause(f, losses)
                return Finding(step=i, phase=f["phase"], op=f["op"], layer=f["layer"], dtype=f["dtype"],
                               kind=f["kind"], input_max_abs=f["input_max_abs"], input_min_abs=f["input_min_abs"],
                               cause=cause, suggestion=SUGGESTIONS[cause], anomaly=anomaly, losses=losses)
        return None
    finally:
        for h in handles:
            h.remove()


# four seeded failures -------------------------------------------------------------------------------
def _lr_too_high() -> tuple[torch.nn.Module, Callable[[int], torch.Tensor]]:
    g = torch.Generator().manual_seed(0)
    X, y = torch.randn(64, 8, generator=g), torch.randn(64, 1, generator=g)
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1))
    opt = torch.optim.SGD(net.parameters(), lr=5.0)  # stable is ~0.1 here

    def step(i):
        opt.zero_grad()
        loss = ((net(X) - y) ** 2).mean()
        loss.backward()
        opt.step()
        return loss.detach()
    return net, step


def _log_of_zero() -> tuple[torch.nn.Module, Callable[[int], torch.Tensor]]:
    g = torch.Generator().manual_seed(1)
    X, y = torch.randn(32, 8, generator=g) * 1000, torch.randint(0, 4, (32,), generator=g)
    torch.manual_seed(1)
    net = torch.nn.Sequential(torch.nn.Linear(8, 32), torch.nn.ReLU(), torch.nn.Linear(32, 4))

    def step(i):
        p = torch.softmax(net(X), dim=1)
        loss = -torch.log(p[torch.arange(len(y)), y]).mean()  # the bug: log of a softmax that underflowed
        loss.backward()
        return loss.detach()
    return net, step


def _fp16_overflow() -> tuple[torch.nn.Module, Callable[[int], torch.Tensor]]:
    g = torch.Generator().manual_seed(2)
    X = (torch.rand(16, 256, generator=g) * 255).half()  # raw pixel values, never scaled to [0, 1]
    torch.manual_seed(2)
    net = torch.nn.Sequential(torch.nn.Linear(256, 64), torch.nn.ReLU(), torch.nn.Linear(64, 10)).half()

    def step(i):
        h = net[0](X)
        scores = torch.exp(net[2](net[1](h)))  # a hand-written softmax numerator, in float16
        loss = -(scores / scores.sum(1, keepdim=True))[:, 0].float().log().mean()
        loss.backward()
        return loss.detach()
    return net, step


class _L2Normalize(torch.nn.Module):
    def forward(self, e):
        return e / e.norm(dim=-1, keepdim=True)  # cosine-similarity prep without an epsilon


def _zero_norm() -> tuple[torch.nn.Module, Callable[[int], torch.Tensor]]:
    torch.manual_seed(3)
    # row 0 of the table is all zeros: the padding token
    net = torch.nn.Sequential(torch.nn.Embedding(10, 8, padding_idx=0), _L2Normalize())
    ids = torch.tensor([[3, 5, 0, 0], [1, 2, 4, 0]])

    def step(i):
        z = net(ids)
        loss = (z @ z.transpose(1, 2)).mean()
        loss.backward()
        return loss.detach()
    return net, step


SCENARIOS: dict[str, tuple[str, Callable[[], tuple[torch.nn.Module, Callable[[int], torch.Tensor]]]]] = {
    "lr_too_high": ("an MLP regression trained with SGD at lr 5 (stable is about 0.1)", _lr_too_high),
    "log_of_zero": ("cross-entropy written as -log(softmax(z)[y]) on large logits", _log_of_zero),
    "fp16_overflow": ("unscaled 0..255 pixels through a float16 layer and exp", _fp16_overflow),
    "zero_norm": ("embeddings L2-normalised without an epsilon, with a zero padding row", _zero_norm),
}


def run_scenario(name: str, max_steps: int = 100) -> dict[str, Any]:
    if name not in SCENARIOS:
        raise KeyError(name)
    description, build = SCENARIOS[name]
    model, step = build()
    finding = diagnose(model, step, max_steps)
    return {"scenario": name, "description": description,
            "finding": finding.as_dict() if finding else None}


if __name__ == "__main__":
    for name in SCENARIOS:
        r = run_scenario(name)
        f = r["finding"]
        print(f"{name}: {r['description']}")
        print(f"  step {f['step']} {f['phase']}: first {f['kind']} from aten.{f['op']} in {f['layer']} "
              f"({f['dtype']}; inputs |x| ≤ {f['input_max_abs']:.3g})")
        print(f"  cause: {f['cause']}. {f['suggestion']}")
