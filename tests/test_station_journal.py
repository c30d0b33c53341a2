"""The ward station's journal (respmon/station/journal.py): the same tests on SQLite and on a
throwaway PostgreSQL (tests/pg_server.py), through the `journal_url` fixture."""

from __future__ import annotations

import math
import os
import stat
import subprocess
import sys
from collections import defaultdict
from itertools import count

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from respmon.errors import UsageError
from respmon.station import journal as journal_module
from respmon.station.journal import JournalError, event_wall, mask_url, open_journal, parse_wall
from tests.conftest import REPO

T0 = 1_800_000_000.0  # a minute start: 30_000_000 minutes after the epoch
SECRET = "s3cr3t-pw"


@pytest.fixture
def journal(journal_url):
    j = open_journal(journal_url)
    yield j
    j.close()


def _event(alarm_id: str, event: str = "onset", priority: str = "high", onset: str = "2027-01-15T08:00:00Z",
           condition: str = "central_apnea", **extra) -> dict:
    return {"type": "alert", "event": event, "id": alarm_id, "condition": condition,
            "kind": "physiological" if condition in ("central_apnea", "tachypnea") else "technical",
            "priority": priority, "t": 100, "onset_t": 100.0, "onset": onset, "rr_bpm": None, "confidence": 1.0,
            **extra}


def _by_id(records) -> dict:
    return {r.alarm_id: r for r in records}


def _one_line(exc: pytest.ExceptionInfo) -> str:
    text = str(exc.value)
    assert text and "\n" not in text, text
    assert SECRET not in text, text
    return text


# -- alert events and alarms ---------------------------------------------------------------------------------
def test_a_repeated_alert_event_is_recorded_once(journal):
    onset = _event("a1", signal={"rate_hz": 10.0, "end_t": 100, "mm": [0.5, -0.25]})
    assert journal.record_alert("bed-1", onset, T0, T0 + 0.1)
    assert not journal.record_alert("bed-1", onset, T0, T0 + 30)  # resent (the bed restarted)
    assert journal.record_alert("bed-2", onset, T0, T0)  # the same id on another bed is another alarm
    assert journal.record_alert("bed-1", _event("a1", "update", rr_bpm=3.0), T0 + 10, T0 + 10)
    assert journal.record_alert("bed-1", _event("a1", "clear", rr_bpm=12.0), T0 + 20, T0 + 20)
    assert not journal.record_alert("bed-1", _event("a1", "clear", rr_bpm=12.0), T0 + 20, T0 + 21)

    [alarm] = journal.alarms(bed="bed-1")
    assert (alarm.bed, alarm.alarm_id, alarm.condition, alarm.kind, alarm.priority) == \
        ("bed-1", "a1", "central_apnea", "physiological", "high")
    assert alarm.onset_wall == parse_wall("2027-01-15T08:00:00Z")  # the bed's onset, not the envelope's time
    assert alarm.cleared_wall == T0 + 20 and not alarm.active
    assert alarm.body["event"] == "clear" and alarm.rr_bpm == 12.0  # the last event
    assert journal.alarm_signal("bed-1", "a1") == {"rate_hz": 10.0, "end_t": 100, "mm": [0.5, -0.25]}
    assert journal.alarm_signal("bed-1", "nope") is None
    assert journal.alarm_exists("bed-2", "a1") and not journal.alarm_exists("bed-3", "a1")
    assert len(journal.alarms()) == 2


