"""Fixtures for the dataset registry tests: an isolated registry and a private cache."""

import pytest

from nbmodels.data import registry


@pytest.fixture
def isolated_registry(monkeypatch):
    """A copy of the registry, so a test may register names without leaking them."""
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    """NBMODELS_DATA_DIR pointed at an empty temporary folder."""
    path = tmp_path / "cache"
    monkeypatch.setenv("NBMODELS_DATA_DIR", str(path))
    return path
