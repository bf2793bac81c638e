"""Fixtures shared by the host-side tests."""

import pytest

from hemlas.sim import VirtualBoard


@pytest.fixture
def boot_board(tmp_path):
    """Factory: boot a virtual board (by name) on a flash directory under tmp_path."""
    boards = []

    def boot(name="virtual", battery=None, bolt=None, flash=None, **kwargs):
        vb = VirtualBoard(name, flash_dir=flash or tmp_path / f"flash-{name}-{len(boards)}", **kwargs)
        boards.append(vb)
        if bolt is not None:
            vb.set_bolt(bolt)
        if battery is not None:
            vb.set_battery(battery)
        vb.start()
        return vb

    yield boot
    for vb in boards:
        vb.close()
        assert vb.crashed is None, f"the firmware crashed:\n{vb.crashed}"


@pytest.fixture
def fleet(tmp_path, monkeypatch):
    """A fleet store and a key file of this test's own (also what the CLI and clients use)."""
    from hemlas.fleet.store import FleetStore
    from hemlas.keyfile import KeyFile

    monkeypatch.setenv("HEMLAS_STORE", str(tmp_path / "fleet.sqlite3"))
    monkeypatch.setenv("HEMLAS_KEYS", str(tmp_path / "keys.json"))
    with FleetStore() as store:
        store.keyfile = KeyFile()
        yield store


@pytest.fixture
def radio(monkeypatch):
    """A virtual radio, configured as this test's (and its subprocesses') radio."""
    from hemlas.radio.config import ENV_VAR
    from hemlas.sim import VirtualRadio

    with VirtualRadio() as radio:
        monkeypatch.setenv(ENV_VAR, radio.spec)
        yield radio
