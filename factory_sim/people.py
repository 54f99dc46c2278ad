"""The people a cell cannot do without: skilled operators and the repair crew."""

from __future__ import annotations

import simpy


class OperatorPool:
    """Operators with skills; a cell can be set up only by an operator skilled for it.

    >>> env = simpy.Environment()
    >>> pool = OperatorPool(env, {"anna": ["laser"], "ben": ["press-brake", "laser"]})
    >>> def setup(env):
    ...     operator = yield pool.request("press-brake")
    ...     print(operator, "sets up the press brake at", env.now)
    ...     pool.release(operator)
    >>> _ = env.process(setup(env)); env.run()
    ben sets up the press brake at 0
    """

    def __init__(self, env: simpy.Environment, skills: dict[str, list[str]]):
        self._store = simpy.FilterStore(env, capacity=len(skills))
        self.skills = {name: frozenset(cells) for name, cells in skills.items()}
        for name in skills:
            self._store.put(name)

    def request(self, cell: str):
        """An event that yields the name of a free operator skilled for `cell`."""
        skills = self.skills
        return self._store.get(lambda name: cell in skills[name])

    def release(self, operator: str) -> None:
        self._store.put(operator)


class RepairCrew(simpy.Resource):
    """Maintenance technicians: a failed cell waits for a free one (the response time)."""
