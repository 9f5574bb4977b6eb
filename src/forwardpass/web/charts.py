"""Usage over time drawn as SVG on the server: no script, no asset from the network.

`usage_charts` turns the series of `services.usage.usage_series` into what the template
`usage_chart.html` draws: one chart of requests and errors, one of the mean latency, each a
polyline with one vertex per bucket of the window (a latency line breaks where a bucket had
no requests).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

WIDTH, HEIGHT = 720, 180
LEFT, RIGHT, TOP, BOTTOM = 48, 8, 10, 24  # room for the axes' labels
PLOT_W, PLOT_H = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM


@dataclass
class Line:
    name: str
    css: str
    segments: list[str]  # "x,y x,y ..." per unbroken run of points
    points: int


@dataclass
class Chart:
    title: str
    unit: str
    top: float  # the value at the top of the y axis
    lines: list[Line]
    y_ticks: list[tuple[float, str]] = field(default_factory=list)  # (y, label)
    x_ticks: list[tuple[float, str]] = field(default_factory=list)  # (x, label)
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    plot_bottom: int = TOP + PLOT_H


def _nice_top(value: float) -> float:
    """The smallest 1, 2 or 5 times a power of ten at or above `value` (1 for nothing)."""
    if value <= 0:
        return 1.0
    power = 10.0 ** math.floor(math.log10(value))
    return float(next(m * power for m in (1, 2, 5, 10) if m * power >= value))


def _label(value: float) -> str:
    return f"{value:g}" if value < 10_000 else f"{value / 1000:g}k"


def _x(index: int, count: int) -> float:
    return LEFT + (PLOT_W * index / (count - 1) if count > 1 else PLOT_W / 2)


def _y(value: float, top: float) -> float:
    return TOP + PLOT_H - PLOT_H * value / top


def _line(name: str, css: str, values: list[float | None], top: float) -> Line:
    segments: list[str] = []
    run: list[str] = []
    for i, value in enumerate(values):
        if value is None:
            if run:
                segments.append(" ".join(run))
                run = []
            continue
        run.append(f"{_x(i, len(values)):.1f},{_y(value, top):.1f}")
    if run:
        segments.append(" ".join(run))
    return Line(name, css, segments, sum(v is not None for v in values))


def _chart(
    title: str, unit: str, lines: list[tuple[str, str, list[float | None]]], times: list[str]
) -> Chart:
    highest = max((v for _, _, values in lines for v in values if v is not None), default=0.0)
    top = _nice_top(highest)
    chart = Chart(title, unit, top, [_line(n, c, v, top) for n, c, v in lines])
    chart.y_ticks = [(_y(top * f, top), _label(top * f)) for f in (0, 0.5, 1)]
    count = len(times)
    chart.x_ticks = [(_x(i, count), times[i]) for i in (0, count // 2, count - 1)]
    return chart


def _time(iso: str, window: str) -> str:
    when = datetime.strptime(iso, "%Y-%m-%dT%H:%M:%SZ")
    return when.strftime("%H:%M" if window == "day" else "%d %b %H:00")


def usage_charts(series: dict[str, Any]) -> list[Chart]:
    points = series["points"]
    times = [_time(p["start"], series["window"]) for p in points]
    per = "minute" if series["window"] == "day" else "hour"
    return [
        _chart(
            f"Requests and errors a {per}",
            "requests",
            [
                ("requests", "requests", [p["requests"] for p in points]),
                ("errors", "errors", [p["errors"] for p in points]),
            ],
            times,
        ),
        _chart(
            f"Mean latency a {per}",
            "ms",
            [("latency", "latency", [p["latency_ms"] for p in points])],
            times,
        ),
    ]
