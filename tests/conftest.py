"""Shared fixtures: paths to the real data sets, temporary databases, policies."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "data"
POLICIES = ROOT / "policies"


@pytest.fixture
def shared_data() -> Path:
    """The folder of real public data sets; skips the test when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data sets not found at {SHARED_DATA}")
    return SHARED_DATA
