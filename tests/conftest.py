from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pytest
from hypothesis import settings

# Property-based tests draw the same examples on every run and every machine (CI included):
# a failure is then a fact about the change, not about the draw.
settings.register_profile("respmon", derandomize=True)
settings.load_profile("respmon")

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


def shared_data(*parts: str) -> Path:
    """A file of ../shared/data, or skip the test saying why."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"evaluation data not found: {path} (it lives in ../shared/data beside the repo)")
    return path


@contextlib.contextmanager
def _captured():
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        yield out, err


def run_cli(*argv: str) -> tuple[int, str, str]:
    """Run `respmon ARGV` in-process; returns (exit status, stdout, stderr)."""
    from respmon.cli import main

    with _captured() as (out, err):
        try:
            code = main([str(a) for a in argv])
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="session")
def pg_server():
    """A throwaway PostgreSQL cluster for the whole run (tests/pg_server.py), or skip saying why."""
    from tests.pg_server import server_fixture

    yield from server_fixture()


@pytest.fixture(params=["sqlite", "postgres"])
def journal_url(request, tmp_path):
    """The URL of a new, empty station journal database: a SQLite file, a PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'journal.db'}"
    return request.getfixturevalue("pg_server").create_database()


def free_ports(count: int) -> int:
    """The first of `count` consecutive loopback ports that are free now."""
    import random
    import socket

    rng = random.Random()
    for _ in range(200):
        base = rng.randrange(20000, 60000 - count)
        sockets = []
        try:
            for port in range(base, base + count):
                s = socket.socket()
                sockets.append(s)
                s.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for s in sockets:
                s.close()
    raise AssertionError("no free port range")


@pytest.fixture
def ward(tmp_path):
    """A running station (tests/station_harness.py) following two plain-text beds, with the
    operator `nurse`: (station, [bed-1, bed-2], folder)."""
    from station_harness import Bed, RunningStation, add_user, write_config

    beds = [Bed("bed-1"), Bed("bed-2")]
    config = write_config(tmp_path, beds)
    add_user(config)
    station = RunningStation(config)
    yield station, beds, tmp_path
    station.stop()
    for bed in beds:
        bed.close()


@pytest.fixture
def paris():
    """Local time is Europe/Paris while the test runs (nights, clock changes)."""
    import os
    import time

    before = os.environ.get("TZ")
    os.environ["TZ"] = "Europe/Paris"
    time.tzset()
    yield
    if before is None:
        os.environ.pop("TZ", None)
    else:
        os.environ["TZ"] = before
    time.tzset()
