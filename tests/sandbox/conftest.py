"""Fixtures of the sandbox's tests (helpers to import are in ``sandbox_helpers``)."""

from __future__ import annotations

import pytest
from sandbox_helpers import ALL_LAYERS, ROOT

from autograder.sandbox import Layers


@pytest.fixture(scope="session")
def every_layer() -> Layers:
    """This host's layers: on Linux as root, all of them (the tests say so rather than skip)."""
    if ROOT:
        assert ALL_LAYERS.used() == ["namespaces", "own uid", f"landlock (ABI {ALL_LAYERS.landlock_abi})",
                                     "seccomp", "cgroup", "rlimits"], ALL_LAYERS.summary()
    return ALL_LAYERS
