"""LoRA share, memory budgets and NF4 levels: `curl -s localhost:8010/calc/lora` (or /calc/memory, /calc/nf4).

Llama parameters (untied head):  N = V·d·2 + L·(4·d² + 3·d·f + 2·d) + d
LoRA on a d_in×d_out matrix adds r·(d_in + d_out) trainable parameters; share = Σ / N.
Bytes per parameter while training with AdamW:
    full fine-tune   2 (bf16 weight) + 2 (grad) + 4 (fp32 master) + 8 (Adam m, v)  = 16
    LoRA             2 per frozen weight, 16 per adapter parameter
    QLoRA            4 bits per frozen weight + quantization constants, 16 per adapter parameter
Quantization constants: a 32-bit absmax per block of 64 → 0.5 bit/param; double quantization stores
them as 8 bits plus a 32-bit constant per 256 blocks → 8/64 + 32/(64·256) ≈ 0.127 bit/param.
NF4: the 4-bit levels are quantiles of N(0,1), 8 on the positive side and 7 on the negative plus an
exact 0, taken at probabilities between 1−δ and 1/2 (δ chosen so the outer levels are finite),
divided by the largest so they span [−1, 1].
"""

from __future__ import annotations

from dataclasses import dataclass

from scipy.stats import norm

GB = 1e9
PUBLISHED_NF4 = [-1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453, -0.28444138169288635,
                 -0.18477343022823334, -0.09105003625154495, 0.0, 0.07958029955625534, 0.16093020141124725,
                 0.24611230194568634, 0.33791524171829224, 0.44070982933044434, 0.5626170039176941,
                 0.7229568362236023, 1.0]


@dataclass(frozen=True)
class Arch:
    V: int = 32_000
    d: int = 4096
    L: int = 32
    f: int = 11_008
    kv_d: int | None = None  # the k/v width under grouped-query attention (d when absent)

    def shapes(self) -> dict[str, tuple[int, int]]:
        kv = self.kv_d or self.d
        return {"q_proj": (self.d, self.d), "k_proj": (self.d, kv), "v_proj": (self.d, kv), "o_proj": (self.d, self.d),
                "gate_proj": (self.d, self.f), "up_proj": (self.d, self.f), "down_proj": (self.f, self.d)}

    def n_params(self) -> int:
        per_layer = sum(a * b for a, b in self.shapes().values()) + 2 * self.d
        return 2 * self.V * self.d + self.L * per_layer + self.d


LLAMA_7B = Arch()
LLAMA_70B = Arch(V=32_000, d=8192, L=80, f=28_672, kv_d=1024)


def lora_params(arch: Arch, r: int, targets: list[str]) -> dict[str, float]:
    shapes = arch.shapes()
    unknown = set(targets) - set(shapes)
    if unknown:
        raise ValueError(f"unknown target module(s) {sorted(unknown)}; choose from {sorted(shapes)}")
    trainable = arch.L * sum(r * (shapes[t][0] + shapes[t][1]) for t in targets)
    N = arch.n_params()
    return {"total_params": N, "trainable_params": trainable, "trainable_pct": round(100 * trainable / N, 4)}


def memory(arch: Arch, r: int = 16, targets: list[str] | None = None, gpu_gb: float = 48.0,
           activations_gb: float = 4.0) -> dict[str, dict[str, float]]:
    """GB to train under each method (weights + grads + optimizer + a fixed activation allowance)."""
    N = arch.n_params()
    A = lora_params(arch, r, targets or ["q_proj", "v_proj"])["trainable_params"]
    dq_bits = 8 / 64 + 32 / (64 * 256)
    plans = {"full": 16 * N, "lora": 2 * N + 16 * A, "qlora": (4 + dq_bits) / 8 * N + 16 * A}
    return {name: {"gb": round(b / GB + activations_gb, 2), "fits": b / GB + activations_gb <= gpu_gb}
            for name, b in plans.items()}


def nf4_levels(delta: float = 0.5 * (1 / 32 + 1 / 30)) -> list[float]:
    """The 16 NF4 levels from normal quantiles (δ as in the QLoRA construction)."""
    pos = [norm.ppf(1 - delta - i * (0.5 - delta) / 8) for i in range(8)]
    neg = [-norm.ppf(1 - delta - i * (0.5 - delta) / 7) for i in range(7)]
    levels = sorted(pos + neg + [0.0])
    top = max(abs(v) for v in levels)
    return [float(v / top) for v in levels]