def test_alarms_carry_acknowledgements_and_verdicts(journal):
    journal.record_alert("bed-1", _event("a1", signal={"rate_hz": 10.0, "end_t": 1, "mm": [1.0]}), T0, T0)
    journal.record_alert("bed-1", _event("a2", priority="medium", condition="tachypnea"), T0 + 5, T0 + 5)
    journal.record_action(T0 + 2, "ann", "acknowledge", "bed-1", "a1", {"audio_pause_s": 120})
    journal.record_action(T0 + 3, "bob", "acknowledge", "bed-1", "a1")
    first = journal.record_action(T0 + 4, "ann", "verdict", "bed-1", "a1",
                                  {"verdict": "other_pattern", "pattern": "biots", "note": "looked like biots"})
    second = journal.record_action(T0 + 6, "bob", "verdict", "bed-1", "a1",
                                   {"verdict": "confirmed", "pattern": None, "note": ""})
    assert second > first
    journal.record_action(T0 + 7, "bob", "acknowledge", "bed-9", "a2")  # another bed's alarm a2
    journal.record_action(T0 + 8, "bob", "login")

    alarms = _by_id(journal.alarms())
    a1, a2 = alarms["a1"], alarms["a2"]
    assert (a1.acknowledged_by, a1.acknowledged_at) == ("bob", T0 + 3)  # the latest
    assert a1.acknowledgements == [("ann", T0 + 2), ("bob", T0 + 3)]
    assert a1.verdict == {"verdict": "confirmed", "pattern": None, "note": "", "operator": "bob", "at": T0 + 6}
    assert [v["verdict"] for v in a1.verdicts] == ["other_pattern", "confirmed"]
    assert a1.verdicts[0]["pattern"] == "biots" and a1.verdicts[0]["operator"] == "ann"
    assert "signal" not in a1.body  # alarm_signal() gives it, on demand
    assert a2.acknowledged_by is None and a2.verdict is None and a2.verdicts == []


def test_alarms_by_bed_time_range_and_limit(journal):
    onset = "2027-01-15T08:00:00Z"
    base = parse_wall(onset)
    for i in range(6):  # alarm i: on from base + 100 i for 50 s
        on = f"2027-01-15T08:{i * 100 // 60:02d}:{i * 100 % 60:02d}Z"
        journal.record_alert("bed-1", _event(f"a{i}", onset=on), base + 100 * i, base + 100 * i)
        if i < 5:
            journal.record_alert("bed-1", _event(f"a{i}", "clear", onset=on), base + 100 * i + 50, base + 100 * i + 50)
    journal.record_alert("bed-2", _event("b0", onset=onset), base, base)

    assert [a.alarm_id for a in journal.alarms(bed="bed-1")] == ["a0", "a1", "a2", "a3", "a4", "a5"]
    assert [a.alarm_id for a in journal.alarms()] == ["a0", "b0", "a1", "a2", "a3", "a4", "a5"]
    # on at some time in [since, until]: a1 cleared at +150, a5 never
    assert [a.alarm_id for a in journal.alarms(bed="bed-1", since=base + 150, until=base + 320)] == \
        ["a1", "a2", "a3"]
    assert [a.alarm_id for a in journal.alarms(bed="bed-1", since=base + 440)] == ["a4", "a5"]
    assert [a.alarm_id for a in journal.alarms(bed="bed-1", limit=2)] == ["a4", "a5"]  # the latest
    assert journal.alarms(bed="bed-1", limit=0) == []


def test_open_alarms_are_the_active_and_the_latched_ones(journal):
    def alarm(alarm_id, priority, cleared, bed="bed-1"):
        journal.record_alert(bed, _event(alarm_id, priority=priority), T0, T0)
        if cleared:
            journal.record_alert(bed, _event(alarm_id, "clear", priority=priority), T0 + 30, T0 + 30)

    alarm("high-on", "high", cleared=False)
    alarm("high-latched", "high", cleared=True)
    alarm("high-acked-after", "high", cleared=True)
    journal.record_action(T0 + 40, "ann", "acknowledge", "bed-1", "high-acked-after")
    alarm("high-acked-while-on", "high", cleared=True)
    journal.record_action(T0 + 10, "ann", "acknowledge", "bed-1", "high-acked-while-on")
    # the station's clock behind the bed's: the acknowledgement looks older than the onset, yet counts
    alarm("high-acked-skewed", "high", cleared=True)
    journal.record_action(T0 - 5, "ann", "acknowledge", "bed-1", "high-acked-skewed")
    alarm("high-other-bed-acked", "high", cleared=True, bed="bed-2")
    journal.record_action(T0 + 40, "ann", "acknowledge", "bed-1", "high-other-bed-acked")  # not bed-2's
    alarm("high-verdict-only", "high", cleared=True)
    journal.record_action(T0 + 40, "ann", "verdict", "bed-1", "high-verdict-only", {"verdict": "confirmed"})
    alarm("medium-on", "medium", cleared=False)
    alarm("medium-cleared", "medium", cleared=True)
    alarm("low-on-acked", "low", cleared=False)
    journal.record_action(T0 + 40, "ann", "acknowledge", "bed-1", "low-on-acked")

    assert set(_by_id(journal.open_alarms())) == {
        "high-on", "high-latched", "high-other-bed-acked", "high-verdict-only", "medium-on", "low-on-acked"}
    assert "medium-cleared" in _by_id(journal.open_alarms(latching=("high", "medium")))
    assert len(journal.open_alarms(limit=2)) == 2


