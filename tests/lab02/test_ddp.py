"""DDP on 2 CPU processes (gloo): ranks end identical, and equal to one process on the joint batch."""

import shutil
import subprocess
import sys

import pytest
import torch
import torch.multiprocessing as mp

from labs.lab02_pytorch import ddp
from labs.lab02_pytorch.data import digits
from shared.config import REPO_ROOT

STEPS, BATCH = 8, 8


def _ranks(tmp_path, world=2):
    # fork, after this process has imported torch and taken an optimizer step: a spawned child
    # would pay torch's imports again (seconds each on a shared 2-core box)
    mp.start_processes(ddp.spawn_target, args=(world, STEPS, BATCH, str(tmp_path), ddp.free_port()),
                       nprocs=world, start_method="fork")
    return [torch.load(tmp_path / f"rank{r}.pt") for r in range(world)]


def test_ddp_ranks_match_each_other_and_single_process_training(tmp_path):
    single = ddp.train_single_on_global(2, STEPS, BATCH)
    rank0, rank1 = _ranks(tmp_path)
    assert all(torch.equal(rank0[k], rank1[k]) for k in rank0)
    # the all-reduced mean of two shard gradients vs one gradient over both shards: the same
    # number up to float32 summation order
    assert all(torch.allclose(rank0[k], single[k], atol=1e-5) for k in rank0)
    untrained = ddp.train_single_on_global(2, 0, BATCH)
    assert any(not torch.allclose(rank0[k], untrained[k]) for k in rank0)


def test_distributed_sampler_shards_are_disjoint_and_set_epoch_reshuffles():
    data = digits("train")
    shards = [torch.utils.data.DistributedSampler(data, num_replicas=2, rank=r, seed=0, drop_last=True)
              for r in range(2)]
    first = [list(s) for s in shards]
    assert not set(first[0]) & set(first[1])
    for s in shards:
        s.set_epoch(1)
    assert [list(s) for s in shards] != first
    for s in shards:
        s.set_epoch(0)
    assert [list(s) for s in shards] == first


def test_global_batches_are_the_ranks_batches_side_by_side():
    batches = ddp.global_batches(2, 3, 4)
    assert [len(b) for b in batches] == [8, 8, 8]
    s0 = torch.utils.data.DistributedSampler(digits("train"), num_replicas=2, rank=0, seed=0, drop_last=True)
    s0.set_epoch(0)
    assert batches[0][:4].tolist() == list(s0)[:4]


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("torchrun", path=str(REPO_ROOT / ".venv" / "bin")) is None, reason="no torchrun")
def test_the_script_runs_under_torchrun(tmp_path):
    torchrun = shutil.which("torchrun", path=str(REPO_ROOT / ".venv" / "bin"))
    out = subprocess.run([torchrun, "--standalone", "--nproc_per_node", "2", "-m", "labs.lab02_pytorch.ddp",
                          "--steps", "4", "--out", str(tmp_path)], cwd=REPO_ROOT, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert '"ranks_identical": true' in out.stdout
    a, b = (torch.load(tmp_path / f"rank{r}.pt") for r in range(2))
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_the_same_script_runs_single_process(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert ddp.main(["--steps", "2", "--out", str(tmp_path)]) == 0
    assert '"world_size": 1' in capsys.readouterr().out
    assert (tmp_path / "rank0.pt").is_file()
    assert sys.modules["torch.distributed"].is_initialized() is False
