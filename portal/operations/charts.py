"""Geometry shared by the pages' SVG bar charts: where a bar goes and how wide it may be."""

from __future__ import annotations


def bar_slot(count: int, plot_width: float, max_slot: float) -> float:
    """The width each of ``count`` bars (or groups of bars) gets: the plot shared out, but never
    more than ``max_slot``, so one run is one narrow bar at the left, not a bar the chart's width."""
    return min(plot_width / max(count, 1), max_slot)


def scaled(value: float, largest: float, plot_height: float, minimum: float = 0) -> float:
    """The height of a bar of ``value`` when ``largest`` fills ``plot_height`` (at least ``minimum``
    for a value above zero, so a small count stays visible)."""
    if value <= 0 or largest <= 0:
        return 0
    return max(round(plot_height * value / largest, 1), minimum)
