"""Small charts drawn on the server: the geometry here, the SVG in
``templates/lists/charts.html`` (autoescaped, so every word in a chart is escaped text).

No script and no chart library: a chart is numbers laid out in a fixed ``viewBox`` that the
stylesheet scales to the page's width. Each chart has a title and a description that says
every number in words, for a screen reader and for anyone who cannot see the picture.
"""

from __future__ import annotations

from dataclasses import dataclass

# Horizontal bars: a label line above each bar; the viewBox is narrow so a phone (which scales
# it down) still shows readable text.
WIDTH = 400
ROW = 38
BAR = 14
VALUE_ROOM = 56
COLUMNS_HEIGHT = 150


@dataclass(frozen=True)
class Bar:
    label: str
    value: int
    x: float
    y: float
    width: float
    height: float
    text_x: float  # where the label (hbar) or the value (columns) is written
    text_y: float
    value_x: float = 0
    value_y: float = 0


@dataclass(frozen=True)
class Chart:
    key: str  # the id of the SVG's title and description
    kind: str  # "bars", "columns" or "share"
    title: str
    desc: str
    width: int
    height: int
    bars: list[Bar]
    ticks: list[tuple[float, str]]  # x and text under a column chart
    total: int = 0  # a share's whole
    percent: int = 0  # a share's part of the whole, rounded down


def _describe(items: list[tuple[str, int]]) -> str:
    return "; ".join(f"{label}: {value}" for label, value in items)


def bars(key: str, title: str, items: list[tuple[str, int]]) -> Chart:
    """One horizontal bar per item, the longest as long as the chart allows."""
    top = max((v for _, v in items), default=0) or 1
    span = WIDTH - VALUE_ROOM
    drawn = []
    for i, (label, value) in enumerate(items):
        y = i * ROW
        length = span * value / top
        drawn.append(
            Bar(label, value, x=0, y=y + 18, width=length, height=BAR, text_x=0, text_y=y + 13,
                value_x=length + 6, value_y=y + 18 + BAR - 2)
        )
    return Chart(key, "bars", title, _describe(items), WIDTH, max(len(items), 1) * ROW, drawn, [])


def columns(key: str, title: str, items: list[tuple[str, int]], every: int = 7) -> Chart:
    """A column per item (a day), a tick under the last and every ``every``-th before it."""
    top = max((v for _, v in items), default=0) or 1
    slot = WIDTH / max(len(items), 1)
    room = COLUMNS_HEIGHT - 22  # the text under the columns needs the rest
    drawn, ticks = [], []
    for i, (label, value) in enumerate(items):
        height = room * value / top
        x = i * slot
        drawn.append(
            Bar(label, value, x=x + 1, y=14 + room - height, width=max(slot - 2, 1), height=height,
                text_x=x + slot / 2, text_y=COLUMNS_HEIGHT - 2, value_x=x + slot / 2,
                value_y=max(14 + room - height - 3, 10))
        )
        if (len(items) - 1 - i) % every == 0:  # counted back from the last (today)
            ticks.append((x + slot / 2, label))
    return Chart(key, "columns", title, _describe(items), WIDTH, COLUMNS_HEIGHT, drawn, ticks)


def share(key: str, title: str, part: int, whole: int, words: str) -> Chart:
    """One bar of ``part`` out of ``whole`` (``words`` says it in a sentence)."""
    length = WIDTH * part / whole if whole else 0
    percent = part * 100 // whole if whole else 0
    bar = Bar(title, part, x=0, y=4, width=length, height=20, text_x=0, text_y=42)
    return Chart(key, "share", title, words, WIDTH, 48, [bar], [], total=whole, percent=percent)
