"""The bed's alarm journal and what the daemon does with it at start: alarms restored with their
ids and cleared once, events written but never sent sent, monitoring_restarted after an unclean
stop, monitor time going on. (kill -9 of a real process: tests/test_crash_restart.py.)"""

from __future__ import annotations

import sqlite3
from types import SimpleNamespace

import pytest

from respmon.alerts.engine import AlertEngine
from respmon.alerts.journal import AlarmJournal, JournalError, journal_path
from respmon.config import default_config
from respmon.daemon.bedside import Bedside


def _engine(ids=None):
    ids = iter(ids or (f"id{i}" for i in range(1000)))
    return AlertEngine(default_config().alerts, "bed-1", "m1", wall_clock=lambda: 1.7e9, new_id=lambda: next(ids))


def _breathing(t, rr=14.0):
    return {"t": t, "state": "breathing", "present": True, "rr_bpm": rr, "quality": 0.9,
            "seconds_since_breath": 1.0, "pattern": "eupnea", "confidence": 0.9, "probs": {"eupnea": 0.9}}


def _apnea(t, since):
    return {"t": t, "state": "apnea", "present": True, "rr_bpm": None, "quality": 0.9,
            "seconds_since_breath": since, "pattern": "central_apnea", "confidence": 0.9,
            "probs": {"central_apnea": 0.9}}


def _onset_of_apnea(engine, journal=None):
    bedside = Bedside(SimpleNamespace(bed=SimpleNamespace(name="bed-1"), alerts=default_config().alerts), "m1",
                      journal=journal)
    bedside.engine = engine
    events = []
    for t in range(1, 40):
        events += bedside.window(_apnea(t, float(t)) if t > 5 else _breathing(t))
    return bedside, events


def test_an_active_alarm_survives_a_crash_with_its_id_and_clears_once(tmp_path):
    journal = AlarmJournal(tmp_path / "j.sqlite", "bed-1")
    assert journal.start_run().first_run
    bedside, events = _onset_of_apnea(_engine(), journal)
    onset = [e for e in events if e["event"] == "onset"]
    assert [e["condition"] for e in onset] == ["central_apnea"]
    journal.db.close()  # killed: no clean close

    again = AlarmJournal(tmp_path / "j.sqlite", "bed-1")
    previous = again.start_run()
    assert previous.unclean and not previous.first_run and previous.last_t is not None
    assert [a["id"] for a in previous.active] == [onset[0]["id"]]
    engine = _engine(ids=("new0", "new1", "new2"))
    engine.restore(previous.active, t=100)
    assert engine.active["central_apnea"].id == onset[0]["id"]
    restarted = engine.restarted(100, 30.0, "2026-12-06T00:00:00Z")
    assert [(e["event"], e["condition"], e["priority"], e["kind"]) for e in restarted] == [
        ("onset", "monitoring_restarted", "medium", "technical")]
    events = []
    for t in range(101, 200):  # searching, then breathing again
        events += engine.observe({"t": t, "state": "searching"} if t < 130 else _breathing(t))
    clears = [(e["condition"], e["id"]) for e in events if e["event"] == "clear"]
    assert ("central_apnea", onset[0]["id"]) in clears and len(clears) == len(set(clears))
    assert not any(e["event"] == "onset" and e["condition"] == "central_apnea" for e in events)
    # monitoring_restarted clears after restart_notice_s (60) of monitored seconds, not before
    clear_t = next(e["t"] for e in events if e["event"] == "clear" and e["condition"] == "monitoring_restarted")
    assert 101 + 60 - 1 <= clear_t <= 101 + 60 + 1


def test_a_clean_stop_raises_no_restart_alarm_but_keeps_the_active_ones(tmp_path):
    journal = AlarmJournal(tmp_path / "j.sqlite", "bed-1")
    journal.start_run()
    _, events = _onset_of_apnea(_engine(), journal)
    journal.close(t=39)
    previous = AlarmJournal(tmp_path / "j.sqlite", "bed-1").start_run()
    assert not previous.unclean and previous.last_t == 39
    assert [a["condition"] for a in previous.active] == ["central_apnea"]


def test_an_event_written_but_never_published_is_sent_at_the_next_start_once(tmp_path):
    journal = AlarmJournal(tmp_path / "j.sqlite", "bed-1")
    journal.start_run()
    seqs = journal.record([{"event": "onset", "id": "a1", "condition": "tachypnea", "onset": "x"}], t=5)
    journal.record([{"event": "onset", "id": "a2", "condition": "biots", "onset": "x"}], t=6)
    journal.published(seqs)  # a2 was journaled, then the process died before publishing it
    journal.db.close()
    first = AlarmJournal(tmp_path / "j.sqlite", "bed-1").start_run()
    assert [e["id"] for e in first.unpublished] == ["a2"]
    assert AlarmJournal(tmp_path / "j.sqlite", "bed-1").start_run().unpublished == []


def test_the_journal_is_bounded_and_refuses_another_beds_file(tmp_path):
    journal = AlarmJournal(tmp_path / "j.sqlite", "bed-1", max_events=100)
    journal.start_run()
    for i in range(300):
        journal.record([{"event": "onset" if i % 2 == 0 else "clear", "id": f"a{i // 2}", "condition": "tachypnea"}])
    kept = journal.events()
    assert len(kept) <= 100 and kept[-1]["id"] == "a149"
    with pytest.raises(JournalError, match="bed 'bed-1', not of 'bed-2'"):
        AlarmJournal(tmp_path / "j.sqlite", "bed-2")
    (tmp_path / "junk.sqlite").write_bytes(b"not a database at all" * 100)
    with pytest.raises(JournalError, match="junk.sqlite: cannot use it"):
        AlarmJournal(tmp_path / "junk.sqlite", "bed-1")


def test_a_failing_journal_never_holds_an_alarm_back(tmp_path, caplog):
    class Broken:
        def record(self, *_):
            raise sqlite3.OperationalError("disk I/O error")

        alive = published = record

    published = []

    class Pub:
        def publish(self, kind, payload, condition=None):
            published.append((kind, payload.get("event"), condition))

        def set_snapshot(self, *_):
            pass

    bedside, events = _onset_of_apnea(_engine(), Broken())
    bedside.publisher = Pub()
    bedside.alerts(events, 40)
    assert ("alert", "onset", "central_apnea") in published
    assert bedside.journal_failures >= 1 and "disk I/O error" in caplog.text


def test_the_journal_lives_in_the_service_state_folder(monkeypatch, tmp_path):
    monkeypatch.setenv("STATE_DIRECTORY", f"{tmp_path}/state:{tmp_path}/other")
    assert journal_path("", "bed-3") == tmp_path / "state" / "bed-3.alarms.sqlite"
    monkeypatch.delenv("STATE_DIRECTORY")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    assert journal_path("", "bed-3") == tmp_path / "xdg" / "respmon" / "bed-3.alarms.sqlite"
    assert journal_path("j/x.sqlite", "bed-3").name == "x.sqlite"
