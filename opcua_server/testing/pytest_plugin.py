"""pytest plugin (entry point `factory_sim` in the `pytest11` group): the `factory_plant`
fixture, a running plant for each test, configured by the `factory_plant` marker:

    @pytest.mark.factory_plant("reference-opcua", seed=7, users={"otto": "operator"})
    def test_my_client_sees_four_machines(factory_plant):
        client = MyClient(factory_plant.endpoint, "otto", factory_plant.passwords["otto"])
        factory_plant.step(3600)
        ...

The plant runs in a thread of its own (`opcua_server.testing.PlantThread`), so the fixture
serves synchronous tests and asyncio tests alike, with any client stack; it starts paused on
a free port and is stopped when the test ends. The marker takes `running_plant`'s arguments.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "factory_plant(scenario='reference-opcua', **options): the plant the "
        "factory_plant fixture starts (options: opcua_server.testing.running_plant's)")


@pytest.fixture
def factory_plant(request: pytest.FixtureRequest) -> Iterator:
    from opcua_server.testing import PlantThread

    marker = request.node.get_closest_marker("factory_plant")
    args, kwargs = (marker.args, marker.kwargs) if marker is not None else ((), {})
    with PlantThread(*args, **kwargs) as plant:
        yield plant
