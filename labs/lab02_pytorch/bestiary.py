"""A bestiary of common PyTorch bugs, each reproduced and fixed: `curl -s -X POST localhost:8002/bestiary/no_zero_grad/run`.

Every entry is a pair of tiny functions: `bug()` runs the mistake and `fix()` the correction, and
each returns the same measured number (a gradient ratio, a loss, a row sum ...). `shows(bug, fix)`
says whether the bug's number shows the symptom while the fix's does not. The tests assert that
every entry still reproduces on the pinned torch; an entry that no longer does (worker seeding)
is kept, marked `reproduces_on_pinned_torch=False`, with what changed.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset

from labs.lab02_pytorch.train import GLOBAL_RNG_LOCK


@dataclass(frozen=True)
class Bug:
    name: str
    title: str
    metric: str
    bug: Callable[[], float]
    fix: Callable[[], float]
    shows: Callable[[float, float], bool]
    reproduces_on_pinned_torch: bool = True
    note: str = ""


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _linear(seed: int = 0, d_in: int = 4, d_out: int = 3) -> nn.Linear:
    torch.manual_seed(seed)
    return nn.Linear(d_in, d_out)


def _raises(fn: Callable[[], object]) -> float:
    try:
        fn()
    except RuntimeError:
        return 1.0
    return 0.0


def _close(a: float, b: float, tol: float = 1e-6) -> bool:
    return abs(a - b) <= tol * max(1.0, abs(b))


# --- gradients and autograd -------------------------------------------------------------------

def _grad_after_three_backwards(zero: bool) -> float:
    """||grad|| after the 3rd of three identical backward passes, relative to one pass."""
    m = _linear()
    x = torch.randn(8, 4, generator=_gen())
    norms = []
    for _ in range(3):
        if zero:
            m.zero_grad()
        m(x).pow(2).mean().backward()
        norms.append(m.weight.grad.norm().item())
    return norms[-1] / norms[0]


def _accumulation(divide: bool, k: int = 4) -> float:
    """Gradient of k accumulated micro-batches relative to the gradient of the full batch."""
    m = _linear()
    x = torch.randn(16, 4, generator=_gen())
    m(x).pow(2).mean().backward()
    full = m.weight.grad.clone()
    m.zero_grad()
    for chunk in x.chunk(k):
        loss = m(chunk).pow(2).mean()
        (loss / k if divide else loss).backward()
    return (m.weight.grad.norm() / full.norm()).item()


def _inplace_on_saved(inplace: bool) -> float:
    """1.0 if backward raises because sigmoid's saved output was modified in place."""
    w = torch.randn(5, requires_grad=True, generator=_gen())

    def run() -> None:
        s = torch.sigmoid(w)
        t = s.mul_(2) if inplace else s * 2
        t.sum().backward()
    return _raises(run)


def _data_misuse(use_data: bool) -> float:
    """|computed grad - true grad| when w changes between forward and backward.

    Through `.data` autograd never learns of the change and silently differentiates at the new
    value; under torch.no_grad() the version counter catches it and backward raises instead."""
    w = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    true_grad = 2 * w.detach().clone()
    y = (w * w).sum()
    if use_data:
        w.data.add_(1.0)
        y.backward()
        return (w.grad - true_grad).abs().max().item()
    y.backward()  # fix: finish backward before changing the weights (what optimizer.step does)
    with torch.no_grad():
        w.add_(1.0)
    return (w.grad - true_grad).abs().max().item()


def _graph_nodes(fn: torch.autograd.graph.Node | None) -> int:
    seen, stack = set(), [fn]
    while stack:
        node = stack.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        stack.extend(next_fn for next_fn, _ in node.next_functions)
    return len(seen)


def _running_loss(as_tensor: bool, steps: int = 20) -> float:
    """Autograd nodes still reachable from the running total after `steps` training steps."""
    m = _linear()
    opt = torch.optim.SGD(m.parameters(), lr=0.01)
    x = torch.randn(8, 4, generator=_gen())
    total = torch.zeros(()) if as_tensor else 0.0
    for _ in range(steps):
        opt.zero_grad()
        loss = m(x).pow(2).mean()
        loss.backward()
        opt.step()
        total = total + loss if as_tensor else total + loss.item()
    return float(_graph_nodes(total.grad_fn)) if as_tensor else 0.0