# -- vitals ----------------------------------------------------------------------------------------------------
def _minute_means(points) -> dict[float, float | None]:
    """Per minute: the mean rate of the points that have one (a 1 min row is one point, its mean)."""
    rates = defaultdict(list)
    for t, rr, _ in points:
        rates[math.floor(t / 60) * 60].append(rr)
    return {m: (sum(r for r in rs if r is not None) / len([r for r in rs if r is not None])
                if any(r is not None for r in rs) else None) for m, rs in rates.items()}


def test_trend_joins_minute_rows_and_second_rows_after_compact(journal):
    states = ["apnea", "breathing", "breathing"]  # most frequent: breathing
    rows = [("bed-1", T0 + s, None if s % 60 < 10 else 10.0 + s % 3, states[s % 3], 0.5 + (s % 2) * 0.25)
            for s in range(300)]
    rows = [r if not 120 <= r[1] - T0 < 180 else (r[0], r[1], None, r[3], r[4]) for r in rows]  # minute 2: no rate
    journal.add_vitals(rows)
    journal.add_vitals(rows[:5])  # again: ignored
    journal.add_vitals([("bed-2", T0 + 30, 20.0, "breathing", 1.0)])
    before = journal.trend("bed-1", T0, T0 + 1000)
    assert len(before) == 300 and before[0] == (T0, None, "apnea")

    now = T0 + 300 + 100
    journal.compact(now, keep_1s_s=100 + 150, keep_s=10 * 86400)  # keep 1 s from T0 + 150: fold minutes 0, 1
    after = journal.trend("bed-1", T0 - 60, T0 + 1000)
    assert [t for t, _, _ in after[:2]] == [T0, T0 + 60]  # the minute rows, at each minute's start
    assert [t for t, _, _ in after[2:]] == [T0 + s for s in range(120, 300)]  # then every second, as it was
    assert after[0] == (T0, pytest.approx(sum(10.0 + s % 3 for s in range(10, 60)) / 50), "breathing")
    assert _minute_means(after) == pytest.approx(_minute_means(before))
    journal.compact(now, keep_1s_s=250, keep_s=10 * 86400)
    assert journal.trend("bed-1", T0 - 60, T0 + 1000) == after  # idempotent

    # the next compaction folds minute 2 (no rate at all: null) and the partial minute is left alone
    journal.compact(now + 75, keep_1s_s=250, keep_s=10 * 86400)
    later = journal.trend("bed-1", T0 - 60, T0 + 1000)
    assert later[2] == (T0 + 120, None, "breathing") and later[3][0] == T0 + 180
    with journal._tx("test", write=False) as cur:
        quality = cur.execute("SELECT quality FROM vitals_1m WHERE bed = ? AND t_wall = ?", ("bed-1", T0)).fetchone()
    assert quality[0] == pytest.approx(0.625)
    assert journal.trend("bed-2", T0, T0 + 1000) == [(T0, 20.0, "breathing")]  # folded too: the same minute
    assert journal.trend("bed-1", T0 + 120, T0 + 200, limit=3) == [p for p in later if p[0] <= T0 + 200][-3:]


