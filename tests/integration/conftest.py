"""Integration tests build real containers: they run only when asked for (`pytest -m lab`)."""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip lab tests unless the marker expression selects them: a plain `pytest` must not
    spend minutes building a lab on the shared engine."""
    if "lab" in (config.option.markexpr or ""):
        return
    skip = pytest.mark.skip(reason="needs the container lab: run `pytest -m lab`")
    for item in items:
        if "lab" in item.keywords:
            item.add_marker(skip)
