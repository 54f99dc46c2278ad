"""Attribution: which mechanism gives how much of a connectivity step, on paired seeds.

A step from scenario `before` to scenario `after` (e.g. stand-alone -> OPC UA) changes some
of each cell's switches (`factory_sim.mechanisms`). The one-at-a-time ablation runs `before`
with a single mechanism set as in `after`, for each mechanism that differs; a mechanism's
contribution to a KPI is that run's paired difference against `before`. What the
contributions do not explain (the mechanisms reinforcing or cancelling each other, and
anything of the step that is no switch) is the interaction rest:

    step = KPI(after) - KPI(before) = sum of contributions + interaction

taken replication by replication, so that each term gets its own 95 % interval and the terms'
means add up to the step's mean exactly.

>>> terms = attribute([10.0, 12.0], [6.0, 7.0], {"a": [8.0, 9.0], "b": [9.0, 11.0]})
>>> terms.step.mean, terms.contributions["a"].mean, terms.contributions["b"].mean
(-4.5, -2.5, -1.0)
>>> terms.interaction.mean
-1.0
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from factory_sim.experiments import Interval, figures, interval
from factory_sim.mechanisms import MECHANISMS, Mechanisms, cell_mechanisms
from factory_sim.scenario import MechanismsSpec, Scenario


def resolved(scenario: Scenario) -> dict[str, Mechanisms]:
    """Every cell's switches in `scenario`, by cell name."""
    return {cell.name: cell_mechanisms(scenario.level_of(cell), cell.mapped,
                                       scenario.mechanisms, cell.mechanisms)
            for cell in scenario.cells}


def with_mechanisms(scenario: Scenario, cells: Mapping[str, Mechanisms],
                    name: str) -> Scenario:
    """`scenario` with every cell's switches set explicitly to `cells[cell name]`."""
    new_cells = [cell.model_copy(update={"mechanisms": MechanismsSpec(
        **{m: getattr(cells[cell.name], m) for m in MECHANISMS})}) for cell in scenario.cells]
    return scenario.model_copy(update={"cells": new_cells, "name": name})


def ablations(before: Scenario, after: Scenario) -> dict[str, Scenario]:
    """`before` with one mechanism at a time as in `after`: {mechanism: scenario}, for each
    mechanism that differs on at least one cell, in the order of `MECHANISMS`."""
    old, new = resolved(before), resolved(after)
    if set(old) != set(new):
        raise ValueError(f"{before.name} and {after.name}: expected the same cells to attribute "
                         f"a step, got {sorted(old)} and {sorted(new)}")
    found = {}
    for mechanism in MECHANISMS:
        if all(getattr(old[c], mechanism) == getattr(new[c], mechanism) for c in old):
            continue
        cells = {c: old[c].overridden(MechanismsSpec(**{mechanism: getattr(new[c], mechanism)}))
                 for c in old}
        found[mechanism] = with_mechanisms(before, cells, f"{before.name}+{mechanism}")
    return found


@dataclass(frozen=True)
class Attribution:
    """One KPI's step split into contributions per mechanism and the interaction rest."""

    step: Interval
    contributions: dict[str, Interval]
    interaction: Interval

    def as_dict(self) -> dict:
        return {"step": self.step.as_dict(),
                "contributions": {m: iv.as_dict() for m, iv in self.contributions.items()},
                "interaction": self.interaction.as_dict()}


def attribute(before: Sequence[float | None], after: Sequence[float | None],
              ablated: Mapping[str, Sequence[float | None]]) -> Attribution:
    """One KPI's values per replication in `before`, `after` and each ablation run.

    Replications where any of the runs leaves the KPI undefined are left out of every term,
    so that the terms always add up to the step."""
    columns = [before, after, *ablated.values()]
    if len({len(c) for c in columns}) != 1:
        raise ValueError("expected the same number of replications in every run")
    complete = [i for i in range(len(before)) if all(c[i] is not None for c in columns)]
    step = [after[i] - before[i] for i in complete]
    contributions = {m: [values[i] - before[i] for i in complete]
                     for m, values in ablated.items()}
    rest = [step[k] - sum(c[k] for c in contributions.values()) for k in range(len(complete))]
    return Attribution(interval(step), {m: interval(c) for m, c in contributions.items()},
                       interval(rest))


def attribute_reports(before: Sequence[Mapping], after: Sequence[Mapping],
                      ablated: Mapping[str, Sequence[Mapping]],
                      paths: Sequence[str] | None = None) -> dict[str, Attribution]:
    """`attribute` for every figure (or those at `paths`) of the plant report sections."""
    flat_before = [figures(r) for r in before]
    flat_after = [figures(r) for r in after]
    flat_ablated = {m: [figures(r) for r in runs] for m, runs in ablated.items()}
    wanted = paths if paths is not None else list(flat_before[0]) if flat_before else []
    return {path: attribute([f.get(path) for f in flat_before], [f.get(path) for f in flat_after],
                            {m: [f.get(path) for f in runs] for m, runs in flat_ablated.items()})
            for path in wanted}
