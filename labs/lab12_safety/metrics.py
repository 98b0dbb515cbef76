"""Attack success rate with a Wilson interval, and hit@k (did any of k attempts succeed).

    python -c "from labs.lab12_safety.metrics import wilson, hit_at_k; print(wilson(7, 20), hit_at_k(5, 2, 3))"

    Wilson (z = 1.96):  (p + z²/2n ± z·sqrt(p(1-p)/n + z²/4n²)) / (1 + z²/n),  p = x / n
    hit@k from n attempts of which c succeeded (unbiased, as pass@k):  1 - C(n-c, k) / C(n, k)

Wilson rather than the normal interval because red-team rates sit near 0 and 1, where the normal
interval leaves [0, 1] and claims certainty it does not have (0 hits in 20 is not "ASR = 0 ± 0").
"""

from __future__ import annotations

import math


def wilson(x: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    if n <= 0:
        return (0.0, 1.0)
    p = x / n
    centre = p + z * z / (2 * n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    denom = 1 + z * z / n
    return (max(0.0, (centre - half) / denom), min(1.0, (centre + half) / denom))


def hit_at_k(n: int, c: int, k: int) -> float:
    """P(at least one success among k attempts drawn without replacement from n with c successes)."""
    if not 0 <= c <= n or not 1 <= k <= n:
        raise ValueError(f"need 0 <= c <= n and 1 <= k <= n, got n={n} c={c} k={k}")
    if n - c < k:
        return 1.0
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)