def test_a_minute_with_second_rows_again_shows_them_not_the_minute_row(journal):
    journal.add_vitals([("bed-1", T0 + s, 12.0, "breathing", 1.0) for s in range(60)])
    journal.compact(T0 + 200, keep_1s_s=100, keep_s=86400)
    assert journal.trend("bed-1", T0, T0 + 59) == [(T0, 12.0, "breathing")]
    journal.add_vitals([("bed-1", T0 + 30.5, 20.0, "motion", 1.0)])  # late: the bed's buffer
    assert journal.trend("bed-1", T0, T0 + 59) == [(T0 + 30.5, 20.0, "motion")]  # never both
    journal.compact(T0 + 200, keep_1s_s=100, keep_s=86400)  # a minute folded once stays as it was
    assert journal.trend("bed-1", T0, T0 + 59) == [(T0, 12.0, "breathing")]


_beds = count()


@settings(max_examples=25, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seconds=st.dictionaries(st.integers(0, 299),
                               st.tuples(st.one_of(st.none(), st.floats(4.0, 60.0)),
                                         st.sampled_from(["breathing", "apnea", "motion"])),
                               min_size=1, max_size=120),
       start=st.integers(0, 59), fraction=st.sampled_from([0.0, 0.25, 0.999]), keep_1s_s=st.integers(0, 420))
def test_compact_never_changes_the_mean_rate_of_a_minute(journal, seconds, start, fraction, keep_1s_s):
    bed = f"bed-{next(_beds)}"  # one database for every example: each has its own bed
    base = T0 + start + fraction
    journal.add_vitals([(bed, base + s, rr, state, 0.8) for s, (rr, state) in seconds.items()])
    before = _minute_means(journal.trend(bed, T0 - 60, T0 + 1000))
    journal.compact(T0 + 360, keep_1s_s=keep_1s_s, keep_s=86400)
    after = journal.trend(bed, T0 - 60, T0 + 1000)
    assert [t for t, _, _ in after] == sorted(t for t, _, _ in after)
    means = _minute_means(after)
    assert means.keys() == before.keys()
    for minute, mean in before.items():
        assert (mean is None and means[minute] is None) or math.isclose(means[minute], mean, rel_tol=1e-9), minute
    journal.compact(T0 + 360, keep_1s_s=keep_1s_s, keep_s=86400)
    assert journal.trend(bed, T0 - 60, T0 + 1000) == after


def test_compact_drops_what_is_older_than_the_retention(journal):
    day = 86400.0
    journal.record_alert("bed-1", _event("old"), T0, T0)
    journal.record_alert("bed-1", _event("new"), T0 + 3 * day, T0 + 3 * day)
    journal.record_action(T0, "ann", "login")
    journal.record_action(T0 + 3 * day, "bob", "login")
    journal.add_vitals([("bed-1", T0 + s, 14.0, "breathing", 1.0) for s in range(3)])
    journal.add_vitals([("bed-1", T0 + 3 * day + s, 15.0, "breathing", 1.0) for s in range(3)])
    journal.compact(T0 + 4 * day, keep_1s_s=day, keep_s=2 * day)
    assert [a.alarm_id for a in journal.alarms()] == ["new"]
    assert journal.trend("bed-1", 0, T0 + 5 * day) == [(T0 + 3 * day + s, 15.0, "breathing") for s in range(3)]
    with journal._tx("test", write=False) as cur:
        assert cur.execute("SELECT operator FROM actions").fetchall() == [("bob",)]


# -- users and sessions ------------------------------------------------------------------------------------------
def test_a_user_name_is_taken_once(journal):
    assert journal.users() == [] and journal.user("ann") is None
    journal.add_user("ann", "scrypt$1", T0)
    journal.add_user("Ann", "scrypt$2", T0)  # another name
    with pytest.raises(JournalError) as exc:
        journal.add_user("ann", "scrypt$3", T0 + 1)
    assert "ann" in _one_line(exc) and isinstance(exc.value, UsageError)
    assert journal.user("ann") == ("scrypt$1", False)  # unchanged
    assert journal.users() == sorted(["Ann", "ann"])


