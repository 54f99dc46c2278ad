"""Root conftest: makes the real test services (tests/services.py, and the clustered broker of
tests/cluster_brokers.py) available to every test."""

pytest_plugins = ["tests.services", "tests.cluster_brokers"]

# The files that take minutes (builds, whole pages of commands, processes under faults) go
# first: pytest-xdist hands out files in collection order (`--dist loadfile`), so one of them
# started last would keep a single worker busy long after the others have finished.
LONGEST_FIRST = (
    "tests/docs/test_doc_commands.py",
    "tests/install/test_wheel.py",
    "tests/container/test_image.py",
    "tests/opcua/test_testing_fixture.py",
    "tests/bridge/test_bridge_faults.py",
    "tests/bridge/test_backfill_across_server_restart.py",
    "tests/stack/test_dashboards.py",
    "tests/demo/test_dashboard_access.py",
)


def pytest_collection_modifyitems(items):
    rank = {path: index for index, path in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::", 1)[0], len(rank)))
