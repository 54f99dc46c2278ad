"""What `compare --attribute` shows and writes: each step split into its mechanisms.

Per step (a pair of scenarios, as the paired differences pair them), every plant figure's
attribution goes into compare.json; the terminal table shows the headline KPIs, one row per
mechanism, the interaction rest and the step itself (mean ± 95 % CI, paired).
"""

from __future__ import annotations

from collections.abc import Sequence

from factory_cli.experiment_output import (
    HEADLINE_PATHS,
    headline_rows,
    shown,
    significance_mark,
)
from factory_cli.kpi_table import KpiRow
from factory_sim.attribution import ablations, attribute_reports
from factory_sim.experiments import Interval
from factory_sim.mechanisms import SOURCES
from factory_sim.scenario import Scenario


def ablation_plan(steps: Sequence[tuple[int, int]],
                  scenarios: Sequence[Scenario]) -> list[tuple[int, int, dict[str, Scenario]]]:
    """(before index, after index, {mechanism: ablation scenario}) of every step."""
    plan = []
    for before, after in steps:
        try:
            found = ablations(scenarios[before], scenarios[after])
        except ValueError as exc:
            from factory_cli.errors import CliError

            raise CliError(f"--attribute: {exc}") from None
        plan.append((before, after, found))
    return plan


def attribution_data(names: Sequence[str], plan, plants: Sequence[Sequence[dict]],
                     ablated: Sequence[dict[str, Sequence[dict]]]) -> list[dict]:
    """compare.json's `attribution`: per step, every figure's step, contributions and rest.

    `plants[i]`: scenario i's plant sections per replication; `ablated[k]`: step k's ablation
    runs' plant sections per mechanism."""
    steps = []
    for (before, after, found), runs in zip(plan, ablated, strict=True):
        terms = attribute_reports(plants[before], plants[after], runs)
        steps.append({"before": names[before], "after": names[after],
                      "mechanisms": list(found),
                      "sources": {m: SOURCES[m] for m in found},
                      "figures": {path: t.as_dict() for path, t in terms.items()}})
    return steps


def _cell(row: KpiRow, found: dict) -> str:
    iv = Interval(found["mean"], found["half_width"], found["n"])
    if iv.mean is None:
        return "–"
    text = f"{shown(row, iv.mean):+,.{row.digits}f}"
    if iv.half_width is not None:
        text += f" ± {shown(row, iv.half_width):,.{row.digits}f}"
    return text + significance_mark(row, iv)


def attribution_tables(steps: list[dict], replications: int):
    """One rich table per step: mechanisms × headline KPIs."""
    from rich.table import Table
    from rich.text import Text

    for step in steps:
        figures = step["figures"]
        rows = headline_rows([p for p in HEADLINE_PATHS if p in figures])
        table = Table(title=f"{step['before']} → {step['after']}: contribution of each "
                      f"mechanism switched alone (paired, {replications} replications, "
                      "mean ± 95 % CI; * beyond the noise)", title_justify="left")
        table.add_column("mechanism", no_wrap=True)
        for row in rows:
            table.add_column(Text(row.heading), justify="right", no_wrap=True)
        for mechanism in step["mechanisms"]:
            table.add_row(mechanism, *(_cell(row, figures[row.plant]["contributions"][mechanism])
                                       for row in rows))
        table.add_row("interaction rest", *(_cell(row, figures[row.plant]["interaction"])
                                            for row in rows))
        table.add_row(Text("the step", style="bold"),
                      *(_cell(row, figures[row.plant]["step"]) for row in rows))
        yield table
