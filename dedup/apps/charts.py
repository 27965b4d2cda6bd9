"""The report's charts, drawn by matplotlib and returned as inline SVG.

SVG keeps the report one self-contained file that opens without network access, stays sharp
when zoomed, and needs no script. Text is left as SVG text (``svg.fonttype = none``): labels
are searchable, the file smaller, and the browser draws them with its own fonts. A fixed hash
salt and no date make the same data give the same bytes. Only axis labels go into a chart, never
corpus text: document names appear as D1, D2... keyed by a table in the report.
"""

from __future__ import annotations

import io
import math

import matplotlib

matplotlib.use("Agg")  # no display: never try to open a window

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.colors import LogNorm  # noqa: E402
from matplotlib.ticker import FuncFormatter, MaxNLocator  # noqa: E402

_STYLE = {
    "svg.fonttype": "none",
    "svg.hashsalt": "dedup",
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
}
REUSE, BOILERPLATE = "#d9822b", "#9aa0a6"
_PLAIN = FuncFormatter(lambda value, _: f"{value:,.0f}")  # 1, 10, 100 on log axes, not 10^0


def _svg(fig) -> str:
    """The figure as an ``<svg>`` element (the XML prolog and DOCTYPE dropped for inlining)."""
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    text = buf.getvalue()
    return text[text.index("<svg") :]


def cluster_sizes(sizes: list[tuple[int, int, int]]) -> str:
    """Bars of how many clusters have each size (members), real reuse and boilerplate stacked.

    ``sizes`` holds (size, reuse clusters, boilerplate clusters). Up to 20 distinct sizes get a
    bar each; beyond, sizes are binned on a log scale (about 15 bins), since a few clusters of page furniture
    can have thousands of members while most have two or three.
    """
    with plt.rc_context(_STYLE):
        fig, ax = plt.subplots(figsize=(5.2, 2.8))
        if not sizes:
            ax.text(0.5, 0.5, "no clusters", ha="center", va="center", transform=ax.transAxes)
        elif len(sizes) <= 20:
            labels = [str(s) for s, _, _ in sizes]
            reuse = [r for _, r, _ in sizes]
            boiler = [b for _, _, b in sizes]
            ax.bar(labels, reuse, color=REUSE, label="real reuse")
            ax.bar(labels, boiler, bottom=reuse, color=BOILERPLATE, label="boilerplate")
            totals = [r + b for r, b in zip(reuse, boiler)]
        else:
            top = max(s for s, _, _ in sizes)
            edges = np.unique(np.geomspace(2, top + 1, num=min(16, top)).astype(int))
            values = np.array([s for s, _, _ in sizes])
            reuse, _ = np.histogram(values, bins=edges, weights=[r for _, r, _ in sizes])
            boiler, _ = np.histogram(values, bins=edges, weights=[b for _, _, b in sizes])
            labels = [f"{a}" if b - a == 1 else f"{a}-{b - 1}" for a, b in zip(edges, edges[1:])]
            ax.bar(labels, reuse, color=REUSE, label="real reuse")
            ax.bar(labels, boiler, bottom=reuse, color=BOILERPLATE, label="boilerplate")
            ax.tick_params(axis="x", labelrotation=45)
            totals = [t for t in reuse + boiler if t > 0]
        if sizes:
            if max(totals) > 50 * max(1, min(totals)):
                ax.set_yscale("log")
                ax.set_ylim(bottom=0.5)  # a size held by one cluster still shows a bar
                ax.yaxis.set_major_formatter(_PLAIN)
            ax.legend(frameon=False)
        ax.set_xlabel("members in the cluster")
        ax.set_ylabel("clusters")
        if ax.get_yscale() == "linear":
            ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        return _svg(fig)


def copied_shares(shares: list[float]) -> str:
    """Histogram of the share of each document's characters that are copies (real reuse)."""
    with plt.rc_context(_STYLE):
        fig, ax = plt.subplots(figsize=(5.2, 2.8))
        counts, edges = np.histogram(np.array(shares, dtype=float) * 100, bins=20, range=(0, 100))
        ax.bar(edges[:-1], counts, width=5, align="edge", color=REUSE, edgecolor="white")
        if len(counts) and counts.max() > 50 * max(1, counts[counts > 0].min()):
            ax.set_yscale("log")
            ax.set_ylim(bottom=0.5)
            ax.yaxis.set_major_formatter(_PLAIN)
        else:
            ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlim(0, 100)
        ax.set_xlabel("% of the document's characters in copies")
        ax.set_ylabel("documents")
        return _svg(fig)


def reuse_matrix(matrix: list[list[int]]) -> str:
    """Heat map: row D_i, column D_j = characters of D_i that copy paragraphs whose canonical is
    in D_j (log colour scale: one copied section and hundreds sit on one map)."""
    n = len(matrix)
    with plt.rc_context(_STYLE):
        side = min(9.0, max(3.2, 2.2 + 0.05 * n))
        fig, ax = plt.subplots(figsize=(side + 1.2, side))
        data = np.array(matrix, dtype=float) if n else np.zeros((1, 1))
        masked = np.ma.masked_less_equal(data, 0)
        top = max(1.0, float(data.max()))
        image = ax.imshow(masked, cmap="YlOrRd", norm=LogNorm(vmin=1, vmax=max(top, 10.0)), interpolation="nearest")
        ax.set_facecolor("#f7f7f7")
        if n <= 40:
            ticks = list(range(n))
            names = [f"D{i + 1}" for i in ticks]
            ax.set_xticks(ticks, names, rotation=90 if n > 12 else 0)
            ax.set_yticks(ticks, names)
        else:
            step = max(1, 10 ** int(math.log10(n)) // 2)
            ticks = list(range(0, n, step))
            ax.set_xticks(ticks, [f"D{i + 1}" for i in ticks], rotation=90)
            ax.set_yticks(ticks, [f"D{i + 1}" for i in ticks])
        ax.set_xlabel("source document (holds the canonical)")
        ax.set_ylabel("copying document")
        fig.colorbar(image, ax=ax, shrink=0.8, label="characters copied")
        return _svg(fig)
