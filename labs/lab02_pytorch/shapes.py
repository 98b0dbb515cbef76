"""Broadcasting and einsum, shape by shape: `curl -s localhost:8002/shapes/einsum -d '{"spec": "bij,bjk->bik", ...}'`.

Broadcasting aligns shapes from the right; two sizes are compatible when they are equal or one
of them is 1, and the result takes the larger. A (N,) against (N, 1) is therefore (N, N), the
classic silent bug in a loss.

einsum with two operands is a batched matmul in disguise. Each index is one of:
  batch (in A, B and the output), contracted (in A and B, not the output), left (A and output),
  right (B and output), or summed-alone (in one operand only, not the output: summed first).
Permute A to (batch, left, contracted) and B to (batch, contracted, right), flatten each group,
`torch.bmm`, then unflatten and permute to the output order. `einsum_via_matmul` does exactly
that; the tests check it against `torch.einsum` on random specs and shapes.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import torch

_OPERAND = re.compile(r"^[a-zA-Z]*$")


def broadcast_shape(*shapes: tuple[int, ...]) -> tuple[int, ...]:
    """The broadcast result, or ValueError naming the clashing dimension (counted from the right)."""
    ndim = max((len(s) for s in shapes), default=0)
    out = []
    for k in range(1, ndim + 1):
        sizes = {s[-k] for s in shapes if len(s) >= k}
        big = sizes - {1}
        if len(big) > 1:
            raise ValueError(f"dimension -{k}: sizes {sorted(big)} differ and none is 1")
        out.append(big.pop() if big else 1)
    return tuple(reversed(out))


@dataclass(frozen=True)
class Einsum:
    inputs: tuple[str, ...]
    output: str

    @property
    def spec(self) -> str:
        return f"{','.join(self.inputs)}->{self.output}"


def parse_einsum(spec: str) -> Einsum:
    """Parse 'ij,jk->ik' (or the implicit 'ij,jk': output = indices seen once, sorted), as torch does."""
    text = spec.replace(" ", "")
    if text.count("->") > 1:
        raise ValueError("more than one '->'")
    lhs, arrow, out = text.partition("->")
    inputs = tuple(lhs.split(","))
    if not 1 <= len(inputs) <= 2:
        raise ValueError("this parser takes one or two operands")
    for op in (*inputs, out):
        if not _OPERAND.match(op):
            raise ValueError(f"operand {op!r}: only letters a-z, A-Z (no '...' ellipsis here)")
    for op in inputs:
        if len(set(op)) != len(op):
            raise ValueError(f"operand {op!r} repeats an index (a diagonal); not handled by this parser")
    if not arrow:
        counts = {c: sum(op.count(c) for op in inputs) for c in set(lhs) - {","}}
        out = "".join(sorted(c for c, n in counts.items() if n == 1))
    if len(set(out)) != len(out):
        raise ValueError(f"output {out!r} repeats an index")
    unknown = set(out) - set("".join(inputs))
    if unknown:
        raise ValueError(f"output index {''.join(sorted(unknown))!r} appears in no operand")
    return Einsum(inputs, out)


def einsum_shape(e: Einsum, shapes: list[tuple[int, ...]]) -> tuple[tuple[int, ...], dict[str, int]]:
    if len(shapes) != len(e.inputs):
        raise ValueError(f"{e.spec} takes {len(e.inputs)} operand(s), got {len(shapes)} shape(s)")
    size: dict[str, int] = {}
    for op, shape in zip(e.inputs, shapes, strict=True):
        if len(op) != len(shape):
            raise ValueError(f"operand {op!r} has {len(op)} indices but shape {list(shape)} has {len(shape)} dims")
        for c, n in zip(op, shape, strict=True):
            if size.setdefault(c, n) != n:
                raise ValueError(f"index {c!r} is {size[c]} in one place and {n} in another")
    return tuple(size[c] for c in e.output), size


def roles(e: Einsum) -> dict[str, list[str]]:
    a = e.inputs[0]
    b = e.inputs[1] if len(e.inputs) == 2 else ""
    out = set(e.output)
    return {"batch": [c for c in a if c in b and c in out],
            "contracted": [c for c in a if c in b and c not in out],
            "left": [c for c in a if c not in b and c in out],
            "right": [c for c in b if c not in a and c in out],
            "summed_alone": [c for c in a + b if (c in a) != (c in b) and c not in out]}


def einsum_via_matmul(spec: str, *operands: torch.Tensor) -> torch.Tensor:
    """torch.einsum for one or two operands, computed with sum / permute / reshape / bmm."""
    e = parse_einsum(spec)
    _, size = einsum_shape(e, [tuple(t.shape) for t in operands])
    r = roles(e)
    alone = set(r["summed_alone"])
    ops, idx = [], []
    for op, t in zip(e.inputs, operands, strict=True):
        dims = [i for i, c in enumerate(op) if c in alone]
        ops.append(t.sum(dim=dims) if dims else t)
        idx.append("".join(c for c in op if c not in alone))
    if len(ops) == 1:
        a, (ia,) = ops[0], idx
        return a.permute([ia.index(c) for c in e.output]) if e.output else a.sum()
    (a, b), (ia, ib) = ops, idx
    groups = {k: r[k] for k in ("batch", "left", "contracted", "right")}

    def n(group: str) -> int:
        return math.prod(size[c] for c in groups[group])

    A = a.permute([ia.index(c) for c in groups["batch"] + groups["left"] + groups["contracted"]])
    B = b.permute([ib.index(c) for c in groups["batch"] + groups["contracted"] + groups["right"]])
    C = torch.bmm(A.reshape(n("batch"), n("left"), n("contracted")),
                  B.reshape(n("batch"), n("contracted"), n("right")))
    order = groups["batch"] + groups["left"] + groups["right"]
    C = C.reshape([size[c] for c in order])
    return C.permute([order.index(c) for c in e.output])


def matmul_recipe(e: Einsum, size: dict[str, int]) -> str:
    """The same contraction written with permute / reshape / bmm, as a reader would type it."""
    if len(e.inputs) == 1:
        r = roles(e)
        alone = [e.inputs[0].index(c) for c in r["summed_alone"]]
        kept = "".join(c for c in e.inputs[0] if c in e.output)
        text = f"A.sum(dim={alone})" if alone else "A"
        return f"{text}.permute({[kept.index(c) for c in e.output]})" if e.output else f"{text}.sum()"
    r = roles(e)

    def n(keys: list[str]) -> int:
        return math.prod(size[c] for c in keys)

    a_idx = "".join(c for c in e.inputs[0] if c not in r["summed_alone"])
    b_idx = "".join(c for c in e.inputs[1] if c not in r["summed_alone"])
    pa = [a_idx.index(c) for c in r["batch"] + r["left"] + r["contracted"]]
    pb = [b_idx.index(c) for c in r["batch"] + r["contracted"] + r["right"]]
    pre_a = "A.sum(...)" if any(c in r["summed_alone"] for c in e.inputs[0]) else "A"
    pre_b = "B.sum(...)" if any(c in r["summed_alone"] for c in e.inputs[1]) else "B"
    order = r["batch"] + r["left"] + r["right"]
    return (f"torch.bmm({pre_a}.permute({pa}).reshape({n(r['batch'])}, {n(r['left'])}, {n(r['contracted'])}), "
            f"{pre_b}.permute({pb}).reshape({n(r['batch'])}, {n(r['contracted'])}, {n(r['right'])}))"
            f".reshape({[size[c] for c in order]}).permute({[order.index(c) for c in e.output]})")
