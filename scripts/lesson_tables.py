"""Generate docs/students/lesson.md: the level tables and the attribution table, from the code.

    .venv/bin/python scripts/lesson_tables.py [--replications 10] [--horizons 28d,1y:10]
        [--precision 0.05 --max-replications 60] [--jobs 2] [--out docs/students/lesson.md]

Runs the four reference levels on paired seeds 1..N (not chosen: always from 1), the
one-at-a-time ablation of every step, and writes what comes out, including every step that
makes a headline KPI worse, and per horizon a reading in words of each step: the KPIs it moves
and, KPI by KPI, the mechanisms that move them (in either direction). With --precision, it
starts at 30 replications (or --replications, if more) and adds ten at a time (up to
--max-replications) until every headline KPI's mean at every level has a 95 % half-width within
that share of the mean; the page states n and the rule. The page of the docs comes from one
run: --precision 0.05 --horizons 28d:30,1y:10 --jobs 2 (about 45 min on 2 shared cores).
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path

from factory_cli.durations import duration_option
from factory_cli.experiment_output import (
    HEADLINE_PATHS,
    headline_rows,
    shown,
    significance_mark,
)
from factory_cli.kpi_table import KPI_ROWS, KpiRow, span
from factory_cli.simulation import Job, run_replications
from factory_sim.attribution import ablations, attribute_reports
from factory_sim.experiments import Interval, paired_differences, replication_seeds, summarise
from factory_sim.mechanisms import SOURCES
from factory_sim.scenario import load_scenario
from factory_sim.shipped import shipped_scenarios_dir

ROOT = Path(__file__).resolve().parents[1]

LEVELS = ("standalone", "vendor", "opcua", "unified")
# Lower is better for these; higher for the other headline KPIs.
OUTAGE_ROW = next(row for row in KPI_ROWS if row.plant == "network_outage_s")
MIN_SEQUENTIAL = 30  # the sequential rule never stops below this many replications
LOWER_IS_BETTER = {"lead_time_s.mean", "repairs.mttr_s", "energy_per_good_part_kwh"}


def _text(row: KpiRow, iv: Interval | None, signed: bool = False) -> str:
    if iv is None or iv.mean is None:
        return "–"
    sign = "+" if signed else ""
    text = f"{shown(row, iv.mean):{sign},.{row.digits}f}"
    if iv.half_width is not None:
        text += f" ± {abs(shown(row, iv.half_width)):,.{row.digits}f}"
    return text + (significance_mark(row, iv) if signed else "")


def relative_half_width(iv: Interval | None) -> float:
    if iv is None or not iv.mean or iv.half_width is None:
        return 0.0
    return abs(iv.half_width / iv.mean)


def widest(rows: list[KpiRow], summaries: list[dict]) -> float:
    """The largest relative 95 % half-width of any headline KPI's mean at any level."""
    return max(relative_half_width(s.get(row.plant)) for row in rows for s in summaries)


def precision_rule(n: int, precision: float | None, max_replications: int,
                   reached: float) -> str:
    """What decided n, said on the page (docs/reference/statistics.md)."""
    if precision is None:
        return (f"n = {n}, fixed in advance (no sequential rule); the widest relative "
                f"half-width of a headline KPI's mean is {reached:.1%}.")
    rule = (f"n = {n} by the sequential rule: at least {MIN_SEQUENTIAL} paired replications, "
            f"then ten more at a time until every headline KPI's mean at every level has a "
            f"95 % half-width within {precision:.0%} of the mean (at most {max_replications}). ")
    if reached <= precision:
        return rule + f"Reached: the widest is {reached:.1%}."
    return rule + (f"**Not reached**: the cap stopped it with the widest at {reached:.1%} "
                   f"(the table's last column shows which KPI).")


def beyond_noise(row: KpiRow, iv: Interval | None) -> bool:
    """A difference whose interval excludes 0 and that does not round to zero as shown."""
    return (iv is not None and iv.mean is not None and iv.excludes_zero
            and round(shown(row, iv.mean), row.digits) != 0)


def is_worse(row: KpiRow, iv: Interval) -> bool:
    return iv.mean > 0 if row.plant in LOWER_IS_BETTER else iv.mean < 0


def _effect(row: KpiRow, iv: Interval) -> str:
    """"Lead time, mean -3.3 ± 0.5 h *": a KPI's difference in words."""
    unit = "pp" if row.unit == "%" else row.unit
    text = _text(row, iv, signed=True)
    value, star = text.removesuffix(" *"), text.endswith(" *")
    return f"{row.label} {value}{' ' + unit if unit else ''}{' *' if star else ''}"


