"""Root conftest: makes the real test services (tests/services.py) available to every test."""

pytest_plugins = ["tests.services"]
