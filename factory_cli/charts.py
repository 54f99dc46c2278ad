"""Charts comparing scenarios, as PNG files a student can put in a report.

Built on matplotlib's object API with the Agg canvas (no pyplot, no display, no global
state). Each chart takes `reports`: (scenario name, `KpiReport.as_dict()`) pairs, in the
order the scenarios were given. After replications `reports` hold the means, and `spreads`
each scenario's intervals (figure path -> `Interval.as_dict()`): the charts then draw the
95 % confidence intervals as error bars.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

Reports = Sequence[tuple[str, dict]]
Spreads = Sequence[Mapping[str, dict]] | None
COLOURS = ("#4C72B0", "#DD8452", "#55A868", "#C44E52", "#8172B3", "#937860", "#DA8BC3",
           "#8C8C8C")


def _figure(title: str, scenarios: int, spreads: Spreads = None) -> tuple[Figure, object]:
    figure = Figure(figsize=(max(7.0, 1.6 * scenarios + 3.5), 4.8), dpi=110,
                    layout="constrained")
    FigureCanvasAgg(figure)
    if spreads:
        figure.suptitle(title, fontsize=12, fontweight="bold")
        title = (f"mean of {_replications(spreads)} paired replications; error bars: "
                 "95 % confidence interval")
    axes = figure.add_subplot()
    axes.set_title(title, fontsize=12 if not spreads else 9,
                   fontweight="normal" if spreads else "bold")
    axes.grid(axis="y", alpha=0.3)
    axes.set_axisbelow(True)
    return figure, axes


def _replications(spreads: Spreads) -> int:
    return max(found["n"] for spread in spreads for found in spread.values())


def _errors(spreads: Spreads, path: str, scale: float) -> list[float] | None:
    """Each scenario's 95 % half-width of the figure at `path`, times `scale`; None without
    replications (0 where it is undefined)."""
    if not spreads:
        return None
    widths = [(spread.get(path) or {}).get("half_width") for spread in spreads]
    return [0.0 if width is None else width * scale for width in widths]


def _value(section: dict, path: str) -> float:
    value = section
    for key in path.split("."):
        value = value[key]
    return float("nan") if value is None else float(value)


def human_duration(seconds: float) -> str:
    """0.5 s, 42 s, 12 min, 3.8 h: the unit a reader would choose."""
    if seconds < 60:
        return f"{seconds:.2g} s" if seconds < 10 else f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _label_bars(axes, bars, values: Sequence[float], fmt) -> None:
    """Each bar's value on top of it; "–" where the KPI is undefined (drawn as 0)."""
    show = fmt if callable(fmt) else fmt.format
    labels = ["–" if np.isnan(value) else show(value) for value in values]
    axes.bar_label(bars, labels=labels, padding=2, fontsize=8)


def _grouped_bars(axes, groups: Sequence[str], series: Sequence[tuple[str, Sequence[float]]],
                  fmt, errors: Sequence[Sequence[float] | None] | None = None) -> None:
    """Bars for each of `groups` on the x axis, one bar per series (with a legend); `errors`:
    each series' error bars, if any."""
    x = np.arange(len(groups))
    width = 0.8 / len(series)
    for index, (name, values) in enumerate(series):
        bars = axes.bar(x + (index - (len(series) - 1) / 2) * width,
                        np.nan_to_num(values, nan=0.0), width, label=name,
                        color=COLOURS[index % len(COLOURS)],
                        yerr=errors[index] if errors else None, capsize=3)
        _label_bars(axes, bars, values, fmt)
    axes.set_xticks(x, groups)
    axes.figure.legend(loc="outside lower center", ncols=min(len(series), 4), fontsize=9,
                       frameon=False)


def oee_chart(reports: Reports, path: Path, spreads: Spreads = None) -> Path:
    """OEE and its three factors (availability, performance, quality) side by side."""
    figure, axes = _figure("OEE and its factors (ISO 22400, plant)", len(reports), spreads)
    keys = ("availability", "performance", "quality", "oee")
    series = [(name, [_value(report["plant"], key) * 100 for key in keys])
              for name, report in reports]
    errors = None
    if spreads:
        by_key = [_errors(spreads, key, 100.0) for key in keys]
        errors = [[by_key[k][i] for k in range(len(keys))] for i in range(len(reports))]
    _grouped_bars(axes, ["Availability\nAPT/PBT", "Performance\nPRI·PQ/APT",
                         "Quality\nGQ/PQ", "OEE\nA·P·Q"], series, "{:.0f}", errors)
    axes.set_ylabel("share [%]")
    axes.set_ylim(0, 110)
    figure.savefig(path)
    return path


def _scenario_bars(title: str, ylabel: str, reports: Reports, values: Sequence[float],
                   fmt, path: Path, spreads: Spreads, errors: Sequence[float] | None) -> Path:
    figure, axes = _figure(title, len(reports), spreads)
    names = [name for name, _ in reports]
    bars = axes.bar(names, np.nan_to_num(values, nan=0.0), yerr=errors, capsize=4,
                    color=[COLOURS[i % len(COLOURS)] for i in range(len(names))])
    _label_bars(axes, bars, values, fmt)
    axes.set_xlabel("scenario")
    axes.set_ylabel(ylabel)
    axes.margins(y=0.15)
    figure.savefig(path)
    return path


