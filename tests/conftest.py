"""Shared fixtures."""
import pytest

from ntm_bench import registry


@pytest.fixture
def restore_registry():
    """Tests that load plugins or register throwaway names leave the registry as they found it."""
    snap = registry.reset_for_tests()
    yield
    registry.reset_for_tests(snap)
