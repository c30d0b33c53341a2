"""`respmon labels export`: the CLI edge of respmon.classify.labels (its docstring and
docs/labels.md state the rules).

--journal SPEC: a station config (a .yaml/.yml file: its journal.url, a relative SQLite path read
from the config's folder), a journal URL (sqlite:///PATH.db, postgresql://...), or the path of a
SQLite journal file. A journal it cannot read is refused (exit 2, one line): a missing file, a
file that is not SQLite (checked before opening, so that nothing is created or written there), an
unreachable PostgreSQL, a schema newer than this respmon knows.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from respmon.errors import UsageError, short_repr, short_text

SQLITE_HEADER = b"SQLite format 3\x00"


def run(args) -> int:
    if args.labels_command == "export":
        return run_export(args)
    raise UsageError(f"unknown labels action {args.labels_command}")


def check_out(out: Path) -> None:
    if out.suffix.lower() != ".csv":
        raise UsageError(f"--out must end in .csv, got {short_repr(str(out), 80)}")
    parent = out.parent if str(out.parent) else Path(".")
    if out.is_dir():
        raise UsageError(f"--out: {short_text(str(out), 120)} is a folder")
    if not parent.is_dir():
        raise UsageError(f"--out: no folder {short_text(str(parent), 120)}")


def journal_url_of(spec: str) -> str:
    """The journal URL that --journal names (a URL, a station config, a SQLite file)."""
    if spec.startswith(("sqlite:", "postgresql://", "postgres://")):
        return spec
    path = Path(spec).expanduser()
    if path.suffix.lower() in (".yaml", ".yml"):
        from respmon.station.config import journal_url, load_station_config

        return journal_url(load_station_config(path), path)
    return f"sqlite:///{path.absolute()}"


def check_sqlite(url: str) -> None:
    """Refuse a SQLite journal that is not there or not SQLite, before open_journal would create
    or migrate it."""
    from respmon.station.journal import mask_url, sqlite_path

    path = sqlite_path(url)
    if path is None:
        return
    where = f"station journal {mask_url(url)}"
    if not path.exists():
        raise UsageError(f"{where}: no such file")
    if not path.is_file():
        raise UsageError(f"{where}: not a file")
    try:
        with open(path, "rb") as handle:
            header = handle.read(len(SQLITE_HEADER))
    except OSError as exc:
        raise UsageError(f"{where}: cannot read it ({exc.strerror or exc})") from None
    if header != SQLITE_HEADER:
        raise UsageError(f"{where}: not a SQLite database")


def run_export(args) -> int:
    from respmon.classify.labels import export_labels, summary, write_export
    from respmon.station.journal import open_journal

    check_out(args.out)
    url = journal_url_of(args.journal)
    check_sqlite(url)
    journal = open_journal(url)
    try:
        until = time.time()
        rows = export_labels(journal, until - args.since, until)
    finally:
        journal.close()
    sidecar = write_export(args.out, rows)
    print(f"respmon: labels: {summary(rows)}; wrote {args.out} and {sidecar}", file=sys.stderr)
    return 0
