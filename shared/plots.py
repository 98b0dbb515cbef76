"""Figures as PNG bytes, for routes that answer image/png and for benchmarks that write files.

    python -c "import matplotlib; matplotlib.use('Agg'); import matplotlib.pyplot as plt; \
from shared.plots import png; fig, ax = plt.subplots(); ax.plot([1, 2]); print(len(png(fig)))"

matplotlib keeps every open figure alive until it is closed: a route that draws on every request and
forgets `plt.close` leaks memory for as long as the server runs. `png` lays the figure out, renders it,
and closes it, so a caller cannot forget.
"""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")  # no display on a server; must be chosen before pyplot is imported

import matplotlib.pyplot as plt  # noqa: E402


def png(fig, dpi: int = 100) -> bytes:
    """Render `fig` as PNG (tight bounding box) and close it."""
    buf = io.BytesIO()
    try:
        fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    finally:
        plt.close(fig)
    return buf.getvalue()