def _no_grad_at_eval(no_grad: bool) -> float:
    """Bytes autograd keeps for a backward that evaluation never runs."""
    m = nn.Sequential(nn.Linear(16, 64), nn.ReLU(), nn.Linear(64, 10)).eval()
    x = torch.randn(32, 16, generator=_gen())
    kept = 0

    def pack(t: torch.Tensor) -> torch.Tensor:
        nonlocal kept
        kept += t.numel() * t.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        if no_grad:
            with torch.no_grad():
                m(x)
        else:
            m(x)
    return float(kept)


def _detach_target(detach: bool) -> float:
    """Gradient on w relative to the stop-gradient (semi-gradient) one, for a bootstrapped target."""
    w = torch.tensor(0.5, requires_grad=True)
    x, r, gamma = torch.tensor(2.0), torch.tensor(1.0), 0.9
    pred = w * x
    target = r + gamma * w * x  # a TD-style target computed by the same parameters
    F.mse_loss(pred, target.detach() if detach else target).backward()
    reference = 2 * (pred - target).detach() * x
    return (w.grad / reference).item()


def _eval_freezes(freeze: bool) -> float:
    """max |Δθ| of a 'frozen' layer after one optimizer step."""
    m = nn.Sequential(_linear(0, 4, 4), _linear(1, 4, 2))
    frozen = m[0]
    frozen.eval()  # eval() only switches dropout / batch-norm behaviour; it freezes nothing
    if freeze:
        frozen.requires_grad_(False)
    before = frozen.weight.detach().clone()
    opt = torch.optim.SGD([p for p in m.parameters() if p.requires_grad], lr=0.1)
    m(torch.randn(8, 4, generator=_gen())).pow(2).mean().backward()
    opt.step()
    return (frozen.weight.detach() - before).abs().max().item()


def _stale_optimizer(rebuild: bool) -> float:
    """max |Δθ| of a head replaced after the optimizer was built, after one step."""
    m = nn.Sequential(_linear(0, 4, 4), nn.ReLU(), _linear(1, 4, 2))
    opt = torch.optim.SGD(m.parameters(), lr=0.1)
    m[2] = _linear(2, 4, 3)  # new head for 3 classes; the optimizer still holds the old one
    if rebuild:
        opt = torch.optim.SGD(m.parameters(), lr=0.1)
    before = m[2].weight.detach().clone()
    m(torch.randn(8, 4, generator=_gen())).pow(2).mean().backward()
    opt.step()
    return (m[2].weight.detach() - before).abs().max().item()


# --- losses and numerics ----------------------------------------------------------------------

def _softmax_then_ce(softmax_first: bool) -> float:
    """CE for a confidently correct prediction: the floor the model can reach."""
    z = torch.tensor([[10.0, 0.0, 0.0]])
    y = torch.tensor([0])
    return F.cross_entropy(z.softmax(1) if softmax_first else z, y).item()


def _nll_on_logits(log_softmax: bool) -> float:
    """NLLLoss expects log-probabilities; on raw logits it goes negative and unbounded."""
    z = torch.randn(64, 5, generator=_gen()) * 3
    y = torch.randint(0, 5, (64,), generator=_gen(1))
    return F.nll_loss(F.log_softmax(z, 1) if log_softmax else z, y).item()


def _broadcast_loss(match_shapes: bool) -> float:
    """MSE of a (N, 1) prediction against a target; the prediction is perfect, so the MSE should be 0."""
    y = torch.arange(6, dtype=torch.float32)
    pred = y[:, None].clone()
    target = y[:, None] if match_shapes else y  # (N,) - (N, 1) -> (N, N): every pair of rows
    return (pred - target).pow(2).mean().item()


