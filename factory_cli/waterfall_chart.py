"""attribution.png: each step of `compare --attribute` as waterfalls, one per headline KPI.

Bars start where the previous one ended: each mechanism's contribution, then the interaction
rest, then the step itself from zero; the error bars are the 95 % intervals of each term.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from factory_cli.charts import COLOURS
from factory_cli.experiment_output import HEADLINE_PATHS, headline_rows, shown
from factory_cli.interval_charts import grid


def waterfall_chart(steps: list[dict], path: Path) -> Path:
    panels = [(step, row) for step in steps
              for row in headline_rows([p for p in HEADLINE_PATHS if p in step["figures"]])]
    figure, axes = grid("Each step's contributions per mechanism (switched alone, paired), "
                        "interaction rest and the step, with 95 % CI", len(panels), 4.2)
    for ax, (step, row) in zip(axes, panels, strict=True):
        terms = step["figures"][row.plant]
        found = [terms["contributions"][m] for m in step["mechanisms"]]
        found += [terms["interaction"], terms["step"]]
        labels = [*step["mechanisms"], "interaction", "step"]
        means = [0.0 if f["mean"] is None else shown(row, f["mean"]) for f in found]
        errors = [0.0 if f["half_width"] is None else abs(shown(row, f["half_width"]))
                  for f in found]
        bottoms = np.concatenate(([0.0], np.cumsum(means[:-2]), [0.0]))
        colours = [COLOURS[1]] * (len(means) - 2) + ["#999999", COLOURS[0]]
        x = np.arange(len(labels))
        ax.bar(x, means, bottom=bottoms, color=colours)
        ax.errorbar(x, bottoms + np.array(means), yerr=errors, fmt="none", ecolor="black",
                    capsize=3, linewidth=0.8)
        ax.axhline(0, color="black", linewidth=0.8)
        ax.set_xticks(x, labels, rotation=35, ha="right", fontsize=7)
        ax.set_title(f"{step['before']} → {step['after']}\n{row.heading}", fontsize=9)
        ax.grid(axis="y", alpha=0.3)
        ax.set_axisbelow(True)
    figure.savefig(path)
    return path
