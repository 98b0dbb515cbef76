import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from labs.lab11_multimodal import vit


def test_patch_counts_of_the_chapter_examples():
    assert vit.patch_count(224, 224, 16)["tokens"] == 197
    assert vit.patch_count(224, 224, 14)["tokens"] == 257
    assert vit.patch_count(336, 336, 14)["tokens"] == 577
    assert vit.patch_count(224, 224, 16)["values_per_patch"] == 768
    photo = vit.patch_count(427, 640, 16)
    assert photo["grid"] == [26, 40] and photo["tokens"] == 1041 and photo["cropped_pixels"] == 427 * 640 - 1040 * 256


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 2000), st.integers(1, 2000), st.integers(1, 64))
def test_patch_count_matches_a_real_conv_output(h, w, p):
    if p > min(h, w):
        with pytest.raises(ValueError):
            vit.patch_count(h, w, p)
        return
    out = vit.patch_count(h, w, p, channels=1, cls=False)
    rows, cols = (h - p) // p + 1, (w - p) // p + 1          # the conv output-size formula
    assert out["grid"] == [rows, cols] and out["tokens"] == rows * cols


@pytest.mark.parametrize("seed", range(4))
def test_strided_conv_equals_unfold_plus_linear(seed):
    g = torch.Generator().manual_seed(seed)
    size, patch, c, dim = [(16, 4, 3, 8), (32, 8, 1, 5), (30, 7, 2, 6), (8, 2, 3, 4)][seed]
    conv = torch.nn.Conv2d(c, dim, patch, stride=patch)
    x = torch.randn(3, c, size, size, generator=g)
    with torch.no_grad():
        ours = vit.embed_by_unfold(x, conv)
        ref = conv(x).flatten(2).transpose(1, 2)
    torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-5)


def test_patchify_agrees_with_torch_unfold():
    x = torch.randn(2, 3, 12, 20)
    ref = F.unfold(x, kernel_size=4, stride=4).transpose(1, 2)   # (B, N, C*P*P), same ordering
    torch.testing.assert_close(vit.patchify(x, 4), ref)


def test_patch_embed_shape_and_cls():
    emb = vit.PatchEmbed(8, 4, 1, 16)
    assert emb(torch.randn(5, 1, 8, 8)).shape == (5, 5, 16)


@pytest.mark.parametrize("seed", range(5))
def test_bilinear_resize_matches_torch_interpolate(seed):
    rng = np.random.default_rng(seed)
    h, w = rng.integers(3, 40, 2)
    oh, ow = rng.integers(2, 60, 2)
    img = rng.random((h, w, 3))
    ours = vit.resize_bilinear(img, oh, ow)
    ref = F.interpolate(torch.from_numpy(img).permute(2, 0, 1)[None], size=(int(oh), int(ow)), mode="bilinear",
                        align_corners=False, antialias=False)[0].permute(1, 2, 0).numpy()
    np.testing.assert_allclose(ours, ref, atol=1e-6)


def test_box_downsample_is_a_block_mean():
    img = np.random.default_rng(0).random((12, 9))
    np.testing.assert_allclose(vit.box_downsample(img, 3), img.reshape(4, 3, 3, 3).mean(axis=(1, 3)))


def test_preprocess_the_sample_photos_to_224():
    out = vit.photo_patches()
    assert {r["photo"] for r in out} == {"china", "flower"}
    for r in out:
        assert r["native"]["tokens"] == 1041 and r["preprocessed"]["tokens"] == 197
    x = vit.preprocess(vit.sample_photos()["china"])
    assert x.shape == (224, 224, 3) and abs(x.mean()) < 2


def test_vit_params_formula_matches_a_torch_encoder():
    dim, depth, patch = 32, 2, 4
    layer = torch.nn.TransformerEncoderLayer(dim, 2, 4 * dim, batch_first=True, norm_first=True)
    enc = torch.nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)
    embed = vit.PatchEmbed(16, patch, 3, dim)
    count = sum(p.numel() for m in (enc, embed, torch.nn.LayerNorm(dim)) for p in m.parameters())
    assert vit.vit_params(16, patch, 3, dim, depth) == count
