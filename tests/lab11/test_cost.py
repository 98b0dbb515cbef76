import pytest

from labs.lab11_multimodal import cost


@pytest.mark.parametrize("w,h,tokens", [(512, 512, 255), (1024, 1024, 765), (1920, 1080, 1105), (2048, 4096, 1105),
                                        (100, 100, 255)])
def test_openai_tiles(w, h, tokens):
    assert cost.tokens("openai_high", w, h)["tokens"] == tokens


def test_anthropic_pixels_and_gemini_tiles():
    assert cost.tokens("anthropic", 1000, 1000)["tokens"] == 1334
    assert cost.tokens("anthropic", 4000, 4000)["tokens"] <= 1534
    assert cost.tokens("gemini", 384, 300)["tokens"] == 258
    assert cost.tokens("gemini", 1536, 770)["tokens"] == 258 * 4
    assert cost.tokens("llava_336", 10, 5000)["tokens"] == 576
    assert cost.tokens("openai_low", 4000, 3000)["tokens"] == 85


def test_cost_rows_are_sorted_and_priced():
    rows = cost.cost(1920, 1080, 1000)
    assert [r["usd"] for r in rows] == sorted(r["usd"] for r in rows)
    r = next(r for r in rows if r["scheme"] == "openai_high")
    assert r["usd"] == pytest.approx(1105 * 1000 * r["usd_per_mtok"] / 1e6, abs=1e-4)
    assert all(r["verify"] for r in rows)


def test_bad_sizes_and_schemes():
    with pytest.raises(ValueError):
        cost.tokens("gemini", 0, 10)
    with pytest.raises(KeyError):
        cost.tokens("nope", 10, 10)
