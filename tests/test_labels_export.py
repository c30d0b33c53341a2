"""`respmon labels export` (respmon/classify/labels.py, respmon/labels_cmd.py): judged alarms of a
station journal as labelled 60 s windows, CSV in the authors' layout plus a JSON Lines sidecar."""

from __future__ import annotations

import json
import sqlite3
import time
from datetime import datetime, timezone

import numpy as np
import pytest

from respmon.classify.labels import LabelError, export_labels, night_of, night_span, summary, write_export
from respmon.classify_cmd import read_signal_rows
from respmon.patterns import label_of
from respmon.station.journal import open_journal
from tests.conftest import run_cli


def _local(*parts) -> float:
    return datetime(*parts).timestamp()


def _signal(seed: int, n: int = 600, rate_hz: float = 10.0) -> dict:
    mm = np.round(np.random.default_rng(seed).normal(0, 3, n), 2)
    return {"rate_hz": rate_hz, "end_t": 1000.0, "mm": [float(v) for v in mm]}


TECHNICAL = {"camera_lost", "low_signal_quality", "nobody_in_bed", "bed_silent", "monitoring_restarted"}


def _alarm(journal, bed: str, alarm_id: str, condition: str, onset_wall: float, signal: dict | None = "auto",
           seed: int = 0, t_wall: float | None = None) -> dict | None:
    """An onset event (with its signal) recorded as the station does; the signal."""
    if signal == "auto":
        signal = _signal(seed)
    event = {"type": "alert", "event": "onset", "id": alarm_id, "condition": condition,
             "pattern": None if condition in TECHNICAL else condition,
             "kind": "technical" if condition in TECHNICAL else "physiological", "priority": "medium",
             "t": 1000, "onset_t": 1000.0, "rr_bpm": 14.0, "confidence": 0.9, "model_version": "biatgru@abc1234",
             "onset": datetime.fromtimestamp(onset_wall, timezone.utc).isoformat().replace("+00:00", "Z"),
             "signal": signal}
    journal.record_alert(bed, event, onset_wall if t_wall is None else t_wall, onset_wall + 0.1)
    return signal


def _verdict(journal, bed: str, alarm_id: str, at_wall: float, verdict: str, pattern: str | None = None,
             note: str = "", operator: str = "a.martin") -> None:
    journal.record_action(at_wall, operator, "verdict", bed, alarm_id,
                          {"verdict": verdict, "pattern": pattern, "note": note})