def step_reading(before: str, after: str, rows: list[KpiRow], step: dict,
                 terms: dict | None, attributed: list[int]) -> list[str]:
    """What a step does, in words, as measured: each headline KPI it moves beyond the noise
    (better or worse), the mechanisms that move it (any direction), and what it leaves alone.
    Generated from the same intervals as the tables, so it says whatever they show."""
    moved = [row for row in rows if beyond_noise(row, step.get(row.plant))]
    still = [row.label for row in rows if row not in moved]
    text = f"- **{before} → {after}**: "
    text += ("; ".join(_effect(row, step[row.plant]) + (" (worse)" if is_worse(
        row, step[row.plant]) else "") for row in moved) if moved
        else "no headline KPI moves beyond the noise")
    if still:
        text += f". Within the noise (or rounding to zero): {'; '.join(still)}"
    lines = [text + "."]
    if terms is None:
        return lines
    seeds = f"seeds {attributed[0]}–{attributed[-1]}"
    mechanisms = list(next(iter(terms.values())).contributions)
    quiet = set(mechanisms)
    for row in rows:
        parts = []
        for mechanism in mechanisms:
            iv = terms[row.plant].contributions[mechanism]
            if beyond_noise(row, iv):
                quiet.discard(mechanism)
                effect = _effect(row, iv).removeprefix(row.label + " ")
                parts.append((abs(iv.mean), f"{mechanism} {effect}"
                              + (" (worse)" if is_worse(row, iv) else "")))
        rest = terms[row.plant].interaction
        if beyond_noise(row, rest):
            parts.append((abs(rest.mean), "interaction rest "
                          + _effect(row, rest).removeprefix(row.label + " ")))
        if parts:
            lines.append(f"    - {row.label}, by mechanism ({seeds}): "
                         + ", ".join(p for _, p in sorted(parts, reverse=True)) + ".")
    if quiet:
        lines.append(f"    - No headline KPI beyond the noise ({seeds}): "
                     + ", ".join(m for m in mechanisms if m in quiet) + ".")
    return lines


def run(scenarios: list, seeds: list[int], duration: float, workers: int | None) -> list:
    jobs = [Job(s, seed, duration) for s in scenarios for seed in seeds]
    results = run_replications(jobs, workers)
    n = len(seeds)
    return [[r["plant"] for r in results[i * n:(i + 1) * n]] for i in range(len(scenarios))]


