"""Small charts as inline SVG, drawn on the server (no scripts, no external libraries, CSP-friendly).

Colours come from CSS classes (the stylesheet), sizes from attributes: no inline styles.
"""

from __future__ import annotations

from dataclasses import dataclass

from markupsafe import Markup, escape


@dataclass(frozen=True)
class Segment:
    value: float
    css_class: str
    title: str


@dataclass(frozen=True)
class Column:
    label: str
    segments: tuple[Segment, ...]
    title: str = ""


def stacked_columns(columns: list[Column], *, height: int = 180, label: str = "") -> Markup:
    """100%-stacked columns (e.g. kept / unreachable / missed per day); empty columns are drawn as a gap."""
    if not columns:
        return Markup("")
    bar, gap, top, bottom, left = 22, 8, 8, 34, 34
    width = left + len(columns) * (bar + gap) + gap
    plot = height - top - bottom
    parts = [
        f'<svg class="chart" role="img" aria-label="{escape(label)}" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" direction="ltr">'
    ]
    for share in (0.0, 0.5, 1.0):
        y = top + plot * (1 - share)
        parts.append(f'<line class="grid" x1="{left}" x2="{width}" y1="{y:.1f}" y2="{y:.1f}"/>')
        parts.append(f'<text class="axis" x="{left - 4}" y="{y + 4:.1f}" text-anchor="end">{int(share * 100)}%</text>')
    for index, column in enumerate(columns):
        x = left + gap + index * (bar + gap)
        total = sum(s.value for s in column.segments)
        y = top + plot
        parts.append(f"<g><title>{escape(column.title or column.label)}</title>")
        for segment in column.segments:
            if total <= 0 or segment.value <= 0:
                continue
            h = plot * segment.value / total
            y -= h
            parts.append(
                f'<rect class="{escape(segment.css_class)}" x="{x}" y="{y:.1f}" width="{bar}" height="{h:.1f}">'
                f"<title>{escape(segment.title)}</title></rect>"
            )
        parts.append(
            f'<text class="axis" x="{x + bar / 2:.1f}" y="{height - bottom + 14}" text-anchor="middle">'
            f"{escape(column.label)}</text></g>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every interpolated value above went through escape()


@dataclass(frozen=True)
class Bar:
    label: str
    value: float
    css_class: str
    text: str


def horizontal_bars(bars: list[Bar], *, width: int = 360, label: str = "") -> Markup:
    """One bar per row, scaled to the largest value, with its text at the end of the bar."""
    if not bars:
        return Markup("")
    row, label_width = 24, 130
    height = row * len(bars) + 4
    largest = max(b.value for b in bars) or 1
    plot = width - label_width - 70
    parts = [
        f'<svg class="chart" role="img" aria-label="{escape(label)}" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" direction="ltr">'
    ]
    for index, item in enumerate(bars):
        y = 2 + index * row
        w = max(1.0, plot * item.value / largest) if item.value else 0
        parts.append(
            f"<g><title>{escape(item.label)}: {escape(item.text)}</title>"
            f'<text class="axis" x="{label_width - 6}" y="{y + 15}" text-anchor="end">{escape(item.label[:22])}</text>'
            f'<rect class="{escape(item.css_class)}" x="{label_width}" y="{y + 3}" width="{w:.1f}" height="{row - 8}"/>'
            f'<text class="value" x="{label_width + w + 4:.1f}" y="{y + 15}">{escape(item.text)}</text></g>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every interpolated value above went through escape()
