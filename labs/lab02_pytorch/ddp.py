"""Minimum-viable DDP on CPU: `torchrun --standalone --nproc_per_node 2 -m labs.lab02_pytorch.ddp --steps 20`.

Each rank builds the same model from the same seed, wraps it in DistributedDataParallel and
trains on its own shard of every epoch (DistributedSampler; `set_epoch(e)` reshuffles per
epoch, identically on every rank). backward() all-reduces the gradients (their mean over ranks)
on the gloo backend, so every rank applies the same update and the parameters stay identical.
With equal shard sizes, that mean equals the gradient of the mean loss over the concatenated
global batch: one process on world_size × batch_size examples takes the same step (up to
floating-point summation order; tests/lab02/test_ddp.py checks both).

Run without torchrun it trains single-process (world size 1). On GPUs: the same script with
`--backend nccl` under `torchrun --nproc_per_node <gpus>` (README, "Distributed").
"""

from __future__ import annotations

import argparse
import json
import os
import socket
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler

from labs.lab02_pytorch.data import digits
from labs.lab02_pytorch.model import MLP, param_groups


def train(rank: int, world: int, steps: int, batch_size: int, seed: int = 0, lr: float = 1e-2) -> dict[str, torch.Tensor]:
    """Train on this rank's shard; returns the final parameters (identical on every rank)."""
    torch.manual_seed(seed)  # same initial weights everywhere (DDP also broadcasts rank 0's at wrap)
    model = MLP(hidden=32, depth=1, dropout=0.0)
    ddp = DistributedDataParallel(model) if world > 1 else model
    opt = torch.optim.AdamW([{k: v for k, v in g.items() if k != "names"} for g in param_groups(model, 0.01)],
                            lr=lr)
    data = digits("train")
    sampler = DistributedSampler(data, num_replicas=world, rank=rank, shuffle=True, seed=seed, drop_last=True)
    loader = DataLoader(data, batch_size=batch_size, sampler=sampler, drop_last=True)
    step, epoch = 0, 0
    while step < steps:
        sampler.set_epoch(epoch)  # without it every epoch repeats epoch 0's order
        for x, y in loader:
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(ddp(x), y).backward()
            opt.step()
            step += 1
            if step == steps:
                break
        epoch += 1
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def global_batches(world: int, steps: int, batch_size: int, seed: int = 0) -> list[torch.Tensor]:
    """The indices every rank sees at each step, concatenated in rank order (for the single-process check)."""
    data = digits("train")
    samplers = [DistributedSampler(data, num_replicas=world, rank=r, shuffle=True, seed=seed, drop_last=True)
                for r in range(world)]
    out, epoch = [], 0
    while len(out) < steps:
        for s in samplers:
            s.set_epoch(epoch)
        per_rank = [list(s) for s in samplers]
        n = len(per_rank[0]) // batch_size
        for i in range(n):
            out.append(torch.tensor([j for idx in per_rank for j in idx[i * batch_size:(i + 1) * batch_size]]))
            if len(out) == steps:
                break
        epoch += 1
    return out


def train_single_on_global(world: int, steps: int, batch_size: int, seed: int = 0,
                           lr: float = 1e-2) -> dict[str, torch.Tensor]:
    """One process, one model, the ranks' batches concatenated: what DDP should match."""
    torch.manual_seed(seed)
    model = MLP(hidden=32, depth=1, dropout=0.0)
    opt = torch.optim.AdamW([{k: v for k, v in g.items() if k != "names"} for g in param_groups(model, 0.01)],
                            lr=lr)
    X, Y = digits("train").tensors
    for idx in global_batches(world, steps, batch_size, seed):
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(X[idx]), Y[idx]).backward()
        opt.step()
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def worker(rank: int, world: int, steps: int, batch_size: int, out: str | None, backend: str = "gloo") -> None:
    """One rank: join the group, train, save its parameters as rank<r>.pt under `out`."""
    torch.set_num_threads(1)
    if world > 1:
        dist.init_process_group(backend, rank=rank, world_size=world)
    try:
        params = train(rank, world, steps, batch_size)
        if out:
            Path(out).mkdir(parents=True, exist_ok=True)
            torch.save(params, Path(out) / f"rank{rank}.pt")
        if world > 1:
            # ranks agree? gather one checksum per rank (cheap, and what a reader can print)
            checksum = torch.stack([p.double().sum() for p in params.values()]).sum().reshape(1)
            sums = [torch.zeros(1, dtype=torch.float64) for _ in range(world)]
            dist.all_gather(sums, checksum)
            if rank == 0:
                print(json.dumps({"world_size": world, "steps": steps, "checksums": [s.item() for s in sums],
                                  "ranks_identical": len({s.item() for s in sums}) == 1}))
            # leave together: a rank that tears gloo down while the other still has a collective in flight
            # can abort the other at exit ("terminate called without an active exception")
            dist.barrier()
        else:
            print(json.dumps({"world_size": 1, "steps": steps}))
    finally:
        if world > 1:
            dist.destroy_process_group()


def spawn_target(rank: int, world: int, steps: int, batch_size: int, out: str, port: int) -> None:
    """Entry point for torch.multiprocessing.spawn (tests): torchrun sets these variables itself."""
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    worker(rank, world, steps, batch_size, out)


def free_port() -> int:
    """A loopback port nothing listens on now, for the rendezvous of spawned ranks."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="torchrun --nproc_per_node 2 -m labs.lab02_pytorch.ddp")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--out", default=None, help="folder for rank<r>.pt parameter files")
    parser.add_argument("--backend", default="gloo", choices=["gloo", "nccl"])
    args = parser.parse_args(argv)
    if args.steps < 1 or args.batch_size < 1:
        parser.error("--steps and --batch-size must be at least 1")
    rank, world = int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))
    worker(rank, world, args.steps, args.batch_size, args.out, args.backend)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
