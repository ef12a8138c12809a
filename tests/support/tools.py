"""System tools some tests drive for real (installed by scripts/install-system-packages.sh)."""

from __future__ import annotations

import shutil

import pytest

from tests.conftest import IN_CI


def require_tool(name: str) -> str:
    """The tool's path; missing, the test fails in CI and is skipped (with the reason) elsewhere."""
    path = shutil.which(name)
    if path is None:
        message = f"{name} not found: run scripts/install-system-packages.sh"
        if IN_CI:
            pytest.fail(message + " (required in CI)")
        pytest.skip(message)
    return path
