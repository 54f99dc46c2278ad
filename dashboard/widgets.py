"""Small pieces every part of the page uses: safe test ids, text that updates only on change,
a redraw that cannot take other parts down, and the HMI's style sheet.

Nothing read from the network reaches `.props()`, `.classes()`, `.style()` or HTML here: test
ids are fixed words and `slug(...)`s set as a prop *value*; classes come from fixed tables
(`state_class`); texts are shown as text.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from nicegui import ui

if TYPE_CHECKING:
    from dashboard.state import CellView, PlantState

_logger = logging.getLogger(__name__)
_SLUG = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
_failed_parts: set[str] = set()

# ISA-101 high-performance HMI: grey is normal; colour only for what needs attention.
STATE_CLASS = {
    "Executing": "hmi-state-run",
    "NotExecuting": "hmi-state-idle",
    "NotAvailable": "hmi-state-off",
    "OutOfService": "hmi-state-down",  # failed, in repair or maintenance: abnormal
}
STYLE = """
:root { --hmi-bg:#d9d9d9; --hmi-panel:#ececec; --hmi-text:#1d1d1d; --hmi-muted:#575757;
  --hmi-line:#b0b0b0; --hmi-alarm:#c62828; --hmi-warn:#e0a000; --hmi-run:#8a8a8a;
  --hmi-hatch: repeating-linear-gradient(135deg,#d0d0d0 0 9px,#bcbcbc 9px 18px); }
.body--dark { --hmi-bg:#181818; --hmi-panel:#262626; --hmi-text:#e8e8e8; --hmi-muted:#a6a6a6;
  --hmi-line:#454545; --hmi-run:#6d6d6d;
  --hmi-hatch: repeating-linear-gradient(135deg,#2e2e2e 0 9px,#3a3a3a 9px 18px); }
body { background: var(--hmi-bg); color: var(--hmi-text); }
.nicegui-content { padding: 6px 10px; gap: 6px; }
.hmi-panel { background: var(--hmi-panel); border: 1px solid var(--hmi-line); border-radius: 4px;
  padding: 6px 8px; }
.hmi-muted { color: var(--hmi-muted); }
.hmi-title { font-size: 13px; font-weight: 700; color: var(--hmi-muted); text-transform: uppercase;
  letter-spacing: .04em; }
.hmi-plant { font-size: 22px; font-weight: 700; line-height: 1.1; }
.hmi-big { font-size: 30px; font-weight: 700; line-height: 1.05;
  font-variant-numeric: tabular-nums; }
.hmi-mid { font-size: 18px; font-weight: 600; font-variant-numeric: tabular-nums; }
.hmi-small { font-size: 12px; line-height: 1.25; }
.hmi-tile { background: var(--hmi-panel); border: 1px solid var(--hmi-line); border-radius: 4px;
  padding: 4px 6px; min-width: 0; }
.hmi-unknown { background: var(--hmi-hatch); border-style: dashed; }
.hmi-state { border-radius: 3px; padding: 0 5px; font-size: 13px; font-weight: 600;
  white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.hmi-state-run { background: var(--hmi-run); color: #fff; }
.hmi-state-idle { border: 1px solid var(--hmi-muted); }
.hmi-state-off { color: var(--hmi-muted); border: 1px dashed var(--hmi-muted); }
.hmi-state-down { background: var(--hmi-alarm); color: #fff; }
.hmi-state-none { color: var(--hmi-muted); }
.hmi-alarm-active { color: var(--hmi-alarm); font-weight: 700; }
.hmi-alarm-cleared { color: var(--hmi-muted); }
.hmi-bar { height: 14px; background: var(--hmi-line); border-radius: 2px; overflow: hidden; }
.hmi-bar > div { height: 100%; background: var(--hmi-muted); }
.hmi-alarms { max-height: 118px; overflow-y: auto; }
/* below the first screen: the browser skips drawing it until it is scrolled into view */
.hmi-below { content-visibility: auto; contain-intrinsic-size: auto 480px; }
.hmi-grid td, .hmi-grid th { padding: 1px 8px 1px 0; text-align: left; vertical-align: top; }
.q-btn.hmi-speed-on { background: var(--hmi-text) !important; color: var(--hmi-bg) !important; }
"""


def slug(name: str, index: int) -> str:
    """`name` if it is a plain slug, else `#<index>`: a test id never carries other text."""
    return name if _SLUG.fullmatch(name) else f"#{index}"


def testid(*parts: str) -> str:
    return "-".join(parts)


def mark(element: ui.element, test_id: str | None) -> Any:
    """Set the element's `data-testid` as a prop value (never through NiceGUI's props-string
    parser, which would read `x" innerHTML="..."` as a second prop); `test_id` is made of
    fixed words and `slug(...)`s."""
    if test_id:
        element.props["data-testid"] = test_id
    return element


def state_class(state: Any) -> str:
    return STATE_CLASS.get(state, "hmi-state-none") if isinstance(state, str) \
        else "hmi-state-none"


def redraw(what: str, update) -> None:
    """One part's redraw: a failure is logged once per part and leaves every other part
    drawing (a part that fails keeps its last picture)."""
    try:
        update()
    except Exception:
        if what not in _failed_parts and len(_failed_parts) < 1000:
            _failed_parts.add(what)
            _logger.exception("redrawing %r failed (logged once)", what)


class Part(ui.element, component="part.js"):
    """A container (a column, a row or a grid) that the browser redraws on its own.

    NiceGUI draws plain elements (labels, rows, columns) inside its root Vue component, so one
    changed label makes the browser re-render the virtual DOM of the whole page; inside a
    component only that component re-renders. Each tile, panel and strip is a Part: a new count
    on a tile costs the browser that tile (benchmarks/demo_load.py: the browser is the demo's
    largest cost)."""

    def __init__(self, kind: str = "column") -> None:
        super().__init__()
        self._classes.append(f"nicegui-{kind}")


class Text:
    """A label that sends the browser an update only when its text or class changes."""

    def __init__(self, text: str = "", classes: str = "", test_id: str | None = None) -> None:
        self.label = mark(ui.label(text).classes(classes), test_id)
        self._text, self._classes, self._base = text, "", classes

    def set(self, text: str, classes: str | None = None) -> None:
        """`classes`: from a fixed table (`STATE_CLASS`, ...), added to the label's own."""
        if text != self._text:
            self._text = text
            self.label.set_text(text)
        if classes is not None and classes != self._classes:
            self._classes = classes
            self.label.classes(replace=f"{self._base} {classes}")


class CellsLayout:
    """The plant's cells in routing order for a part drawn per cell (the floor, the knowledge
    table): `cells()` first rebuilds the part, through `rebuild(cells)`, when a cell appeared or
    moved since the last call; otherwise the part's elements stay and are only updated."""

    def __init__(self, plant: PlantState, rebuild: Callable[[list[CellView]], None]) -> None:
        self.plant, self.rebuild = plant, rebuild
        self._layout: int | None = None

    def cells(self) -> list[CellView]:
        if self.plant.layout != self._layout:
            self._layout = self.plant.layout
            self.rebuild(self.plant.ordered_cells())
        return self.plant.ordered_cells()