def _softmax_dim(dim: int) -> float:
    """max |Σ_c p - 1| over rows of a (batch, classes) softmax."""
    z = torch.randn(8, 5, generator=_gen())
    return (z.softmax(dim=dim).sum(dim=1) - 1).abs().max().item()


def _integer_accuracy(floor: bool) -> float:
    correct, total = torch.tensor(87), torch.tensor(100)
    return (correct // total).item() if floor else (correct / total).item()


def _naive_logsumexp(stable: bool) -> float:
    z = torch.tensor([[1000.0, 1001.0, 1002.0]])
    y = torch.tensor([2])
    if stable:
        return F.cross_entropy(z, y).item()
    p = z.exp() / z.exp().sum(1, keepdim=True)
    return -p[0, 2].log().item()


def _fp16_no_scaler(scale: bool) -> float:
    """Fraction of gradient entries that underflow to 0 in fp16 for a small loss (scaled by 1e-6)."""
    torch.manual_seed(0)
    w = torch.randn(64, 64, dtype=torch.float16, requires_grad=True)
    x = torch.randn(32, 64, dtype=torch.float16, generator=_gen())
    loss = (x @ w).float().pow(2).mean() * 1e-6
    S = 2.0 ** 16 if scale else 1.0
    (loss * S).backward()
    grad = w.grad.float() / S  # unscale in float32, as GradScaler.unscale_ does
    return (grad == 0).float().mean().item()


def _clip_before_unscale(unscale_first: bool) -> float:
    """Norm of the gradient the optimizer finally uses, after clipping at 1.0 (true norm > 1)."""
    m = _linear()
    x = torch.randn(8, 4, generator=_gen()) * 10
    S = 2.0 ** 16
    (m(x).pow(2).mean() * S).backward()
    if unscale_first:
        for p in m.parameters():
            p.grad /= S
        nn.utils.clip_grad_norm_(m.parameters(), 1.0)
    else:
        nn.utils.clip_grad_norm_(m.parameters(), 1.0)
        for p in m.parameters():
            p.grad /= S
    return math.sqrt(sum(p.grad.pow(2).sum().item() for p in m.parameters()))


# --- modules, modes and data ------------------------------------------------------------------

def _dropout_mode(eval_mode: bool) -> float:
    """max |Δ| between two predictions of the same input."""
    torch.manual_seed(0)
    m = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Dropout(0.5), nn.Linear(32, 2))
    m.eval() if eval_mode else m.train()
    x = torch.randn(4, 8, generator=_gen())
    with torch.no_grad():
        return (m(x) - m(x)).abs().max().item()


def _batchnorm_mode(eval_mode: bool) -> float:
    """max |Δ| in one example's prediction when it is scored alone vs inside a batch."""
    torch.manual_seed(0)
    m = nn.Sequential(nn.Linear(8, 16), nn.BatchNorm1d(16), nn.Linear(16, 2))
    x = torch.randn(16, 8, generator=_gen()) * 3 + 1
    m.train()
    for _ in range(20):  # warm the running statistics
        with torch.no_grad():
            m(x)
    m.eval() if eval_mode else m.train()
    with torch.no_grad():
        alone = m(x[:2])[0]
        batched = m(x)[0]
    return (alone - batched).abs().max().item()


def _view_noncontiguous(reshape: bool) -> float:
    x = torch.arange(12.0).view(3, 4).t()  # a transpose is a non-contiguous view
    return _raises(lambda: x.reshape(-1) if reshape else x.view(-1))


def _weight_decay_norm(groups: bool) -> float:
    """LayerNorm gain after 100 AdamW steps with no gradient signal on it (starts at 1.0)."""
    torch.manual_seed(0)
    m = nn.Sequential(nn.Linear(4, 4), nn.LayerNorm(4))
    if groups:
        params = [{"params": [m[0].weight], "weight_decay": 0.1},
                  {"params": [m[0].bias, *m[1].parameters()], "weight_decay": 0.0}]
    else:
        params = [{"params": list(m.parameters()), "weight_decay": 0.1}]
    opt = torch.optim.AdamW(params, lr=0.1)
    for _ in range(100):
        opt.zero_grad()
        (m(torch.zeros(2, 4)) * 0).sum().backward()  # zero gradients: only decay moves anything
        opt.step()
    return m[1].weight.mean().item()


