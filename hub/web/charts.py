"""Server-rendered SVG pictures of a client's rhythm: a heat map and a day timeline."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from markupsafe import Markup, escape

from etrs.schedule import AMSTERDAM

# Colour steps from "no activity" to "much activity"; dark enough at the top for AA contrast.
HEAT_STEPS = ("#eef2f6", "#c6dbef", "#9ecae1", "#6baed6", "#3182bd", "#08519c")
LANE_COLOURS = {
    "room": "#0b5cad",
    "door": "#8a5a00",
    "dose": "#1e7b34",
    "missed": "#b3261e",
    "planned": "#4a5560",
}


_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


_SPACES = str.maketrans("\t\n\r", "   ")


def _text(value: str) -> Markup:
    """Escaped text without the control characters XML (and so SVG) cannot carry."""
    return escape(_XML_INVALID.sub("", value).translate(_SPACES))


def heat_level(count: int, peak: int) -> int:
    """The colour step (0 = none) of an hour's count relative to the busiest hour."""
    if count <= 0 or peak <= 0:
        return 0
    steps = len(HEAT_STEPS) - 1
    return max(1, min(steps, -(-count * steps // peak)))


def heatmap_svg(
    counts: dict[tuple[date, int], int],
    days: Sequence[date],
    *,
    label: str,
    day_names: Sequence[str],
) -> Markup:
    """A days × hours heat map (rows: days, columns: local hours) as an inline SVG."""
    cell, left, top = 26, 92, 22
    width = left + 24 * cell + 4
    height = top + len(days) * cell + 4
    peak = max(counts.values(), default=0)
    parts = [
        f'<svg class="heatmap" viewBox="0 0 {width} {height}" width="100%" role="img" '
        f'aria-label="{_text(label)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{_text(label)}</title>",
    ]
    for hour in range(0, 24, 3):
        x = left + hour * cell + 2
        parts.append(f'<text x="{x}" y="{top - 6}" class="axis">{hour:02d}</text>')
    for row, day in enumerate(days):
        y = top + row * cell
        name = day_names[day.weekday()]
        parts.append(
            f'<text x="{left - 6}" y="{y + cell - 8}" class="axis" text-anchor="end">'
            f"{_text(name)} {day:%d-%m}</text>"
        )
        for hour in range(24):
            n = counts.get((day, hour), 0)
            fill = HEAT_STEPS[heat_level(n, peak)]
            parts.append(
                f'<rect x="{left + hour * cell}" y="{y}" width="{cell - 2}" height="{cell - 2}" '
                f'rx="3" fill="{fill}" data-count="{n}"><title>{day:%d-%m} {hour:02d}:00 · {n}'
                "</title></rect>"
            )
    parts.append("</svg>")
    return Markup("".join(parts))


@dataclass(frozen=True)
class Mark:
    """One thing on the day timeline: when, which lane, what, and its colour kind."""

    at: datetime
    lane: str
    text: str
    kind: str  # room | door | dose | missed | planned


def _minutes(at: datetime) -> int:
    local = at.astimezone(AMSTERDAM)
    return local.hour * 60 + local.minute


def timeline_svg(marks: Sequence[Mark], *, label: str, now: datetime | None = None) -> Markup:
    """Today's timeline: one lane per room, door and medication, marks at their local time."""
    lanes: list[str] = []
    for m in sorted(marks, key=lambda m: (m.kind not in ("room",), m.kind, m.lane)):
        if m.lane not in lanes:
            lanes.append(m.lane)
    left, top, lane_h, width_h = 130, 26, 34, 680
    width = left + width_h + 10
    height = top + max(1, len(lanes)) * lane_h + 8
    scale = width_h / (24 * 60)
    parts = [
        f'<svg class="timeline" viewBox="0 0 {width} {height}" width="100%" role="img" '
        f'aria-label="{_text(label)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{_text(label)}</title>",
    ]
    for hour in range(0, 25, 3):
        x = left + hour * 60 * scale
        parts.append(
            f'<line x1="{x:.1f}" y1="{top - 4}" x2="{x:.1f}" y2="{height - 4}" class="grid"/>'
            f'<text x="{x:.1f}" y="{top - 8}" class="axis" text-anchor="middle">{hour:02d}</text>'
        )
    for row, lane in enumerate(lanes):
        y = top + row * lane_h
        parts.append(
            f'<text x="{left - 8}" y="{y + lane_h - 10}" class="axis" text-anchor="end">'
            f"{_text(lane)}</text>"
        )
    for m in marks:
        row = lanes.index(m.lane)
        x = left + _minutes(m.at) * scale
        y = top + row * lane_h
        colour = LANE_COLOURS.get(m.kind, "#4a5560")
        tip = f"{m.at.astimezone(AMSTERDAM):%H:%M} {m.text}"
        if m.kind in ("dose", "missed", "planned"):
            cy = y + lane_h / 2 - 2
            # A planned dose is an open ring; given and missed doses are filled.
            fill = "#ffffff" if m.kind == "planned" else colour
            parts.append(
                f'<circle cx="{x:.1f}" cy="{cy:.1f}" r="8" fill="{fill}" stroke="{colour}" '
                f'stroke-width="3" class="mark {m.kind}"><title>{_text(tip)}</title></circle>'
            )
        else:
            parts.append(
                f'<rect x="{x - 2:.1f}" y="{y + 4}" width="4" height="{lane_h - 12}" '
                f'fill="{colour}" class="mark {m.kind}"><title>{_text(tip)}</title></rect>'
            )
    if now is not None:
        x = left + _minutes(now) * scale
        parts.append(
            f'<line x1="{x:.1f}" y1="{top - 4}" x2="{x:.1f}" y2="{height - 4}" class="now"/>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))