def horizon_section(duration: float, replications: int, precision: float | None,
                    max_replications: int, workers: int | None,
                    attributed: int | None = None) -> list[str]:
    levels = [load_scenario(shipped_scenarios_dir() / f"reference-{lv}.yaml") for lv in LEVELS]
    steps = [(a, b, ablations(a, b)) for a, b in pairwise(levels)]
    rows = headline_rows(list(HEADLINE_PATHS))
    if precision is not None:
        replications = max(replications, MIN_SEQUENTIAL)
    seeds = replication_seeds(1, replications)
    plants = run(levels, seeds, duration, workers)
    while precision is not None and len(seeds) < max_replications:
        if widest(rows, [summarise(p) for p in plants]) <= precision:
            break
        more = replication_seeds(1 + len(seeds), min(10, max_replications - len(seeds)))
        seeds += more
        for runs, extra in zip(plants, run(levels, more, duration, workers), strict=True):
            runs.extend(extra)
    # The attribution costs a run per mechanism and seed: on a long horizon it may use only
    # the first `attributed` seeds (said on the page).
    few = seeds[:attributed] if attributed is not None else seeds
    ablated = [{m: runs for m, runs in zip(found, run(list(found.values()), few, duration,
                                                          workers), strict=True)}
               for _, _, found in steps] if few else []
    summaries = [summarise(p) for p in plants]
    lines = [f"## {span(duration)}, {len(seeds)} paired replications (seeds "
             f"{seeds[0]}–{seeds[-1]})", "", precision_rule(
                 len(seeds), precision, max_replications, widest(rows, summaries)), ""]
    lines += ["### The levels (mean ± 95 % CI)", "",
              "| KPI | " + " | ".join(LEVELS) + " | relative half-width |",
              "|---|" + "---:|" * (len(LEVELS) + 1)]
    for row in rows:
        worst = max(relative_half_width(s.get(row.plant)) for s in summaries)
        lines.append(f"| {row.heading} | " + " | ".join(
            _text(row, s.get(row.plant)) for s in summaries) + f" | ≤ {worst:.1%} |")
    outage = [s.get("network_outage_s") for s in summaries]
    lines += ["", "Network outage per run, mean ± 95 % CI [h] (connectivity's own failure mode; "
              "connected cells run as stand-alone meanwhile): " + ", ".join(
                  f"{level} {_text(OUTAGE_ROW, iv)}" for level, iv in zip(LEVELS, outage,
                                                                          strict=True)) + "."]
    lines += ["", "### Each step (paired difference, mean ± 95 % CI; * beyond the noise and "
              "the practical threshold)", "",
              "| KPI | " + " | ".join(f"{a} → {b}" for a, b in pairwise(LEVELS)) + " |",
              "|---|" + "---:|" * (len(LEVELS) - 1)]
    diffs = [paired_differences(a, b) for a, b in pairwise(plants)]
    worse = []
    for row in rows:
        lines.append(f"| {row.heading} | " + " | ".join(
            _text(row, d.get(row.plant), signed=True) for d in diffs) + " |")
        for (a, b), d in zip(pairwise(LEVELS), diffs, strict=True):
            iv = d.get(row.plant)
            if beyond_noise(row, iv) and is_worse(row, iv):
                worse.append(f"{a} → {b}: {row.heading} {_text(row, iv, signed=True)}")
    lines += ["", "**Where a step makes a headline KPI worse beyond the noise** (interval "
              "excludes 0, not rounding to zero as shown, any size)**:** "
              + ("; ".join(worse) if worse else "nowhere at this horizon.") + "", ""]
    n = len(few)
    attributions = [attribute_reports(level_before[:n], level_after[:n], runs,
                                      list(HEADLINE_PATHS))
                    for runs, level_before, level_after in zip(
                        ablated, plants[:-1], plants[1:], strict=False)]
    lines += [f"### What each step does ({len(seeds)} replications; its mechanisms over "
              + (f"seeds {few[0]}–{few[-1]})" if few else "none: not attributed here)"), "",
              "Each headline KPI the step moves beyond the noise, better or worse (* also "
              "beyond the practical threshold), then, KPI by KPI, every mechanism that moves "
              "it beyond the noise in either direction, largest first, and the interaction "
              "rest when it does too. Written by the script from the tables below.", ""]
    for (a, b), d, terms in zip(pairwise(LEVELS), diffs,
                                attributions + [None] * len(diffs), strict=False):
        lines += step_reading(a, b, rows, d, terms, few)
    lines.append("")
    if not few:
        lines += ["The attribution of each step to its mechanisms is given at the other "
                  "horizon only (it costs a run per mechanism and seed).", ""]
    elif len(few) < len(seeds):
        lines += [f"The attribution tables below use the first {len(few)} of these paired "
                  f"replications (seeds {few[0]}–{few[-1]}): each costs a run per mechanism "
                  f"and seed. Their step row is the step over those {len(few)}.", ""]
    for (before, after, found), terms in zip(steps, attributions, strict=False):
        lines += [f"### Attribution of {before.name} → {after.name}", "",
                  "| mechanism | " + " | ".join(r.heading for r in rows) + " |",
                  "|---|" + "---:|" * len(rows)]
        for mechanism in found:
            lines.append(f"| {mechanism} | " + " | ".join(
                _text(r, terms[r.plant].contributions[mechanism], signed=True)
                for r in rows) + " |")
        lines.append("| interaction rest | " + " | ".join(
            _text(r, terms[r.plant].interaction, signed=True) for r in rows) + " |")
        lines.append("| **the step** | " + " | ".join(
            _text(r, terms[r.plant].step, signed=True) for r in rows) + " |")
        lines.append("")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replications", type=int, default=10)
    parser.add_argument("--horizons", default="28d,1y", help="comma-separated; HORIZON:N "
                        "attributes on the first N replications only (0: no attribution)")
    parser.add_argument("--precision", type=float)
    parser.add_argument("--max-replications", type=int, default=60)
    parser.add_argument("--jobs", type=int)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "students" / "lesson.md")
    args = parser.parse_args(argv)
    horizons = []
    for item in args.horizons.split(","):
        horizon, _, attributed = item.partition(":")
        if attributed and not attributed.isdigit():
            parser.error(f"--horizons: expected HORIZON or HORIZON:N, got {item!r}")
        horizons.append((duration_option(horizon, "--horizons"),
                         int(attributed) if attributed else None))
    lines = ["# The lesson, measured", "",
             "Generated by `scripts/lesson_tables.py` from the code on "
             f"{datetime.now(UTC):%Y-%m-%d} (do not edit by hand: run the script). "
             "Every figure is a paired comparison on common random numbers; a star needs "
             "the interval to exclude 0, the difference not to round to zero and to pass "
             "the KPI's practical threshold (docs/reference/statistics.md). The stars are "
             "only on the headline KPIs named in advance; no other correction for multiple "
             "comparisons is made.", "",
             "The plant as modelled (docs/reference/mechanisms.md): a scrapped part is made "
             "again from the first cell of its routing and the order ships in full after it; "
             "due dates are quoted in working time; the network, OPC UA server or MES of a "
             "connected plant is down 6 times a year for 2 h on average (a teaching estimate), "
             "and its cells then work as the stand-alone shop does.", "",
             "What each mechanism's default rests on:", ""]
    lines += [f"- **{m}**: {text}" for m, text in SOURCES.items()]
    lines.append("")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    for duration, attributed in horizons:  # the page so far after each (a long run shows)
        lines += horizon_section(duration, args.replications, args.precision,
                                 args.max_replications, args.jobs, attributed)
        args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
        print(f"wrote {args.out} up to {span(duration)}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