class _Noise(Dataset):
    def __len__(self) -> int:
        return 8

    def __getitem__(self, i: int) -> float:
        return float(np.random.rand())  # the global numpy RNG, inside a worker process


def _worker_init(worker_id: int) -> None:
    np.random.seed(torch.initial_seed() % 2**32)


def _worker_seeds(seeded: bool) -> float:
    """Fraction of duplicate numpy draws across 2 DataLoader workers (1 sample per batch)."""
    loader = DataLoader(_Noise(), batch_size=1, num_workers=2, generator=_gen(),
                        worker_init_fn=_worker_init if seeded else None, multiprocessing_context="fork")
    values = [round(b.item(), 12) for b in loader]
    return 1 - len(set(values)) / len(values)


def _stateful_metric(accumulate: bool, runs: int = 3) -> float:
    """Spread (max - min) of the validation accuracy over differently shuffled passes.

    Averaging per-batch accuracies weights the short last batch like the full ones, so the
    answer depends on which examples land in it; summing counts does not."""
    g = torch.Generator().manual_seed(0)
    correct = (torch.rand(103, generator=g) < 0.7).float()  # 103 examples: the last batch of 16 holds 7
    answers = []
    for seed in range(runs):
        order = torch.randperm(len(correct), generator=torch.Generator().manual_seed(seed))
        batches = correct[order].split(16)
        if accumulate:
            answers.append(sum(b.sum().item() for b in batches) / len(correct))
        else:
            answers.append(sum(b.mean().item() for b in batches) / len(batches))
    return max(answers) - min(answers)


def _python_random_in_workers(reseeded: bool) -> float:
    """Fraction of duplicate python `random` draws across 2 fork-started workers."""
    loader = DataLoader(_PyNoise(), batch_size=1, num_workers=2, generator=_gen(),
                        worker_init_fn=_reseed_python if reseeded else None, multiprocessing_context="fork")
    values = [round(b.item(), 12) for b in loader]
    return 1 - len(set(values)) / len(values)


class _PyNoise(Dataset):
    def __len__(self) -> int:
        return 8

    def __getitem__(self, i: int) -> float:
        return random.random()


def _reseed_python(worker_id: int) -> None:
    random.seed(torch.initial_seed())


def _iterator_moves_global_rng(private: bool) -> float:
    """|Δ| of the next global torch.rand() after one iter(DataLoader), vs. not making the iterator."""
    loader = DataLoader(list(range(4)), batch_size=2, generator=_gen() if private else None)
    torch.manual_seed(0)
    expected = torch.rand(()).item()
    torch.manual_seed(0)
    iter(loader)
    return abs(torch.rand(()).item() - expected)


