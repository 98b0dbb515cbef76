"""The fixture task and a data pipeline whose position can be saved: `python -m labs.lab02_pytorch train`.

scikit-learn's bundled digits (1797 images of 8x8 pixels, 10 classes) split once into train/val
by a fixed permutation. `ResumableSampler` shuffles with its own `torch.Generator` and remembers
the generator state at the start of the current epoch, so a run resumed mid-epoch redraws the
same permutation and skips the batches already seen. `GlobalRngSampler` is the pitfall: it
shuffles with the global torch RNG, whose state at resume time is the mid-epoch one, so the
resumed epoch is ordered differently.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import cache

import numpy as np
import torch
from sklearn.datasets import load_digits
from torch.utils.data import Sampler, TensorDataset

N_FEATURES, N_CLASSES = 64, 10
VAL_FRACTION = 0.2


@cache
def _digits() -> tuple[np.ndarray, np.ndarray]:
    X, y = load_digits(return_X_y=True)
    return (X / 16.0).astype(np.float32), y.astype(np.int64)


def digits(split: str = "train") -> TensorDataset:
    """Pixels scaled to [0, 1] as float32, labels as int64 (what cross_entropy wants)."""
    X, y = _digits()
    order = np.random.default_rng(0).permutation(len(y))  # one fixed split for every run
    n_val = int(len(y) * VAL_FRACTION)
    idx = order[n_val:] if split == "train" else order[:n_val]
    return TensorDataset(torch.from_numpy(X[idx]), torch.from_numpy(y[idx]))


class ResumableSampler(Sampler[int]):
    """Random order per epoch from a private generator; `start` skips samples already consumed."""

    def __init__(self, n: int, seed: int):
        self.n = n
        self.generator = torch.Generator().manual_seed(seed)
        self.start = 0
        self._epoch_state: torch.Tensor | None = None
        self._replay = False

    def __len__(self) -> int:
        return self.n - self.start

    def __iter__(self) -> Iterator[int]:
        if self._replay:  # resuming: draw the interrupted epoch's permutation again
            self.generator.set_state(self._epoch_state)
            self._replay = False
        else:
            self._epoch_state = self.generator.get_state()
        perm = torch.randperm(self.n, generator=self.generator).tolist()
        start, self.start = self.start, 0
        return iter(perm[start:])

    def state_dict(self) -> dict[str, torch.Tensor]:
        current = self.generator.get_state()
        return {"epoch_state": current if self._epoch_state is None else self._epoch_state.clone(),
                "current": current}

    def load_state_dict(self, state: dict[str, torch.Tensor], start: int) -> None:
        """Mid-epoch (start > 0): replay the epoch's permutation and skip `start` samples.
        At an epoch boundary: continue the generator, as the uninterrupted run would."""
        self._epoch_state = state["epoch_state"].clone()
        self._replay = start > 0
        if not self._replay:
            self.generator.set_state(state["current"])
        self.start = start


class GlobalRngSampler(Sampler[int]):
    """The pitfall: `torch.randperm(n)` on the global RNG, as many training scripts shuffle."""

    def __init__(self, n: int, seed: int):
        self.n = n
        self.start = 0

    def __len__(self) -> int:
        return self.n - self.start

    def __iter__(self) -> Iterator[int]:
        perm = torch.randperm(self.n).tolist()
        start, self.start = self.start, 0
        return iter(perm[start:])

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {}

    def load_state_dict(self, state: dict[str, torch.Tensor], start: int) -> None:
        self.start = start
