"""Shared fixtures."""
import pytest

from ntm_bench import registry


@pytest.fixture
def restore_registry():
    """A test that loads plugins or registers throwaway names starts from the built-ins alone (not
    the plugins an earlier test left loaded) and leaves the registry as it found it."""
    snap = registry.reset_for_tests()
    registry.reset_for_tests(tuple({k: e for k, e in table.items() if e.plugin is None} for table in snap))
    yield
    registry.reset_for_tests(snap)
