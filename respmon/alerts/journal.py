"""The bed's alarm journal: what the alert engine raised and cleared, kept across crashes.

One SQLite file in WAL mode. An alert event is committed with synchronous=FULL (on disk, fsync'd)
before it is published, so a daemon killed at any moment restarts knowing every alarm that was
active: they are restored with their ids and cleared, once, when their condition has ended. An
event is marked sent a moment after it was handed to the publisher; one written but not yet
marked when the daemon died is sent (again) at the next start.
Each start is a run; a run that did not end with `close()` was an unclean stop, which the daemon
reports as the technical alarm `monitoring_restarted`.

Bounded: at most `max_events` events are kept (the oldest go first), runs likewise. An onset's
`signal` (60 s of breathing signal, 4 KB) is not kept: an alarm restored at a start has none.
"""

from __future__ import annotations

import json
import logging
import math
import os
import sqlite3
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from respmon.errors import UsageError

log = logging.getLogger("respmon.journal")

SCHEMA_VERSION = 1
MAX_RUNS = 1000
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY, started_wall_s REAL NOT NULL, last_wall_s REAL NOT NULL,
    last_t REAL, clean_stop INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY, run INTEGER NOT NULL, wall_s REAL NOT NULL, alert_id TEXT NOT NULL,
    condition TEXT NOT NULL, event TEXT NOT NULL, message TEXT NOT NULL,
    published INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS active (
    alert_id TEXT PRIMARY KEY, condition TEXT NOT NULL UNIQUE, onset_message TEXT NOT NULL);
"""


class JournalError(UsageError):
    """The journal file cannot be opened or is not one; one line naming it."""


@dataclass
class PreviousRun:
    """What the journal knew at start: the alarms active when the last run ended, how it ended."""
    active: list[dict] = field(default_factory=list)  # their onset messages
    unpublished: list[dict] = field(default_factory=list)  # events written, maybe never sent
    unpublished_seqs: list[int] = field(default_factory=list)  # theirs, for `published` once sent again
    unclean: bool = False  # the last run did not stop cleanly (killed, crashed, power lost)
    last_t: float | None = None  # its last second of monitor time
    last_wall_s: float | None = None  # when it was last known alive
    first_run: bool = True


class AlarmJournal:
    def __init__(self, path: Path, bed: str, max_events: int = 100_000):
        self.path = Path(path)
        self.bed = bed
        self.max_events = max_events
        self.run_id: int | None = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o750)
            self.db = sqlite3.connect(self.path, isolation_level=None, timeout=5.0, check_same_thread=False)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=FULL")
            self.db.executescript(_SCHEMA)
            self._check_meta()
        except sqlite3.Error as exc:
            raise JournalError(f"{self.path}: cannot use it as the alarm journal ({exc})") from None
        except OSError as exc:
            raise JournalError(f"{self.path}: cannot make its folder ({exc.strerror or exc})") from None

    def _check_meta(self) -> None:
        rows = dict(self.db.execute("SELECT key, value FROM meta").fetchall())
        if not rows:
            with self.db:
                self.db.execute("BEGIN IMMEDIATE")
                self.db.executemany("INSERT INTO meta VALUES (?, ?)",
                                    [("schema", str(SCHEMA_VERSION)), ("bed", self.bed)])
            return
        if rows.get("schema") != str(SCHEMA_VERSION):
            raise JournalError(f"{self.path}: journal schema {rows.get('schema')!r}, this respmon reads {SCHEMA_VERSION}")
        if rows.get("bed") != self.bed:
            raise JournalError(f"{self.path}: the alarm journal of bed {rows.get('bed')!r}, not of {self.bed!r}")

    def start_run(self, wall_s: float | None = None) -> PreviousRun:
        """Open a new run; what the last one left: its active alarms, events maybe never sent,
        whether it stopped cleanly."""
        wall_s = time.time() if wall_s is None else wall_s
        last = self.db.execute("SELECT id, last_wall_s, last_t, clean_stop FROM runs ORDER BY id DESC LIMIT 1").fetchone()
        previous = PreviousRun(first_run=last is None)
        if last is not None:
            previous.last_wall_s, previous.last_t = _finite_or_none(last[1]), _finite_or_none(last[2])
            previous.unclean = not last[3]
        # A row that is not what this code wrote (a damaged file, a hand edit) is left out: a
        # journal must never keep the monitor from starting.
        previous.active = [m for (text,) in self.db.execute("SELECT onset_message FROM active ORDER BY rowid")
                           if (m := _alert_event(text)) is not None]
        # Not marked sent here: the caller sends them and marks them (`published`) once they have
        # gone out; killed before that, the next start sends them again (at worst twice, never none).
        for seq, text in self.db.execute("SELECT seq, message FROM events WHERE published = 0 ORDER BY seq"):
            message = _alert_event(text)
            if message is not None:
                previous.unpublished_seqs.append(seq)
                previous.unpublished.append(message)
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            self.run_id = self.db.execute("INSERT INTO runs (started_wall_s, last_wall_s, last_t) VALUES (?, ?, ?)",
                                          (wall_s, wall_s, previous.last_t)).lastrowid
            self.db.execute("DELETE FROM runs WHERE id <= ?", (self.run_id - MAX_RUNS,))
        return previous

    def record(self, events: list[dict], t: float | None = None) -> list[int]:
        """Commit alert events, fsync'd, before they are published; their journal numbers (for
        `published`). Updates are not kept as events: only the onset and the clear."""
        wall_s = time.time()
        seqs = []
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            for event in events:
                if event["event"] not in ("onset", "clear"):
                    continue
                message = _message(event)
                seqs.append(self.db.execute(
                    "INSERT INTO events (run, wall_s, alert_id, condition, event, message) VALUES (?, ?, ?, ?, ?, ?)",
                    (self.run_id, wall_s, event["id"], event["condition"], event["event"], message)).lastrowid)
                if event["event"] == "onset":
                    self.db.execute("INSERT OR REPLACE INTO active VALUES (?, ?, ?)",
                                    (event["id"], event["condition"], message))
                else:
                    self.db.execute("DELETE FROM active WHERE alert_id = ?", (event["id"],))
            if t is not None:
                self.db.execute("UPDATE runs SET last_t = ?, last_wall_s = ? WHERE id = ?", (t, wall_s, self.run_id))
            if seqs:
                self.db.execute("DELETE FROM events WHERE seq <= ?", (seqs[-1] - self.max_events,))
        return seqs

    def published(self, seqs: list[int]) -> None:
        """The events have gone out: not when they were handed to the publisher, whose sending
        thread a kill can still beat, but a moment later (Bedside.SENT_AFTER_S). Not fsync'd: at
        worst sent twice."""
        if not seqs:
            return
        self.db.execute("PRAGMA synchronous=NORMAL")
        try:
            self.db.executemany("UPDATE events SET published = 1 WHERE seq = ?", [(s,) for s in seqs])
        finally:
            self.db.execute("PRAGMA synchronous=FULL")

    def alive(self, t: float | None) -> None:
        """Where the run is (monitor time, wall clock): how long it was down is known at restart.
        Not fsync'd: a kill -9 loses nothing committed; a power cut loses at most this."""
        self.db.execute("PRAGMA synchronous=NORMAL")
        try:
            self.db.execute("UPDATE runs SET last_t = ?, last_wall_s = ? WHERE id = ?", (t, time.time(), self.run_id))
        finally:
            self.db.execute("PRAGMA synchronous=FULL")

    def replace_active(self, alerts: list[dict]) -> bool:
        """The active alarms as the engine holds them, after writes that failed (a full disk):
        the journal agrees with what was published again."""
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            self.db.execute("DELETE FROM active")
            self.db.executemany("INSERT OR REPLACE INTO active VALUES (?, ?, ?)",
                                [(a["id"], a["condition"], _message(a)) for a in alerts])
        return True

    def close(self, t: float | None = None, clean: bool = True) -> None:
        """The end of the run; clean: a stop asked for, so the next start raises no
        monitoring_restarted (a crash that still gets here is not clean)."""
        try:
            with self.db:
                self.db.execute("BEGIN IMMEDIATE")
                self.db.execute("UPDATE runs SET clean_stop = ?, last_t = ?, last_wall_s = ? WHERE id = ?",
                                (int(clean), t, time.time(), self.run_id))
        finally:
            self.db.close()

    def events(self) -> list[dict]:
        """Every event kept, oldest first (for tests and reports)."""
        return [json.loads(m) for (m,) in self.db.execute("SELECT message FROM events ORDER BY seq")]