def throughput_chart(reports: Reports, path: Path, spreads: Spreads = None) -> Path:
    """Good parts delivered per hour of simulated time."""
    key = "throughput_parts_per_h"
    values = [_value(report["plant"], key) for _, report in reports]
    return _scenario_bars("Throughput (good parts delivered)", "good parts per hour [1/h]",
                          reports, values, "{:.2f}", path, spreads, _errors(spreads, key, 1.0))


def lead_time_chart(reports: Reports, path: Path, spreads: Spreads = None) -> Path:
    """Order lead time (arrival to completion): mean, median and 90th percentile."""
    figure, axes = _figure("Order lead time (arrival → completion)", len(reports), spreads)
    stats = (("mean", "lead_time_s.mean"), ("median", "lead_time_s.p50"),
             ("90th percentile", "lead_time_s.p90"))
    series = [(label, [_value(report["plant"], key) / 3600 for _, report in reports])
              for label, key in stats]
    errors = [_errors(spreads, key, 1 / 3600) for _, key in stats] if spreads else None
    _grouped_bars(axes, [name for name, _ in reports], series, "{:.1f}", errors)
    axes.set_xlabel("scenario")
    axes.set_ylabel("lead time [h]")
    axes.margins(y=0.15)
    figure.savefig(path)
    return path


def mttr_chart(reports: Reports, path: Path, spreads: Spreads = None) -> Path:
    """Mean time to repair, stacked: detection, response (technician arrives), repair; with
    replications the error bar is the 95 % interval of the whole MTTR."""
    figure, axes = _figure("Mean time to repair, by part", len(reports), spreads)
    names = [name for name, _ in reports]
    bottom = np.zeros(len(names))
    parts = (("detection", "repairs.detection_s"), ("response", "repairs.response_s"),
             ("repair", "repairs.repair_s"))
    for index, (label, key) in enumerate(parts):
        minutes = np.nan_to_num([_value(r["plant"], key) / 60 for _, r in reports], nan=0.0)
        bars = axes.bar(names, minutes, bottom=bottom, label=label, color=COLOURS[index])
        axes.bar_label(bars, labels=[f"{m:.0f}" if m >= 1 else "" for m in minutes],
                       label_type="center", fontsize=8, color="white")
        bottom += minutes
    errors = _errors(spreads, "repairs.mttr_s", 1 / 60)
    if errors:
        axes.errorbar(names, bottom, yerr=errors, fmt="none", ecolor="black", capsize=4)
    for x, (total, (_, report)) in enumerate(zip(bottom, reports, strict=True)):
        repaired = report["plant"]["repairs"]["repaired"]
        if errors:
            text = f"{total:.0f} ± {errors[x]:.0f} min\n({repaired:.1f} repairs a run)"
        else:
            text = f"{total:.0f} min\n({repaired} repair{'' if repaired == 1 else 's'})"
        axes.annotate(text, (x, total + (errors[x] if errors else 0.0)),
                      textcoords="offset points", xytext=(0, 3), ha="center", fontsize=8)
    axes.set_xlabel("scenario")
    axes.set_ylabel("mean time per failure [min]")
    axes.margins(y=0.2)
    axes.legend(fontsize=9)
    figure.savefig(path)
    return path


def latency_chart(reports: Reports, path: Path, spreads: Spreads = None) -> Path:
    """How long the planner takes to learn of a state change (log scale: s to hours)."""
    figure, axes = _figure("Information latency (state change → planner knows)", len(reports),
                           spreads)
    stats = (("mean", "information.latency_s.mean"), ("90th percentile",
                                                      "information.latency_s.p90"))
    series = [(label, [_value(report["plant"], key) for _, report in reports])
              for label, key in stats]
    errors = [_errors(spreads, key, 1.0) for _, key in stats] if spreads else None
    _grouped_bars(axes, [name for name, _ in reports], series, human_duration, errors)
    values = [v for _, vs in series for v in vs if not np.isnan(v) and v > 0]
    if values and max(values) / min(values) > 50:
        axes.set_yscale("log")
        axes.set_ylim(min(values) / 3, max(values) * 5)
    else:
        axes.margins(y=0.15)
    axes.set_xlabel("scenario")
    axes.set_ylabel("latency [s]" + (" (log scale)" if axes.get_yscale() == "log" else ""))
    figure.savefig(path)
    return path


CHARTS = {
    "oee.png": oee_chart,
    "throughput.png": throughput_chart,
    "lead_time.png": lead_time_chart,
    "mttr.png": mttr_chart,
    "information_latency.png": latency_chart,
}


def write_charts(reports: Reports, directory: Path, spreads: Spreads = None) -> list[Path]:
    """Every comparison chart as a PNG in `directory` (with error bars when `spreads` are
    given); the paths written."""
    return [chart(reports, directory / name, spreads) for name, chart in CHARTS.items()]
