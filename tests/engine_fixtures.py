"""Container engines for the image tests: reachable ones only, and nothing of the tests' left behind.

Locally a test skips, with the reason, when its engine or the test image is missing; under CI it
fails instead (`bash .ci/run` installs and starts the engines and builds the image).
"""

from __future__ import annotations

import os

import pytest
from support import IN_CI

from jupyter_shimtask.runners import warm
from jupyter_shimtask.runners.engines import Engine, EngineError, find_engine

TEST_IMAGE = os.environ.get("SHIMTASK_TEST_IMAGE", "shimtask-runtime:test")
ENGINE_NAMES = ("docker", "podman")
_ready: dict[str, Engine | str] = {}


def ready_engine(name: str) -> Engine:
    """The engine, checked once per test run: reachable, with the test image and its pyflyte-execute."""
    if name not in _ready:
        try:
            engine = find_engine(name)
            engine.preflight(TEST_IMAGE)
            _ready[name] = engine
        except EngineError as error:
            _ready[name] = f"{name}: {error}"
    found = _ready[name]
    if isinstance(found, Engine):
        return found
    if IN_CI:
        pytest.fail(f"{found} (CI must run the image tests: .ci/engine.sh sets them up)")
    pytest.skip(f"{found} (bash .ci/run sets up the engines and the test image)")


@pytest.fixture(name="engine", params=ENGINE_NAMES)
def engine_fixture(request: pytest.FixtureRequest) -> Engine:
    """Each engine in turn."""
    return ready_engine(request.param)


@pytest.fixture(name="docker")
def docker_fixture() -> Engine:
    return ready_engine("docker")


@pytest.fixture(autouse=True)
def no_containers_left() -> None:
    """After every test, once this process's warm containers are stopped as at kernel exit: no container
    made by jupyter-shimtask exists, running or stopped."""
    yield
    warm.warm_pool().stop_all()
    for name, found in _ready.items():
        if isinstance(found, Engine):
            assert found.containers() == [], f"{name} containers left behind"
