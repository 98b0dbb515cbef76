"""Broadcasting and einsum from scratch against torch (and numpy) on random shapes and specs."""

import numpy as np
import pytest
import torch

from labs.lab02_pytorch import shapes


def _random_broadcastable(rng):
    ndim = int(rng.integers(0, 5))
    target = [int(n) for n in rng.integers(1, 5, size=ndim)]
    out = []
    for _ in range(int(rng.integers(1, 4))):
        keep = int(rng.integers(0, ndim + 1))
        out.append(tuple(1 if rng.random() < 0.4 else n for n in target[ndim - keep:]))
    return out


def test_broadcast_shape_matches_torch_and_numpy_on_random_shapes():
    rng = np.random.default_rng(0)
    for _ in range(300):
        given = _random_broadcastable(rng)
        ours = shapes.broadcast_shape(*given)
        assert ours == tuple(torch.broadcast_shapes(*given)) == np.broadcast_shapes(*given)


def test_broadcast_clash_is_refused_like_torch():
    rng = np.random.default_rng(1)
    refused = 0
    for _ in range(300):
        given = [tuple(int(n) for n in rng.integers(1, 4, size=int(rng.integers(1, 4)))) for _ in range(2)]
        try:
            torch.broadcast_shapes(*given)
            torch_ok = True
        except RuntimeError:
            torch_ok = False
        if torch_ok:
            assert shapes.broadcast_shape(*given) == tuple(torch.broadcast_shapes(*given))
        else:
            refused += 1
            with pytest.raises(ValueError, match="dimension -"):
                shapes.broadcast_shape(*given)
    assert refused > 20


def test_the_loss_broadcast_bug_shape():
    assert shapes.broadcast_shape((5,), (5, 1)) == (5, 5)


def _random_spec(rng):
    letters = list("abcdefgh")
    rng.shuffle(letters)
    pool = letters[: int(rng.integers(2, 7))]
    a = "".join(rng.choice(pool, size=min(len(pool), int(rng.integers(1, 4))), replace=False))
    b = "".join(rng.choice(pool, size=min(len(pool), int(rng.integers(1, 4))), replace=False))
    seen = sorted(set(a + b))
    out = "".join(c for c in rng.permutation(seen) if rng.random() < 0.6)
    return f"{a},{b}->{out}"


def test_einsum_via_matmul_matches_torch_einsum_on_random_specs():
    rng = np.random.default_rng(2)
    g = torch.Generator().manual_seed(0)
    for _ in range(200):
        spec = _random_spec(rng)
        e = shapes.parse_einsum(spec)
        size = {c: int(rng.integers(1, 5)) for c in set("".join(e.inputs))}
        ops = [torch.randn(*[size[c] for c in op], generator=g, dtype=torch.float64) for op in e.inputs]
        ref = torch.einsum(spec, *ops)
        ours = shapes.einsum_via_matmul(spec, *ops)
        assert ours.shape == ref.shape, spec
        assert torch.allclose(ours, ref, atol=1e-10), spec
        assert shapes.einsum_shape(e, [tuple(o.shape) for o in ops])[0] == tuple(ref.shape)


@pytest.mark.parametrize("spec", ["ij->ji", "ijk->k", "ij->", "ij,jk", "i,i", "bij,bjk", "ij,kl->ikjl"])
def test_implicit_and_single_operand_forms_match_torch(spec):
    g = torch.Generator().manual_seed(1)
    e = shapes.parse_einsum(spec)
    size = {c: 2 + i for i, c in enumerate(sorted(set("".join(e.inputs))))}
    ops = [torch.randn(*[size[c] for c in op], generator=g, dtype=torch.float64) for op in e.inputs]
    assert torch.allclose(shapes.einsum_via_matmul(spec, *ops), torch.einsum(spec, *ops))


@pytest.mark.parametrize("spec, message", [("ij,jk->ik->i", "more than one"), ("ij,jk,kl->il", "one or two"),
                                           ("i1,jk->ik", "only letters"), ("ii->i", "repeats"),
                                           ("ij,jk->iz", "appears in no operand"), ("...ij->ij", "only letters")])
def test_einsum_strings_that_do_not_parse(spec, message):
    with pytest.raises(ValueError, match=message):
        shapes.parse_einsum(spec)


def test_einsum_shape_mismatch_names_the_index():
    e = shapes.parse_einsum("ij,jk->ik")
    with pytest.raises(ValueError, match="index 'j'"):
        shapes.einsum_shape(e, [(2, 3), (4, 5)])


def test_recipe_names_the_batched_matmul():
    e = shapes.parse_einsum("bij,bjk->bik")
    assert shapes.matmul_recipe(e, {"b": 2, "i": 3, "j": 4, "k": 5}).startswith(
        "torch.bmm(A.permute([0, 1, 2]).reshape(2, 3, 4), B.permute([0, 1, 2]).reshape(2, 4, 5))")
