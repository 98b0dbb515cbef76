"""Figures as PNG bytes or files, checked for what a reader needs: labelled axes, legends off the data.

    python -c "import matplotlib; matplotlib.use('Agg'); import matplotlib.pyplot as plt; \
from shared.plots import png; fig, ax = plt.subplots(); ax.plot([1, 2]); ax.set_xlabel('step'); \
ax.set_ylabel('loss'); print(len(png(fig)))"

matplotlib keeps every open figure alive until it is closed: a route that draws on every request and
forgets `plt.close` leaks memory for as long as the server runs. `png` and `save` lay the figure out,
check it, render it, and close it, so a caller cannot forget.

The check (`check`) refuses a figure where an axes that holds data (lines, collections, patches,
images) has no x or no y label (a title is not a label: it says what the panel is, not what its axes
measure), or where a legend's box, in display coordinates after a draw, contains a data point of its
own axes (a line's vertices, a scatter's offsets, a bar's top-centre). It runs on every figure, so a
plot that drops a label fails its tests instead of shipping.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display on a server; must be chosen before pyplot is imported

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.collections import PathCollection  # noqa: E402
from matplotlib.container import BarContainer  # noqa: E402

# `ax.legend(**OUTSIDE)`: the legend to the right of the axes, where no data point can be. A figure that
# draws data a request chose (a route's PNG) needs it: a legend inside may land on some input's points,
# and the check would refuse that figure.
OUTSIDE = {"loc": "upper left", "bbox_to_anchor": (1.02, 1.0)}


def _name(ax, index: int, count: int) -> str:
    """How an error message points at an axes: its title, else its grid position."""
    title = ax.get_title() or ax.get_title("left") or ax.get_title("right")
    where = f"axes {index + 1} of {count}"
    spec = ax.get_subplotspec() if hasattr(ax, "get_subplotspec") else None
    if spec is not None:
        where += f" (row {spec.rowspan.start + 1}, column {spec.colspan.start + 1})"
    return f"{where} {title!r}" if title else where


def _holds_data(ax) -> bool:
    return bool(ax.lines or ax.collections or ax.patches or ax.images)


def _shows_ticklabels(axis) -> bool:
    """Whether a reader sees this axis's own scale (twin and label_outer axes borrow a sibling's)."""
    if not axis.get_visible():
        return False
    return any(t.get_visible() and t.get_text() for t in axis.get_ticklabels())


def _label(ax, which: str) -> str:
    """The axis label a reader sees for `which` ("x"/"y"): its own, or, when it shows no scale of
    its own (a twinx axes, an inner panel of a shared grid), that of an axes it shares the axis with."""
    axis = ax.xaxis if which == "x" else ax.yaxis
    own = axis.get_label().get_text().strip()
    if own or _shows_ticklabels(axis):
        return own
    shared = ax.get_shared_x_axes() if which == "x" else ax.get_shared_y_axes()
    for sibling in shared.get_siblings(ax):
        text = (sibling.xaxis if which == "x" else sibling.yaxis).get_label().get_text().strip()
        if sibling is not ax and text:
            return text
    return ""


def _data_points(ax) -> np.ndarray:
    """Display coordinates of the points a legend must not hide, limited to those inside the axes."""
    chunks = []
    for line in ax.lines:
        if line.get_visible() and line.get_xydata().size:
            chunks.append(line.get_transform().transform(np.asarray(line.get_xydata(), float)))
    for coll in ax.collections:
        if isinstance(coll, PathCollection) and coll.get_visible() and len(coll.get_offsets()):
            chunks.append(coll.get_offset_transform().transform(np.asarray(coll.get_offsets(), float)))
    for container in ax.containers:
        if not isinstance(container, BarContainer):
            continue
        horizontal = getattr(container, "orientation", "vertical") == "horizontal"
        for bar in container.patches:
            x, y, w, h = bar.get_x(), bar.get_y(), bar.get_width(), bar.get_height()
            top = (x + w, y + h / 2) if horizontal else (x + w / 2, y + h)
            chunks.append(bar.get_transform().transform(np.asarray([top], float)))
    if not chunks:
        return np.empty((0, 2))
    points = np.concatenate(chunks)
    points = points[np.isfinite(points).all(axis=1)]
    return points[_inside(points, ax.bbox)]


def _inside(points: np.ndarray, box) -> np.ndarray:
    """Which display points lie in a display-coordinate box (edges included)."""
    return ((points[:, 0] >= box.x0) & (points[:, 0] <= box.x1)
            & (points[:, 1] >= box.y0) & (points[:, 1] <= box.y1))


def problems(fig) -> list[str]:
    """What is wrong with `fig` for a reader (empty when nothing is); lays the figure out once."""
    fig.draw_without_rendering()  # positions and text extents as a draw computes them, no pixels
    renderer = fig.canvas.get_renderer()
    found = []
    axes = fig.axes
    for i, ax in enumerate(axes):
        if getattr(ax, "_colorbar", None) is not None or not _holds_data(ax):
            continue  # a colorbar is a key, not data; an empty axes (a table, a text panel) has no axes to label
        name = _name(ax, i, len(axes))
        missing = [f"{w} label" for w in ("x", "y") if not _label(ax, w)]
        if missing:
            found.append(f"{name}: no {' and no '.join(missing)}")
        legend = ax.get_legend()
        if legend is not None and legend.get_visible():
            box = legend.get_window_extent(renderer)
            points = _data_points(ax)
            covered = _inside(points, box)
            if covered.any():
                found.append(f"{name}: its legend covers {int(covered.sum())} data point(s); move it "
                             "(loc=..., or outside with bbox_to_anchor)")
    for legend in fig.legends:  # a figure legend must keep off every axes' data
        box = legend.get_window_extent(renderer)
        for i, ax in enumerate(axes):
            points = _data_points(ax)
            covered = _inside(points, box)
            if covered.any():
                found.append(f"the figure legend covers {int(covered.sum())} data point(s) of "
                             f"{_name(ax, i, len(axes))}")
    return found


def check(fig) -> None:
    """Raise ValueError listing every problem `problems` finds."""
    found = problems(fig)
    if found:
        raise ValueError("figure refused: " + "; ".join(found))


def png(fig, dpi: int = 100) -> bytes:
    """Check `fig`, render it as PNG (tight bounding box), and close it (also when the check fails)."""
    buf = io.BytesIO()
    try:
        check(fig)
        fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    finally:
        plt.close(fig)
    return buf.getvalue()


def save(fig, path: str | Path, dpi: int = 100) -> None:
    """Check `fig`, write it to `path` as PNG (tight bounding box, so an outside legend is kept), close it."""
    try:
        check(fig)
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, format="png", dpi=dpi, bbox_inches="tight")
    finally:
        plt.close(fig)


def replot(result_json: str | Path, plots: dict[str, Callable[[dict, Path], None]]) -> None:
    """A bench's `--replot`: re-draw each PNG (name -> plot function) beside `result_json` from that
    JSON alone, measuring nothing, so a figure can be fixed without re-running the bench."""
    result_json = Path(result_json)
    result = json.loads(result_json.read_text())
    for name, plot in plots.items():
        plot(result, result_json.parent / name)
        print(f"re-drew {result_json.parent.name}/{name} from {result_json.name}")