def test_disabling_a_user_ends_their_sessions_only(journal):
    journal.add_user("ann", "scrypt$1", T0)
    journal.add_user("bob", "scrypt$2", T0)
    journal.create_session("h1", "ann", "csrf1", now=T0, expires=T0 + 600)
    journal.create_session("h2", "bob", "csrf2", now=T0, expires=T0 + 600)
    assert journal.set_user_disabled("ann", True) and not journal.set_user_disabled("nobody", True)
    assert journal.user("ann") == ("scrypt$1", True) and journal.session("h1") is None
    assert journal.session("h2") is not None and not journal.touch_session("h1", T0 + 1, T0 + 601)
    assert journal.user_states() == [("ann", True), ("bob", False)]
    assert journal.set_user_disabled("ann", False) and journal.user("ann") == ("scrypt$1", False)


def test_sessions_expire(journal):
    journal.create_session("h1", "ann", "csrf1", now=T0, expires=T0 + 600)
    journal.create_session("h2", "bob", "csrf2", now=T0, expires=T0 + 60)
    session = journal.session("h1")
    assert (session.operator, session.csrf, session.created_wall, session.last_seen_wall, session.expires_wall) == \
        ("ann", "csrf1", T0, T0, T0 + 600)
    assert journal.touch_session("h1", T0 + 500, T0 + 1100) and not journal.touch_session("nope", T0, T0)
    assert journal.session("h1").last_seen_wall == T0 + 500
    assert journal.session("h2").expired(T0 + 60) and not journal.session("h1").expired(T0 + 60)
    journal.compact(T0 + 700, keep_1s_s=86400, keep_s=30 * 86400)
    assert journal.session("h2") is None and journal.session("h1") is not None  # h1 was extended
    journal.delete_session("h1")
    assert journal.session("h1") is None


# -- schema, durability, errors -----------------------------------------------------------------------------------
def test_migrations_are_versioned_and_applied_once(journal_url, monkeypatch):
    latest = max(v for v, _ in journal_module.MIGRATIONS)
    j = open_journal(journal_url)
    j.add_user("ann", "h", T0)
    j.migrate()
    j.close()
    j = open_journal(journal_url)  # again: nothing to apply, nothing lost
    assert j.schema_version() == latest and j.users() == ["ann"]
    with j._tx("test", write=False) as cur:
        assert [v for (v,) in cur.execute("SELECT version FROM schema_migrations").fetchall()] == \
            list(range(1, latest + 1))
    j.close()

    # a migration that fails half way leaves nothing of itself: one transaction
    monkeypatch.setattr(journal_module, "MIGRATIONS", journal_module.MIGRATIONS + [
        (latest + 1, ["CREATE TABLE extra (x INTEGER)", "CREATE TABLE broken (x NOSUCHSYNTAX ("])])
    with pytest.raises(JournalError) as exc:
        open_journal(journal_url)
    assert f"schema version {latest + 1}" in _one_line(exc)
    monkeypatch.setattr(journal_module, "MIGRATIONS", journal_module.MIGRATIONS[:-1] + [
        (latest + 1, ["CREATE TABLE extra (x INTEGER)"])])
    j = open_journal(journal_url)
    assert j.schema_version() == latest + 1
    j.close()

    # written by a newer respmon: refused, left as it is
    monkeypatch.setattr(journal_module, "MIGRATIONS", journal_module.MIGRATIONS[:-1])
    with pytest.raises(JournalError) as exc:
        open_journal(journal_url)
    assert f"schema version {latest + 1} is newer" in _one_line(exc)


_WRITE_AND_DIE = """
import os, sys
from respmon.station.journal import open_journal
j = open_journal(sys.argv[1])
j.record_alert("bed-1", {"id": "a1", "event": "onset", "condition": "central_apnea", "priority": "high",
                         "onset": "2027-01-15T08:00:00Z"}, 1.8e9, 1.8e9)
j.record_action(1.8e9 + 1, "ann", "acknowledge", "bed-1", "a1")
j.add_vitals([("bed-1", 1.8e9 + s, 14.0, "breathing", 1.0) for s in range(5)])
j.add_user("ann", "h", 1.8e9)
print("written", flush=True)
os._exit(0)  # no close(), no checkpoint: as if killed
"""


