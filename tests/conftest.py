"""Fixtures shared by the host-side tests."""

import itertools
import os

import pytest

# The tests read what hemlas says in English (the catalogue's msgids), so they test content
# rather than a translation; this process and every subprocess it starts inherit it.
# tests/test_messages.py proves the Swedish default by setting the language itself.
os.environ["HEMLAS_LANG"] = "en"
# Not logged in to a fleet service, whatever the machine's user is (hemlas login): every field
# command works on the local store; the field clients' tests log in to a service of their own.
os.environ["HEMLAS_LOGIN"] = os.path.join(os.path.dirname(__file__), ".no-login", "service.json")

from hemlas.sim import VirtualBoard


def pytest_configure(config):
    # The bench's own marker (hil_tests/conftest.py registers it too): tests that import the
    # bench suite's checks (tests/test_ticks_wrap.py) meet it without that conftest.
    config.addinivalue_line("markers", "human: needs the technician (or the simulated hands) at the bench")


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
    with FleetStore(create=True) as store:
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


# ---- PostgreSQL: the fleet store's other backend ---------------------------------------------

POSTGRES_URL_ENV = "HEMLAS_TEST_POSTGRES_URL"  # a server to use (a database the tests may fill)
_DATABASE_NUMBERS = itertools.count()


@pytest.fixture(scope="session")
def postgres_server():
    """A PostgreSQL server for the fleet store's tests: HEMLAS_TEST_POSTGRES_URL's, or a
    throwaway cluster (initdb, pg_ctl) on a Unix socket; skipped, saying why, without one."""
    import os
    import pwd
    import shutil
    import subprocess
    import tempfile
    from pathlib import Path

    try:
        import psycopg  # noqa: F401  (the driver SQLAlchemy's postgresql+psycopg URL loads)
    except ImportError:
        pytest.skip("PostgreSQL tests need the psycopg driver (pip install 'psycopg[binary]')")
    if os.environ.get(POSTGRES_URL_ENV):
        yield os.environ[POSTGRES_URL_ENV]
        return
    initdb, pg_ctl = shutil.which("initdb"), shutil.which("pg_ctl")
    if not (initdb and pg_ctl):
        pytest.skip(f"no PostgreSQL server: set {POSTGRES_URL_ENV} or install PostgreSQL (initdb, pg_ctl)")
    # Its own directory in the system's temp dir: pytest's is private to this user.
    base = Path(tempfile.mkdtemp(prefix="hemlas-pg-"))
    run_as: list[str] = []
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root: as its own user, where there is one
        try:
            user = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("PostgreSQL will not run as root and there is no 'postgres' user to run it as")
        run_as = ["runuser", "-u", "postgres", "--"]
        os.chown(base, user.pw_uid, user.pw_gid)
    data, socket_dir = base / "data", base
    subprocess.run(run_as + [initdb, "-D", str(data), "-U", "hemlas", "--auth=trust", "-E", "UTF8"],
                   check=True, capture_output=True)
    subprocess.run(run_as + [pg_ctl, "-D", str(data), "-w", "-l", str(base / "server.log"), "-o",
                             f"-k {socket_dir} -c listen_addresses=''", "start"], check=True, capture_output=True)
    try:
        yield f"postgresql+psycopg://hemlas@/postgres?host={socket_dir}"
    finally:
        subprocess.run(run_as + [pg_ctl, "-D", str(data), "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path):
    """A fleet store's URL, once per backend: each test that takes it runs on SQLite and on
    PostgreSQL (skipped, saying why, without a server: postgres_server)."""
    if request.param == "sqlite":
        return str(tmp_path / "fleet.sqlite3")
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def postgres_url(postgres_server):
    """A new, empty database on the PostgreSQL server, for one test."""
    import os

    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"hemlas_test_{os.getpid()}_{next(_DATABASE_NUMBERS)}"
    server = make_url(postgres_server)
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    yield server.set(database=name).render_as_string(hide_password=False)
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()