def _message(event: dict) -> str:
    """An alert event as journaled: without its signal. JSON with NaN too: it is read back."""
    return json.dumps({k: v for k, v in event.items() if k != "signal"}, separators=(",", ":"), default=str)


def _finite_or_none(value) -> float | None:
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None


def _alert_event(text: str) -> dict | None:
    """A journaled alert event as this code wrote it, or None."""
    from respmon.alerts.engine import CONDITIONS

    try:
        message = json.loads(text)
        datetime.fromisoformat(str(message["onset"]).replace("Z", "+00:00"))
    except (TypeError, ValueError, KeyError, RecursionError):
        return None
    if not (isinstance(message, dict) and message.get("condition") in CONDITIONS
            and isinstance(message.get("id"), str) and message.get("event") in ("onset", "update", "clear")
            and _finite_or_none(message.get("onset_t")) is not None):
        return None
    return message


def journal_path(configured: str, bed: str) -> Path:
    """journal.path, or where a service keeps state: systemd's StateDirectory= ($STATE_DIRECTORY),
    else $XDG_STATE_HOME/respmon (~/.local/state/respmon)."""
    if configured:
        return Path(configured).expanduser()
    state = os.environ.get("STATE_DIRECTORY", "").split(":")[0]
    if state:
        return Path(state) / f"{bed}.alarms.sqlite"
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "respmon" / f"{bed}.alarms.sqlite"


def open_journal(path: Path, bed: str, max_events: int) -> AlarmJournal | None:
    """The journal, or a fresh one with the unusable file moved aside (damaged, another bed's, a
    newer schema), or None where not even that can be written (a read-only folder): the monitor
    runs in any case, and the log says which (one line)."""
    try:
        return AlarmJournal(path, bed, max_events)
    except JournalError as exc:
        first = str(exc)
    aside = path.with_name(f"{path.name}.unusable-{time.strftime('%Y%m%dT%H%M%S')}")
    try:
        path.replace(aside)
        for suffix in ("-wal", "-shm"):
            side = path.with_name(path.name + suffix)
            if side.exists():
                side.replace(aside.with_name(aside.name + suffix))
        journal = AlarmJournal(path, bed, max_events)
    except (OSError, JournalError) as exc:
        log.error("alarm journal unusable, monitoring without one (alarms will not survive a restart): "
                  "%s; then %s", first, exc, extra={"bed": bed, "event": "journal.unusable"})
        return None
    log.error("alarm journal unusable, moved aside to %s and started afresh (the alarms it held are not "
              "restored): %s", aside, first, extra={"bed": bed, "event": "journal.unusable"})
    return journal