# -- the rules, on a fixed night -----------------------------------------------------------------------------
@pytest.fixture
def night(paris, journal_url):
    """Night of 14 January 2027, Paris: bed-1 and bed-2's alarms, verdicts and vitals."""
    journal = open_journal(journal_url)
    d22 = _local(2027, 1, 14, 22, 0)
    signals = {}
    add = (lambda bed, alarm_id, condition, onset, **kw:
           signals.__setitem__((bed, alarm_id), _alarm(journal, bed, alarm_id, condition, onset,
                                                       seed=len(signals), **kw)))
    add("bed-1", "early", "central_apnea", _local(2027, 1, 14, 10, 0))  # before the span
    _verdict(journal, "bed-1", "early", _local(2027, 1, 14, 10, 5), "confirmed")
    add("bed-1", "a1", "central_apnea", _local(2027, 1, 14, 23, 0))
    _verdict(journal, "bed-1", "a1", _local(2027, 1, 14, 23, 5), "confirmed", note="clear apnea")
    add("bed-1", "a2", "tachypnea", _local(2027, 1, 14, 23, 30))
    _verdict(journal, "bed-1", "a2", _local(2027, 1, 14, 23, 35), "false_alarm", note="talking", operator="b.roy")
    journal.record_alert("bed-1", {"type": "alert", "event": "update", "id": "a2", "condition": "tachypnea",
                                   "kind": "physiological", "priority": "medium", "t": 1010, "onset_t": 1000.0,
                                   "model_version": "biatgru@later"}, _local(2027, 1, 14, 23, 31), 0)
    add("bed-1", "a3", "bradypnea", _local(2027, 1, 15, 1, 0))
    _verdict(journal, "bed-1", "a3", _local(2027, 1, 15, 1, 5), "false_alarm", "noise")
    add("bed-1", "a4", "biots", _local(2027, 1, 15, 2, 0))
    _verdict(journal, "bed-1", "a4", _local(2027, 1, 15, 2, 5), "other_pattern", "cheyne_stokes")
    add("bed-1", "a5", "cheyne_stokes", _local(2027, 1, 15, 3, 0))  # conflicting: the latest wins
    _verdict(journal, "bed-1", "a5", _local(2027, 1, 15, 3, 5), "confirmed", note="CS", operator="a.martin")
    _verdict(journal, "bed-1", "a5", _local(2027, 1, 15, 7, 0), "other_pattern", "biots", "on review", "c.dupont")
    a6 = _local(2027, 1, 15, 4, 0)  # received three times (a restart resent it), judged twice alike
    add("bed-1", "a6", "central_apnea", a6)
    _alarm(journal, "bed-1", "a6", "central_apnea", a6, signal=signals[("bed-1", "a6")], t_wall=a6 + 2)
    _alarm(journal, "bed-1", "a6", "central_apnea", a6, signal=signals[("bed-1", "a6")])
    _verdict(journal, "bed-1", "a6", a6 + 60, "confirmed")
    _verdict(journal, "bed-1", "a6", a6 + 61, "confirmed")
    add("bed-1", "t1", "camera_lost", _local(2027, 1, 15, 5, 0), signal=None)  # technical: skipped
    _verdict(journal, "bed-1", "t1", _local(2027, 1, 15, 5, 5), "confirmed")
    add("bed-1", "t2", "low_signal_quality", _local(2027, 1, 15, 5, 30))
    add("bed-1", "n1", "central_apnea", _local(2027, 1, 15, 6, 0))  # nobody judged it
    add("bed-2", "b1", "tachypnea", _local(2027, 1, 15, 11, 59, 59))  # still the night of the 14th
    _verdict(journal, "bed-2", "b1", _local(2027, 1, 15, 12, 30), "confirmed")
    add("bed-2", "b2", "tachypnea", _local(2027, 1, 15, 12, 0, 0))  # the night of the 15th
    _verdict(journal, "bed-2", "b2", _local(2027, 1, 15, 12, 31), "confirmed")
    # bed-1's vitals: a 1 s row each second 22:00-23:00, the first half hour folded to 30 minute
    # rows; rows just outside the night (11:59:59 on the 14th, 12:00:00 on the 15th) do not count.
    rows = [("bed-1", d22 + s, 14.0, "breathing", 0.9) for s in range(3600)]
    rows += [("bed-1", _local(2027, 1, 14, 11, 59, 59), 14.0, "breathing", 0.9),
             ("bed-1", _local(2027, 1, 15, 12, 0, 0), 14.0, "breathing", 0.9),
             ("bed-2", _local(2027, 1, 15, 13, 0), 12.0, "breathing", 0.9)]
    journal.add_vitals(rows)
    journal.compact(d22 + 1800 + 86400, 86400, 3650 * 86400)
    yield journal, signals
    journal.close()


def test_each_judged_alarm_is_one_window_labelled_by_the_rules(night, tmp_path):
    journal, signals = night
    since, until = _local(2027, 1, 14, 12, 0), _local(2027, 1, 16, 0, 0)
    rows = export_labels(journal, since, until)
    assert [(r.bed, r.alarm_id, r.pattern) for r in rows] == [
        ("bed-1", "a1", "central_apnea"),  # confirmed: the condition
        ("bed-1", "a2", "eupnea"),  # false alarm naming nothing
        ("bed-1", "a3", "noise"),  # false alarm naming a pattern
        ("bed-1", "a4", "cheyne_stokes"),  # other pattern
        ("bed-1", "a5", "biots"),  # conflicting: the latest
        ("bed-1", "a6", "central_apnea"),  # one row, however often received and judged
        ("bed-2", "b1", "tachypnea"),
        ("bed-2", "b2", "tachypnea"),
    ]
    assert (rows.technical, rows.not_judged) == (2, 1)
    by_id = {r.alarm_id: r for r in rows}
    assert by_id["a5"].conflict and by_id["a5"].operator == "c.dupont" and by_id["a5"].note == "on review"
    assert [(e["verdict"], e["label"], e["operator"]) for e in by_id["a5"].earlier_verdicts] == [
        ("confirmed", "cheyne_stokes", "a.martin")]
    assert not by_id["a6"].conflict and len(by_id["a6"].earlier_verdicts) == 1
    assert not any(r.conflict for r in rows if r.alarm_id != "a5")
    assert [r.night for r in rows] == ["2027-01-14"] * 7 + ["2027-01-15"]
    assert by_id["a1"].night_hours == 1.0  # 1800 1 s rows / 3600 + 30 1 min rows / 60
    assert by_id["b1"].night_hours == 0.0
    assert by_id["b2"].night_hours == round(1 / 3600, 6)
    assert "2 technical, 1 not judged" in summary(rows) and "from 2 beds, 2 nights" in summary(rows)

    out = tmp_path / "labels.csv"
    write_export(out, rows)
    windows, truth = read_signal_rows(out, "first-column")
    assert list(truth + 1) == [label_of(r.pattern) for r in rows]
    for window, row in zip(windows, rows):
        assert window.tolist() == signals[(row.bed, row.alarm_id)]["mm"]  # exactly what the classifier saw
    lines = [json.loads(line) for line in (tmp_path / "labels.jsonl").read_text().splitlines()]
    assert [(x["bed"], x["alarm_id"], x["label"]) for x in lines] == [(r.bed, r.alarm_id, r.pattern) for r in rows]
    a2 = lines[1]
    assert {k: a2[k] for k in ("condition", "operator", "verdict", "note", "model_version", "night",
                               "night_hours", "row_kind", "conflict")} == {
        "condition": "tachypnea", "operator": "b.roy", "verdict": "false_alarm", "note": "talking",
        "model_version": "biatgru@abc1234",  # the onset's, not the later model's
        "night": "2027-01-14", "night_hours": 1.0, "row_kind": "alarm",
        "conflict": False}
    assert a2["onset_wall"] == _local(2027, 1, 14, 23, 30) and a2["verdict_wall"] == _local(2027, 1, 14, 23, 35)
    assert not list(tmp_path.glob(".*"))  # no temporary file left


