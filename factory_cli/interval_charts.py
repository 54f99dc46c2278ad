"""Charts of experiments: means with 95 % confidence intervals as error bars, paired
differences, sweeps and integration effort, as PNG files (matplotlib's Agg canvas, no pyplot).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from factory_cli.charts import COLOURS
from factory_cli.experiment_output import (
    difference_heading,
    difference_of,
    difference_title,
    paired_steps,
    shown,
)
from factory_cli.kpi_table import KpiRow


def grid(title: str, panels: int, width_per: float = 3.6):
    columns = min(panels, 3)
    rows = math.ceil(panels / columns)
    figure = Figure(figsize=(max(7.0, width_per * columns), 3.2 * rows + 0.6), dpi=110,
                    layout="constrained")
    FigureCanvasAgg(figure)
    figure.suptitle(title, fontsize=12, fontweight="bold")
    axes = figure.subplots(rows, columns, squeeze=False).ravel()
    for extra in axes[panels:]:
        extra.set_visible(False)
    return figure, axes[:panels]


def _bars_with_errors(axes, names, means, errors, row: KpiRow) -> None:
    x = np.arange(len(names))
    values = np.array([np.nan if m is None else shown(row, m) for m in means], dtype=float)
    yerr = np.array([0.0 if e is None else e for e in errors], dtype=float)
    axes.bar(x, np.nan_to_num(values), yerr=yerr, capsize=4,
             color=[COLOURS[i % len(COLOURS)] for i in range(len(names))])
    if any("\n" in name for name in names):  # steps "a →\nb": upright, two lines each
        axes.set_xticks(x, names, fontsize=8)
    else:
        axes.set_xticks(x, names, rotation=20, ha="right", fontsize=8)
    axes.set_title(row.heading, fontsize=10)
    axes.grid(axis="y", alpha=0.3)
    axes.set_axisbelow(True)


def _width(row: KpiRow, half_width: float | None) -> float | None:
    return None if half_width is None else abs(shown(row, half_width))


def interval_chart(data: dict, rows: Sequence[KpiRow], path: Path) -> Path:
    """kpi_intervals.png: each headline KPI per scenario, mean with its 95 % CI."""
    figure, axes = grid(f"Headline KPIs: mean and 95 % CI over {data['replications']} "
                         "replications", len(rows))
    names = [s["name"] for s in data["scenarios"]]
    for ax, row in zip(axes, rows, strict=True):
        found = [s["plant"][row.plant] for s in data["scenarios"]]
        _bars_with_errors(ax, names, [f["mean"] for f in found],
                          [_width(row, f["half_width"]) for f in found], row)
    figure.savefig(path)
    return path


def difference_chart(data: dict, rows: Sequence[KpiRow], path: Path) -> Path:
    """differences.png: each paired difference (against the first scenario, or each against
    the one before it), with its 95 % CI."""
    figure, axes = grid(f"{difference_title(data)}, with 95 % CI", len(rows))
    steps = paired_steps(data)
    # A step "a → b" on two lines, so that long scenario names stay readable.
    labels = [difference_heading(data, base, scenario).replace(" → ", " →\n")
              for base, scenario in steps]
    for ax, row in zip(axes, rows, strict=True):
        found = [difference_of(data, scenario, row.plant) or {} for _, scenario in steps]
        _bars_with_errors(ax, labels, [f.get("mean") for f in found],
                          [_width(row, f.get("half_width")) for f in found], row)
        ax.axhline(0, color="black", linewidth=0.8)
    figure.savefig(path)
    return path


def sweep_chart(parameter: str, values: Sequence[str], points: Sequence[dict[str, dict]],
                rows: Sequence[KpiRow], path: Path, title: str | None = None) -> Path:
    """sweep.png: each headline KPI (or its paired difference) against the varied parameter,
    mean with 95 % CI."""
    figure, axes = grid(title or f"Headline KPIs against {parameter}", len(rows))
    numeric = all(_is_number(v) for v in values)
    x = [float(v) for v in values] if numeric else list(range(len(values)))
    for ax, row in zip(axes, rows, strict=True):
        means = [p[row.plant]["mean"] for p in points]
        errors = [_width(row, p[row.plant]["half_width"]) or 0.0 for p in points]
        y = [np.nan if m is None else shown(row, m) for m in means]
        ax.errorbar(x, y, yerr=errors, marker="o", capsize=4, color=COLOURS[0])
        if title:
            ax.axhline(0, color="black", linewidth=0.8)
        if not numeric:
            ax.set_xticks(x, values, rotation=20, ha="right", fontsize=8)
        ax.set_xlabel(parameter, fontsize=8)
        ax.set_title(row.heading, fontsize=10)
        ax.grid(alpha=0.3)
    figure.savefig(path)
    return path


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def integration_chart(data: dict, path: Path) -> Path:
    """integration.png: interfaces and build cost against the number of machines, N × M
    point-to-point against N + M through a standard, with each scenario's plant marked."""
    figure, (left, right) = grid("Integration effort as machines are added", 2, 5.0)
    for index, label in enumerate(("point-to-point", "standard")):
        rows = [r for r in data["growth"] if r["architecture"] == label]
        machines = [r["machines"] for r in rows]
        consumers = rows[0]["consumers"]
        name = (f"{label}: N × {consumers}" if label == "point-to-point"
                else f"{label}: N + {consumers}")
        left.plot(machines, [r["interfaces"] for r in rows], marker="o", label=name,
                  color=COLOURS[index])
        right.plot(machines, [r["cost_build"] / 1000 for r in rows], marker="o", label=name,
                   color=COLOURS[index])
    for index, row in enumerate(data["scenarios"]):
        left.scatter([row["cells"]], [row["interfaces"]], marker="*", s=140, zorder=3,
                     color=COLOURS[(index + 2) % len(COLOURS)], label=row["name"])
    left.set(title="Interfaces to build and keep", xlabel="machines (N)",
             ylabel="interfaces")
    right.set(title="Build cost", xlabel="machines (N)", ylabel="thousand EUR")
    for ax in (left, right):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    figure.savefig(path)
    return path
