"""Charts as PNG bytes, drawn headless (matplotlib's Agg canvas, no pyplot global state): the opinion
map of members by group, and endorsement by group per candidate. No member is named or labelled."""

from __future__ import annotations

import io

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from bot.analysis.pipeline import RoundAnalysis, endorsement_shares
from bot.analysis.polis import Groups
from bot.domain.outputs import Attachment

COLOURS = ("#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02")
MAX_BARS = 40  # candidates shown in the bar chart


def results_chart(a: RoundAnalysis) -> Attachment:
    """One PNG: the opinion map (when there are groups) beside the endorsement bars."""
    with_map = a.groups.ok
    fig = Figure(figsize=(13 if with_map else 8, 5), dpi=100)
    FigureCanvasAgg(fig)
    if with_map:
        ax_map, ax_bars = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1, 1.6]})
        _opinion_map(ax_map, a.groups, first=1)
    else:
        ax_bars = fig.subplots(1, 1)
    _bars(ax_bars, a)
    fig.suptitle(f"Round #{a.input.round_id}: {a.members} member(s), {a.reactions} reaction(s)")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return Attachment(f"round-{a.input.round_id}-results.png", buf.getvalue(), "image/png")


def opinion_map_png(groups: Groups, title: str) -> bytes:
    """The opinion map alone, groups numbered from 0 (as Polis and `policybot analyse polis --json` number them)."""
    fig = Figure(figsize=(7, 6), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.subplots(1, 1)
    if groups.ok:
        _opinion_map(ax, groups, first=0, who="participants", by="votes")
    else:
        ax.text(0.5, 0.5, f"No opinion groups: {groups.reason}", ha="center", va="center", wrap=True)
        ax.set_axis_off()
    fig.suptitle(title)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def _opinion_map(ax, g: Groups, *, first: int, who: str = "members", by: str = "reactions") -> None:  # type: ignore[no-untyped-def]
    for k in range(g.k):
        pts = g.projection[g.labels == k]
        colour = COLOURS[k % len(COLOURS)]
        ax.scatter(pts[:, 0], pts[:, 1], s=18, alpha=0.7, color=colour, label=f"group {k + first} ({len(pts)})")
        centre = pts.mean(axis=0)
        ax.annotate(str(k + first), centre, fontsize=14, fontweight="bold", color=colour, ha="center", va="center")
    ax.set_aspect("equal", adjustable="datalim")
    ax.set_title(f"Opinion map: {who} placed by their {by}")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.legend(loc="best", fontsize=8)


def _bars(ax, a: RoundAnalysis) -> None:  # type: ignore[no-untyped-def]
    names, shares = endorsement_shares(a)
    labels = [a.info(c).label for c in a.matrix.candidates][:MAX_BARS]
    shares = shares[:, :MAX_BARS]
    x = np.arange(len(labels))
    width = 0.8 / max(1, len(names))
    for i, name in enumerate(names):
        colour = COLOURS[i % len(COLOURS)] if a.by_group is not None else "#4c72b0"
        ax.bar(x + (i - (len(names) - 1) / 2) * width, shares[i], width, label=name, color=colour)
    ax.set_xticks(x)
    ax.set_xticklabels(labels, rotation=60 if len(labels) > 8 else 0, fontsize=8)
    ax.set_ylim(0, 1)
    ax.set_ylabel("share of votes that endorse")
    ax.set_title("Endorsement by group per candidate" if a.by_group is not None else "Endorsement per candidate")
    ax.legend(loc="upper right", fontsize=8)