def test_nights_turn_at_local_noon(paris):
    assert night_of(_local(2027, 1, 15, 11, 59, 59)) == "2027-01-14"
    assert night_of(_local(2027, 1, 15, 12, 0)) == "2027-01-15"
    assert night_span("2027-03-27") == (_local(2027, 3, 27, 12), _local(2027, 3, 28, 12))  # 23 h: DST began
    start, end = night_span("2027-03-27")
    assert end - start == 23 * 3600 and night_of(end - 1) == "2027-03-27"


def test_a_minute_with_1s_rows_counts_those_only(journal_url):
    journal = open_journal(journal_url)
    try:
        t0 = 1_800_000_000.0  # a minute start
        journal.add_vitals([("bed-1", t0 + s, 14.0, "breathing", 0.9) for s in range(180)])
        journal.compact(t0 + 120 + 3600, 3600, 86400 * 3650)  # the first two minutes folded
        journal.add_vitals([("bed-1", t0 + 5, 14.0, "breathing", 0.9)])  # late, into a folded minute
        assert journal.vitals_rows("bed-1", t0, t0 + 180) == (61, 1)
        assert journal.vitals_rows("bed-1", t0, t0 + 60) == (1, 0)
        assert journal.vitals_rows("bed-2", t0, t0 + 180) == (0, 0)
    finally:
        journal.close()


# -- the command ---------------------------------------------------------------------------------------------
def _now_journal(path, **bad):
    """A journal with two judged alarms in the last hours and, per `bad`, one that cannot be exported."""
    journal = open_journal(f"sqlite:///{path}")
    now = time.time()
    _alarm(journal, "bed-1", "g1", "central_apnea", now - 3 * 3600)
    _verdict(journal, "bed-1", "g1", now - 3 * 3600 + 60, "confirmed")
    _alarm(journal, "bed-2", "g2", "tachypnea", now - 2 * 3600, seed=1)
    _verdict(journal, "bed-2", "g2", now - 2 * 3600 + 60, "false_alarm")
    if bad:
        _alarm(journal, "bed-3", "x9", bad.get("condition", "biots"), now - 3600, signal=bad.get("signal", "auto"))
        _verdict(journal, "bed-3", "x9", now - 3500, bad.get("verdict", "confirmed"), bad.get("pattern"))
    journal.close()


def test_the_command_writes_the_csv_and_its_sidecar(tmp_path):
    _now_journal(tmp_path / "station.db")
    (tmp_path / "station.yaml").write_text("journal:\n  url: sqlite:///station.db\n")
    out = tmp_path / "out" / "labels.csv"
    out.parent.mkdir()
    for spec in (tmp_path / "station.yaml", f"sqlite:///{tmp_path / 'station.db'}", tmp_path / "station.db"):
        code, stdout, stderr = run_cli("labels", "export", "--journal", spec, "--since", "12h", "--out", out)
        assert code == 0, stderr
        assert stdout == "" and len(stderr.splitlines()) == 1
        assert "2 rows (eupnea 1, central_apnea 1) from 2 beds" in stderr and "skipped 0 technical" in stderr
        windows, truth = read_signal_rows(out, "first-column")
        assert list(truth + 1) == [label_of("central_apnea"), label_of("eupnea")] and len(windows[0]) == 600
        lines = (tmp_path / "out" / "labels.jsonl").read_text().splitlines()
        assert [json.loads(x)["alarm_id"] for x in lines] == ["g1", "g2"]
    code, _, stderr = run_cli("labels", "export", "--journal", tmp_path / "station.db", "--since", "90m",
                              "--out", out)
    assert code == 0 and "0 rows (none)" in stderr and out.read_text() == ""