def test_what_returned_is_written_even_when_the_process_dies(journal_url):
    done = subprocess.run([sys.executable, "-c", _WRITE_AND_DIE, journal_url], cwd=REPO, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0 and done.stdout == "written\n", done.stderr
    j = open_journal(journal_url)
    try:
        [alarm] = j.alarms()
        assert (alarm.alarm_id, alarm.acknowledged_by) == ("a1", "ann")
        assert len(j.trend("bed-1", 0, 2e9)) == 5 and j.users() == ["ann"]
    finally:
        j.close()


@pytest.mark.parametrize("url", [
    "", "journal.db", "mysql://ann:" + SECRET + "@db.example/ward", "sqlite:", "sqlite://relative.db",
    "sqlite:///", "sqlite:///tmp/", "sqlite:///tmp/j.db?mode=ro", "postgresql://ann:" + SECRET + "@[::1/ward",
    "postgresql://ann@h/ward?password=" + SECRET + "&nosuchoption=1", "http://ann:" + SECRET + "@example/x",
])
def test_a_bad_url_is_one_line_without_its_password(url):
    with pytest.raises(JournalError) as exc:
        open_journal(url)
    _one_line(exc)


def test_unreachable_postgres_is_one_line_without_its_password(tmp_path):
    pytest.importorskip("psycopg")
    for url in (f"postgresql://ann:{SECRET}@/ward?host={tmp_path}&port=5999",
                f"postgresql://ann:{SECRET}@127.0.0.1:1/ward?connect_timeout=2"):
        with pytest.raises(JournalError) as exc:
            open_journal(url)
        assert "cannot connect" in _one_line(exc)


def test_a_file_that_is_no_database_is_one_line(tmp_path):
    (tmp_path / "not.db").write_bytes(b"this is not a SQLite database, " * 100)
    for path in (tmp_path / "not.db", tmp_path, tmp_path / "not.db" / "below.db"):
        with pytest.raises(JournalError) as exc:
            open_journal(f"sqlite:///{path}")
        assert "cannot open" in _one_line(exc)


def test_a_sqlite_journal_is_private_and_a_relative_path_is_from_the_working_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    j = open_journal("sqlite:///sub/rel.db")
    j.add_user("ann", "h", T0)
    j.close()
    assert stat.S_IMODE(os.stat(tmp_path / "sub" / "rel.db").st_mode) == 0o600
    j = open_journal(f"sqlite:///{tmp_path}/sub/rel.db")
    assert j.users() == ["ann"]
    j.close()
    with pytest.raises(JournalError) as exc:
        j.users()
    assert "closed" in _one_line(exc)


def test_a_broken_postgres_connection_fails_one_call_then_reconnects(pg_server):
    import psycopg

    j = open_journal(pg_server.create_database())
    try:
        with psycopg.connect(pg_server.url(), autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (j._db.info.backend_pid,))
        with pytest.raises(JournalError) as exc:
            j.add_user("ann", "h", T0)
        _one_line(exc)
        j.add_user("bob", "h", T0)
        assert j.users() == ["bob"]
    finally:
        j.close()


def test_mask_url_and_event_wall():
    assert mask_url(f"postgresql://ann:{SECRET}@db/ward?sslmode=require") == \
        "postgresql://ann:***@db/ward?sslmode=require"
    assert mask_url(f"postgresql://ann:p@ss/w{SECRET}@db/ward") == "postgresql://ann:***@db/ward"
    assert mask_url(f"postgresql:///ward?host=/run&password={SECRET}") == "postgresql:///ward?host=/run&password=***"
    assert mask_url("postgresql://ann@db:5432/ward") == "postgresql://ann@db:5432/ward"
    onset = _event("a1", onset="2027-01-15T08:00:00Z")
    resent = {**onset, "event": "clear", "t": 160, "time": 12345.0}
    assert event_wall(onset) == parse_wall("2027-01-15T08:00:00Z")
    assert event_wall(resent) == parse_wall("2027-01-15T08:01:00Z")
    assert event_wall({"id": "x"}) is None and parse_wall("2027-01-15T08:00:00") is None  # no zone: unknown
