"""`respmon station [user add|list|disable|enable]` and `respmon report`: thin edges over the
station's library."""

from __future__ import annotations

import getpass
import os
import sys
import time
from pathlib import Path

from respmon.config import check_bed
from respmon.errors import UsageError, short_repr
from respmon.station.auth import PasswordError, check_password_text, hash_password
from respmon.station.config import journal_url, load_station_config
from respmon.station.journal import open_journal


def _open(config_path: Path | None):
    config = load_station_config(config_path)
    return config, open_journal(journal_url(config, config_path))


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        line = sys.stdin.readline(2048)
        return line.rstrip("\r\n")
    if not sys.stdin.isatty():
        raise UsageError("no terminal to ask the password on: use --password-stdin")
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        raise UsageError("the two passwords differ: nothing changed")
    return first


def user_add(args) -> int:
    try:
        check_bed(args.name)
    except ValueError as exc:
        raise UsageError(f"user name {exc}") from None
    password = _read_password(args.password_stdin)
    try:
        check_password_text(password)
    except PasswordError as exc:
        raise UsageError(f"{exc}: nothing changed") from None
    config, journal = _open(args.user_config)
    try:
        if journal.user(args.name) is not None:
            raise UsageError(f"user {args.name} exists already: nothing changed")
        now = time.time()
        journal.add_user(args.name, hash_password(password), now)
        journal.record_action(now, f"console:{os.environ.get('USER', 'unknown')}", "user_added", None, None,
                              {"user": args.name})
    finally:
        journal.close()
    print(f"operator {args.name} added to the journal of station {config.station.name}")
    return 0


def user_list(args) -> int:
    _, journal = _open(args.user_config)
    try:
        for name, disabled in journal.user_states():
            print(f"{name} (disabled)" if disabled else name)
    finally:
        journal.close()
    return 0


def user_disable(args, disabled: bool) -> int:
    """An operator who leaves (or whose password may be known) loses access at once: no new login,
    and every open page of theirs ends within a minute (the station's next keep-alive)."""
    config, journal = _open(args.user_config)
    try:
        if not journal.set_user_disabled(args.name, disabled):
            raise UsageError(f"no operator {short_repr(args.name, 64)} in the journal: nothing changed")
        journal.record_action(time.time(), f"console:{os.environ.get('USER', 'unknown')}",
                              "user_disabled" if disabled else "user_enabled", None, None, {"user": args.name})
    finally:
        journal.close()
    print(f"operator {args.name} {'disabled (sessions ended)' if disabled else 'enabled'} "
          f"in the journal of station {config.station.name}")
    return 0


def run(args) -> int:
    if getattr(args, "station_command", None) == "user":
        if args.user_command in ("disable", "enable"):
            return user_disable(args, args.user_command == "disable")
        return user_add(args) if args.user_command == "add" else user_list(args)
    if args.demo is not None:
        from respmon.station.demo import run_demo

        return run_demo(args)
    from respmon.station.app import run as run_station

    return run_station(args)


def run_report(args) -> int:
    from respmon.station.report import render_report

    suffix = args.out.suffix.lower()
    if suffix not in (".pdf", ".png"):
        raise UsageError(f"--out must end in .pdf or .png, got {short_repr(str(args.out), 80)}")
    if not args.out.parent.is_dir():
        raise UsageError(f"--out: no folder {args.out.parent}")
    config, journal = _open(args.config)
    try:
        beds = {b.name for b in config.beds} | set(journal.beds())
        if args.bed not in beds:
            raise UsageError(f"unknown bed {short_repr(args.bed, 64)}: not in the station's config or journal")
        until = time.time()
        data = render_report(journal, args.bed, until - args.since, until, suffix[1:])
    finally:
        journal.close()
    try:
        args.out.write_bytes(data)
    except OSError as exc:
        raise UsageError(f"cannot write {args.out}: {exc.strerror or exc}") from None
    print(f"report for {args.bed} written to {args.out}")
    return 0
