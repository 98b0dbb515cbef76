"""shared.plots.save / png refuse unlabelled axes and legends over data, and write labelled figures."""

from __future__ import annotations

import numpy as np
import pytest

from shared.plots import plt, png, problems, save


def _labelled(ax, x="step", y="loss (nats)"):
    ax.set_xlabel(x)
    ax.set_ylabel(y)


def test_labelled_figure_is_written_and_closed(tmp_path):
    fig, ax = plt.subplots()
    ax.plot([0, 1, 2], [3, 1, 2], label="train")
    _labelled(ax)
    ax.legend(loc="upper right")
    path = tmp_path / "sub" / "ok.png"
    save(fig, path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not plt.fignum_exists(fig.number)


def test_missing_y_label_is_refused_naming_the_axes(tmp_path):
    fig, (a, b) = plt.subplots(1, 2)
    a.plot([1, 2])
    _labelled(a)
    b.plot([2, 1])
    b.set_title("latency")
    b.set_xlabel("requests")
    path = tmp_path / "bad.png"
    with pytest.raises(ValueError, match=r"column 2\) 'latency': no y label"):
        save(fig, path)
    assert not path.exists()
    assert not plt.fignum_exists(fig.number)  # closed even when refused


def test_png_runs_the_same_check():
    fig, ax = plt.subplots()
    ax.scatter([1, 2], [1, 2])
    ax.set_ylabel("y")
    with pytest.raises(ValueError, match="no x label"):
        png(fig)
    fig, ax = plt.subplots()
    ax.scatter([1, 2], [1, 2])
    _labelled(ax)
    assert png(fig)[:4] == b"\x89PNG"


def test_legend_over_points_is_refused():
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1], "o", label="a")
    ax.plot([0, 1], [1, 0], "s", label="b")  # a point in the upper-left corner
    _labelled(ax)
    ax.legend(loc="upper left")
    assert any("legend covers" in p for p in problems(fig))
    plt.close(fig)


def test_legend_outside_the_axes_passes(tmp_path):
    fig, ax = plt.subplots()
    ax.plot(np.linspace(0, 1, 50), np.linspace(0, 1, 50), label="a")
    ax.plot(np.linspace(0, 1, 50), np.linspace(1, 0, 50), label="b")
    _labelled(ax)
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1))
    save(fig, tmp_path / "outside.png")
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1], label="a")
    _labelled(ax)
    fig.legend(loc="outside upper center")
    save(fig, tmp_path / "fig_legend.png")


def test_figure_legend_over_data_is_refused():
    fig, ax = plt.subplots()
    ax.plot(np.linspace(0, 1, 20), np.full(20, 0.5), "o", label="flat")
    _labelled(ax)
    fig.legend(loc="center")
    assert any("figure legend covers" in p for p in problems(fig))
    plt.close(fig)


def test_bar_chart_top_centre_counts_and_labels_are_required():
    fig, ax = plt.subplots()
    ax.bar(["a", "b", "c"], [1.0, 0.2, 0.95], label="score")
    _labelled(ax, x="method", y="accuracy")
    ax.set_ylim(0, 1.05)
    ax.legend(loc="upper left")  # over bar a's top
    assert any("legend covers" in p for p in problems(fig))
    plt.close(fig)
    fig, ax = plt.subplots()
    ax.barh(["a", "b"], [1.0, 0.1], label="share")
    _labelled(ax, x="share", y="method")
    ax.legend(loc="upper right")  # bar b (top row) ends at 0.1, far left: clear
    assert problems(fig) == []
    plt.close(fig)
    fig, ax = plt.subplots()
    ax.bar([1, 2], [3, 4])
    ax.set_xlabel("method")
    assert problems(fig) == ["axes 1 of 1 (row 1, column 1): no y label"]
    plt.close(fig)


def test_image_needs_row_and_column_labels_but_its_colorbar_does_not():
    fig, ax = plt.subplots()
    im = ax.imshow(np.arange(12).reshape(3, 4))
    fig.colorbar(im, ax=ax)
    assert problems(fig) == ["axes 1 of 2 (row 1, column 1): no x label and no y label"]
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    assert problems(fig) == []
    plt.close(fig)


def test_twin_axes_and_shared_grid_borrow_the_visible_label():
    fig, ax = plt.subplots()
    ax.plot([1, 2, 3], [1, 2, 3])
    _labelled(ax)
    twin = ax.twinx()
    twin.plot([1, 2, 3], [9, 5, 1], color="C1")
    twin.set_ylabel("cost ($)")
    assert problems(fig) == []
    plt.close(fig)
    fig, (top, bottom) = plt.subplots(2, 1, sharex=True)
    for a in (top, bottom):
        a.plot([1, 2], [1, 2])
        a.set_ylabel("reward")
    bottom.set_xlabel("step")
    assert problems(fig) == []  # the top panel shows no x scale of its own
    plt.close(fig)
    fig, (left, right) = plt.subplots(1, 2, sharex=True)
    for a in (left, right):
        a.plot([1, 2], [1, 2])
        a.set_ylabel("reward")
    left.set_xlabel("step")
    assert problems(fig) == ["axes 2 of 2 (row 1, column 2): no x label"]  # it shows its own ticks
    plt.close(fig)


def test_empty_axes_need_nothing():
    fig, (a, b) = plt.subplots(1, 2)
    a.plot([1, 2])
    _labelled(a)
    b.axis("off")
    b.text(0.5, 0.5, "notes")
    assert problems(fig) == []
    plt.close(fig)


@pytest.mark.parametrize("seed", range(6))
def test_random_scatter_legend_verdict_matches_a_direct_count(seed):
    """On random points, the verdict agrees with counting, by hand, the points inside the legend's box."""
    rng = np.random.default_rng(seed)
    x, y = rng.uniform(0, 1, (2, int(rng.integers(5, 60))))
    fig, ax = plt.subplots()
    ax.scatter(x, y, label="points")
    _labelled(ax)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    loc = ["upper left", "upper right", "lower left", "lower right", "center"][seed % 5]
    legend = ax.legend(loc=loc)
    fig.canvas.draw()
    box = legend.get_window_extent(fig.canvas.get_renderer()).transformed(ax.transData.inverted())
    expected = int(((x >= box.x0) & (x <= box.x1) & (y >= box.y0) & (y <= box.y1)).sum())
    found = problems(fig)
    assert bool(found) == (expected > 0)
    if expected:
        assert f"covers {expected} data point" in found[0]
    plt.close(fig)
