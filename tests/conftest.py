"""Shared fixtures: a data root in tmp_path, a real broker process, a plant, the project's
tools. The helpers behind them live in ``plant.py``: import them from there."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bus import keys

# Re-exported for the modules that still import them from here (tests/bus, bench/).
from plant import BrokerProcess, Plant, TestKeys, free_port_pair


@pytest.fixture(scope="session", autouse=True)
def bus_keys(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestKeys]:
    """One key folder for the session's brokers, services and clients (HOMELAB_KEYS), in
    use before any fixture of a wider scope than a test starts a broker or a client."""
    folder = tmp_path_factory.mktemp("bus-keys") / "keys"
    found = os.environ.get("HOMELAB_KEYS")
    os.environ["HOMELAB_KEYS"] = str(folder)
    test_keys = TestKeys(folder)
    keys.use(test_keys)
    yield test_keys
    keys.use(None)
    if found is None:
        os.environ.pop("HOMELAB_KEYS", None)
    else:
        os.environ["HOMELAB_KEYS"] = found


@pytest.fixture(autouse=True)
def _speak_with_test_keys(bus_keys: TestKeys) -> Iterator[None]:
    """Every test's clients connect with the role their source speaks for (CURVE is on);
    set again for each test, since a CLI command run in-process picks its own."""
    keys.use(bus_keys)
    yield
    keys.use(bus_keys)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    path = tmp_path / "root"
    path.mkdir()
    return path


@pytest.fixture
def broker(root: Path) -> Iterator[BrokerProcess]:
    process = BrokerProcess(root, free_port_pair(), "--stats-interval", "0.5").start()
    yield process
    process.stop()


@pytest.fixture
def own_keys(tmp_path: Path) -> TestKeys:
    """A key folder of this test's own (its allowlist changed at will)."""
    return TestKeys(tmp_path / "keys")


@pytest.fixture
def guarded(root: Path, own_keys: TestKeys) -> Iterator[BrokerProcess]:
    """A broker on ``own_keys``' folder, CURVE on, a bus.stats every 0.2 s."""
    env = {"HOMELAB_KEYS": str(own_keys.folder)}
    args = ("--stats-interval", "0.2")
    process = BrokerProcess(root, free_port_pair(), *args, env=env, curve=own_keys).start()
    yield process
    process.stop()


@pytest.fixture
def plant(tmp_path: Path) -> Iterator[Plant]:
    """Every service ``homelab up`` starts but the UI, on one stand-in service ``svc`` that
    should run and does not."""
    with Plant(tmp_path) as started:
        yield started


@pytest.fixture
def tool() -> Callable[[str], str]:
    """Where a tool the project's checks run is installed (CI fails without it)."""

    def find(name: str) -> str:
        found = shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))
        if found is None:
            if os.environ.get("CI"):
                pytest.fail(f"{name} is not installed; .ci/run must install it")
            pytest.skip(f"{name} not installed")
        return found

    return find
