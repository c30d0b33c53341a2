"""A private, throwaway PostgreSQL cluster for the tests: initdb in a temporary folder, listening
only on a unix socket there (no TCP port), trust authentication, fsync off (nothing here needs to
survive a power cut). As root (CI), initdb refuses to run, so the cluster belongs to the
`postgres` system user. Without PostgreSQL's binaries the tests that need it are skipped, or
fail when RESPMON_REQUIRE_POSTGRES=1 (scripts/test.sh sets it after installing them)."""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import random
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

NOT_INSTALLED = "PostgreSQL not installed: apt-get install postgresql (scripts/test.sh does)"
START_TIMEOUT_S = 60


def pg_bindir() -> Path | None:
    """The folder of initdb and pg_ctl: Debian's newest /usr/lib/postgresql/N/bin, else PATH."""
    found = [Path(p).parent for p in glob.glob("/usr/lib/postgresql/*/bin/initdb")]
    found.sort(key=lambda d: int(d.parent.name) if d.parent.name.isdigit() else 0)
    if found:
        return found[-1]
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


class PgServer:
    def __init__(self, bindir: Path):
        self.bindir = bindir
        self._as: list[str] = []
        if os.geteuid() == 0:
            try:
                pwd.getpwnam("postgres")
            except KeyError:
                raise RuntimeError("running as root, and there is no `postgres` user to run PostgreSQL as") from None
            self._as = ["runuser", "-u", "postgres", "--"]
        self.root = Path(tempfile.mkdtemp(prefix="respmon-pg-"))  # short: a socket path is at most 107 bytes
        if self._as:
            shutil.chown(self.root, "postgres", "postgres")
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.port = 5433 + random.randrange(2000)  # only names the socket file: no TCP
        self._numbers = itertools.count(1)

    def _run(self, *argv: str) -> None:
        done = subprocess.run([*self._as, *argv], capture_output=True, text=True, timeout=START_TIMEOUT_S)
        if done.returncode != 0:
            log = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise RuntimeError(f"{Path(argv[0]).name} failed ({done.returncode}): {done.stderr.strip()[-2000:]}"
                               f"\n{log}")

    def start(self) -> None:
        self._run(str(self.bindir / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust",
                  "-E", "UTF8", "--locale=C", "--no-sync")
        settings = {"listen_addresses": "''", "unix_socket_directories": f"'{self.root}'", "port": str(self.port),
                    "fsync": "off", "synchronous_commit": "off", "full_page_writes": "off",
                    "max_connections": "50", "shared_buffers": "32MB"}
        with open(self.data / "postgresql.conf", "a") as conf:
            conf.writelines(f"{key} = {value}\n" for key, value in settings.items())
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-w",
                  "-t", str(START_TIMEOUT_S), "start")

    def stop(self) -> None:
        try:
            if (self.data / "postmaster.pid").exists():
                self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@/{database}?host={self.root}&port={self.port}"

    def create_database(self) -> str:
        """A new empty database; its URL."""
        import psycopg

        name = f"t{os.getpid()}_{next(self._numbers)}"
        with psycopg.connect(self.url(), autocommit=True) as db:
            db.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


def server_fixture():
    """The body of the session-scoped `pg_server` fixture (tests/conftest.py)."""
    bindir = pg_bindir()
    if bindir is None:
        if os.environ.get("RESPMON_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"{NOT_INSTALLED}; RESPMON_REQUIRE_POSTGRES=1 makes that a failure", pytrace=False)
        pytest.skip(NOT_INSTALLED)
    server = PgServer(bindir)
    try:
        server.start()
        yield server
    finally:
        server.stop()