def test_an_alarm_raised_before_a_whole_minute_of_signal_is_skipped_and_counted(tmp_path):
    # A central apnea 40 s after the monitor started: its onset carries the 40 s there were.
    _now_journal(tmp_path / "station.db", condition="central_apnea", signal=_signal(0, n=400))
    out = tmp_path / "labels.csv"
    code, _, stderr = run_cli("labels", "export", "--journal", tmp_path / "station.db", "--since", "12h",
                              "--out", out)
    assert code == 0, stderr
    assert "2 rows (eupnea 1, central_apnea 1)" in stderr and "1 raised before a whole minute of signal" in stderr
    assert len(out.read_text().splitlines()) == 2


def _refused(*argv) -> str:
    code, stdout, stderr = run_cli("labels", "export", *map(str, argv))
    assert code == 2 and stdout == "", stderr
    assert len(stderr.splitlines()) == 1, stderr
    return stderr


@pytest.mark.parametrize("bad, says", [
    ({"verdict": "other_pattern", "pattern": "hiccups"}, "names 'hiccups', not a breathing pattern"),
    ({"verdict": "false_alarm", "pattern": "snoring"}, "names 'snoring'"),
    ({"condition": "hypopnea"}, "its condition 'hypopnea' is not a breathing pattern"),
    ({"verdict": "other_pattern"}, "other_pattern names no pattern"),
    ({"verdict": "maybe"}, "unknown verdict 'maybe'"),
    ({"signal": None}, "no signal"),
    ({"signal": _signal(0, n=601)}, "601 samples, not 600"),
    ({"signal": {**_signal(0), "mm": []}}, "0 samples, not 600"),
    ({"signal": {**_signal(0, n=599), "mm": _signal(0, n=598)["mm"] + [float("nan")]}}, "599 samples, not 600"),
    ({"signal": _signal(0, n=1200, rate_hz=20.0)}, "20.0 Hz, not 10 Hz"),
    ({"signal": {**_signal(0), "mm": [None] + _signal(0)["mm"][1:]}}, "sample 1 is not a finite number"),
])
def test_the_whole_export_is_refused_on_an_alarm_it_cannot_label(tmp_path, bad, says):
    _now_journal(tmp_path / "station.db", **bad)
    out = tmp_path / "labels.csv"
    out.write_text("an earlier export\n")
    stderr = _refused("--journal", tmp_path / "station.db", "--since", "12h", "--out", out)
    assert stderr.startswith("respmon: error: bed bed-3 alarm x9: ") and says in stderr, stderr
    assert out.read_text() == "an earlier export\n"  # untouched
    assert not (tmp_path / "labels.jsonl").exists() and not list(tmp_path.glob(".labels*"))


def test_a_journal_it_cannot_read_is_refused(tmp_path):
    out = tmp_path / "labels.csv"
    text = tmp_path / "x.db"
    text.write_text("not a database\n")
    for spec in (text, f"sqlite:///{text}"):
        assert "not a SQLite database" in _refused("--journal", spec, "--since", "12h", "--out", out)
    assert "no such file" in _refused("--journal", tmp_path / "none.db", "--since", "12h", "--out", out)
    assert not (tmp_path / "none.db").exists()  # not created by looking
    assert "config file not found" in _refused("--journal", tmp_path / "none.yaml", "--since", "12h", "--out", out)
    newer = tmp_path / "newer.db"
    open_journal(f"sqlite:///{newer}").close()
    with sqlite3.connect(newer) as db:
        db.execute("INSERT INTO schema_migrations (version, applied_at) VALUES (99, 0)")
    db.close()
    assert "schema version 99 is newer" in _refused("--journal", newer, "--since", "12h", "--out", out)
    assert "cannot connect" in _refused("--journal", "postgresql://nobody@127.0.0.1:1/none?connect_timeout=1",
                                        "--since", "12h", "--out", out)
    assert not out.exists()


def test_bad_arguments_are_refused(tmp_path):
    _now_journal(tmp_path / "station.db")
    journal = tmp_path / "station.db"
    assert "--out must end in .csv" in _refused("--journal", journal, "--since", "12h", "--out", tmp_path / "l.txt")
    assert "no folder" in _refused("--journal", journal, "--since", "12h", "--out", tmp_path / "none" / "l.csv")
    assert "--since" in _refused("--journal", journal, "--since", "12", "--out", tmp_path / "l.csv")
    assert "required" in _refused("--journal", journal, "--out", tmp_path / "l.csv")
    code, _, stderr = run_cli("labels")
    assert code == 2 and len(stderr.splitlines()) == 1 and "required" in stderr


def test_label_error_is_a_usage_error():
    from respmon.errors import UsageError

    assert issubclass(LabelError, UsageError) and LabelError.exit_code == 2