BUGS: dict[str, Bug] = {b.name: b for b in [
    Bug("no_zero_grad", "forgetting optimizer.zero_grad(): gradients accumulate across steps",
        "||grad|| on the 3rd step / ||grad|| on the 1st", lambda: _grad_after_three_backwards(False),
        lambda: _grad_after_three_backwards(True), lambda b, f: _close(b, 3.0, 1e-4) and _close(f, 1.0, 1e-4)),
    Bug("accumulation_not_divided", "gradient accumulation over k micro-batches without dividing the loss by k",
        "||accumulated grad|| / ||full-batch grad||", lambda: _accumulation(False), lambda: _accumulation(True),
        lambda b, f: _close(b, 4.0, 1e-4) and _close(f, 1.0, 1e-4)),
    Bug("softmax_before_cross_entropy", "softmax before CrossEntropyLoss (which applies log-softmax itself)",
        "loss of a confidently correct prediction (logits 10, 0, 0)", lambda: _softmax_then_ce(True),
        lambda: _softmax_then_ce(False), lambda b, f: b > 0.5 and f < 1e-3),
    Bug("nll_on_raw_logits", "NLLLoss on raw logits instead of log_softmax outputs",
        "loss value (a log-likelihood loss must be >= 0)", lambda: _nll_on_logits(False),
        lambda: _nll_on_logits(True), lambda b, f: b < 0 <= f),
    Bug("view_non_contiguous", ".view() on a non-contiguous tensor (after .t() or .permute())",
        "1 if it raises RuntimeError", lambda: _view_noncontiguous(False), lambda: _view_noncontiguous(True),
        lambda b, f: b == 1.0 and f == 0.0),
    Bug("broadcast_in_loss", "a (N, 1) prediction against a (N,) target broadcasts to (N, N)",
        "MSE for a perfect prediction (should be 0)", lambda: _broadcast_loss(False), lambda: _broadcast_loss(True),
        lambda b, f: b > 1 and f == 0.0),
    Bug("softmax_wrong_dim", "softmax over the batch dimension (dim=0) instead of classes (dim=1)",
        "max |row sum of probabilities - 1|", lambda: _softmax_dim(0), lambda: _softmax_dim(1),
        lambda b, f: b > 0.1 and f < 1e-6),
    Bug("dropout_in_eval", "predicting in train mode: dropout stays on",
        "max |Δ| between two predictions of the same input", lambda: _dropout_mode(False),
        lambda: _dropout_mode(True), lambda b, f: b > 1e-3 and f == 0.0),
    Bug("batchnorm_train_mode_inference", "BatchNorm in train mode at inference: a prediction depends on the batch",
        "max |Δ| of one example's output alone vs in a batch", lambda: _batchnorm_mode(False),
        lambda: _batchnorm_mode(True), lambda b, f: b > 1e-3 and f < 1e-5),
    Bug("inplace_breaks_autograd", "an in-place op on a tensor autograd saved for backward",
        "1 if backward raises RuntimeError", lambda: _inplace_on_saved(True), lambda: _inplace_on_saved(False),
        lambda b, f: b == 1.0 and f == 0.0),
    Bug("data_bypasses_autograd", "changing weights through .data between forward and backward",
        "max |computed grad - true grad|", lambda: _data_misuse(True), lambda: _data_misuse(False),
        lambda b, f: b > 1 and f == 0.0),
    Bug("running_loss_keeps_graph", "summing loss tensors (not loss.item()) into a running total",
        "autograd nodes kept alive after 20 steps", lambda: _running_loss(True), lambda: _running_loss(False),
        lambda b, f: b >= 20 and f == 0.0),
    Bug("no_grad_missing_at_eval", "evaluating without torch.no_grad(): activations kept for a backward never run",
        "bytes saved for backward during one eval forward", lambda: _no_grad_at_eval(False),
        lambda: _no_grad_at_eval(True), lambda b, f: b > 0 and f == 0.0),
    Bug("target_not_detached", "a bootstrapped target (computed by the model) not detached",
        "grad / semi-gradient (1 when the target is a constant)", lambda: _detach_target(False),
        lambda: _detach_target(True), lambda b, f: abs(b - 0.1) < 1e-5 and _close(f, 1.0)),
    Bug("eval_does_not_freeze", "model.eval() believed to freeze parameters",
        "max |Δθ| of the 'frozen' layer after one step", lambda: _eval_freezes(False), lambda: _eval_freezes(True),
        lambda b, f: b > 0 and f == 0.0),
    Bug("optimizer_built_before_head_swap", "replacing a layer after the optimizer was built",
        "max |Δθ| of the new layer after one step", lambda: _stale_optimizer(False), lambda: _stale_optimizer(True),
        lambda b, f: b == 0.0 and f > 0),
    Bug("integer_division_metric", "accuracy with // on integer tensors",
        "accuracy for 87 correct of 100", lambda: _integer_accuracy(True), lambda: _integer_accuracy(False),
        lambda b, f: b == 0.0 and abs(f - 0.87) < 1e-6,
        note="torch.div of two integer tensors with / is true division since torch 1.5; // floors, as in Python"),
    Bug("naive_softmax_overflow", "softmax then log written out by hand: exp(1000) overflows",
        "cross-entropy for logits (1000, 1001, 1002), target 2", lambda: _naive_logsumexp(False),
        lambda: _naive_logsumexp(True), lambda b, f: not math.isfinite(b) and abs(f - 0.407606) < 1e-5),
    Bug("fp16_without_grad_scaler", "fp16 backward without loss scaling: small gradients underflow to 0",
        "fraction of weight-gradient entries that are exactly 0", lambda: _fp16_no_scaler(False),
        lambda: _fp16_no_scaler(True), lambda b, f: b > 0.1 and f < 0.01),
    Bug("clip_before_unscale", "clipping scaled gradients (clip before scaler.unscale_)",
        "norm of the gradient the optimizer uses (clip at 1.0)", lambda: _clip_before_unscale(False),
        lambda: _clip_before_unscale(True), lambda b, f: b < 1e-3 and _close(f, 1.0, 1e-4)),
    Bug("weight_decay_on_layernorm", "AdamW weight decay on LayerNorm gains and biases",
        "mean LayerNorm gain after 100 steps with no gradient (starts at 1)", lambda: _weight_decay_norm(False),
        lambda: _weight_decay_norm(True), lambda b, f: b < 0.5 and _close(f, 1.0)),
    Bug("shuffled_val_stateful_metric", "a validation metric averaged per batch, on a shuffled loader",
        "spread of val accuracy over 3 shuffles of the same set", lambda: _stateful_metric(False),
        lambda: _stateful_metric(True), lambda b, f: b > 1e-3 and f < 1e-12),
    Bug("dataloader_iterator_moves_global_rng", "each iter(DataLoader) draws a seed from the global torch RNG",
        "|Δ| of the next torch.rand() after making one iterator", lambda: _iterator_moves_global_rng(False),
        lambda: _iterator_moves_global_rng(True), lambda b, f: b > 0 and f == 0.0,
        note="why a resumed run that makes one iterator more than the straight run drifts; see train.py"),
    Bug("numpy_seed_in_workers", "global numpy RNG in DataLoader workers: every worker draws the same numbers",
        "fraction of duplicate draws across 2 workers", lambda: _worker_seeds(False), lambda: _worker_seeds(True),
        lambda b, f: b > 0 and f == 0.0, reproduces_on_pinned_torch=False,
        note="does not reproduce on torch 2.13: since torch 1.9 each worker seeds numpy's global RNG from its "
             "own base seed; measured 0 duplicates either way. Python's `random` is reseeded per worker too "
             "(python_random_in_workers)."),
    Bug("python_random_in_workers", "python `random` in DataLoader workers started by fork",
        "fraction of duplicate draws across 2 workers", lambda: _python_random_in_workers(False),
        lambda: _python_random_in_workers(True), lambda b, f: b > 0 and f == 0.0, reproduces_on_pinned_torch=False,
        note="does not reproduce on torch 2.13: workers call random.seed(seed) for python's RNG as well"),
]}


def run(name: str) -> dict[str, object]:
    b = BUGS[name]
    # the demos seed torch's global RNG: take the lab's lock (no training step is using it meanwhile)
    # and hand the state back unchanged
    with GLOBAL_RNG_LOCK, torch.random.fork_rng(devices=[]):
        bug, fix = float(b.bug()), float(b.fix())
    return {"name": b.name, "title": b.title, "metric": b.metric, "bug": _json_number(bug), "fix": _json_number(fix),
            "reproduces": b.shows(bug, fix), "reproduces_on_pinned_torch": b.reproduces_on_pinned_torch,
            "torch": torch.__version__, "note": b.note}


def _json_number(x: float) -> float | str:
    """JSON has no inf or nan; name them instead."""
    return x if math.isfinite(x) else str(x)


def catalogue() -> list[dict[str, object]]:
    return [{"name": b.name, "title": b.title, "metric": b.metric,
             "reproduces_on_pinned_torch": b.reproduces_on_pinned_torch} for b in BUGS.values()]
