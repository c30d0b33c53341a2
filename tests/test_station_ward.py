"""The ward's pure core (respmon.station.ward): what the station shows for each bed and alarm, driven
with messages shaped as docs/messages.md's and operator actions, on a given clock."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from respmon.alerts.engine import iso_utc
from respmon.station.ward import BED_SILENT, Verdict, Ward, check_verdict

T0 = 1_800_000_000.0


def alert(bed="bed-1", event="onset", id="a1", condition="central_apnea", priority="high",
          kind="physiological", onset=T0, time=T0, **extra):
    return {"type": "alert", "event": event, "id": id, "bed": bed, "condition": condition, "kind": kind,
            "priority": priority, "t": 100.0, "onset_t": 90.0, "onset": iso_utc(onset), "confidence": 1.0,
            "rr_bpm": None, "evidence": {}, "model_version": "m1", "time": time, "pattern": None, **extra}


def shown_ids(ward, bed=None):
    return [a.id for a in ward.sorted_alarms(bed)]


def test_onset_shows_on_its_bed_with_its_onset_time():
    ward = Ward(["bed-1", "bed-2"])
    changes = ward.alert(alert(onset=T0 - 20), T0)
    assert [c.event for c in changes] == ["alarm", "bed"]
    assert changes[0].data["onset"] == pytest.approx(T0 - 20, abs=1e-3)
    assert ward.bed_view("bed-1", T0)["alarm"]["id"] == "a1"
    assert ward.bed_view("bed-2", T0)["alarm"] is None


def test_unknown_bed_is_ignored():
    ward = Ward(["bed-1"])
    assert ward.alert(alert(bed="bed-9"), T0) == []
    assert ward.alarms == {}


def test_high_priority_latches_until_acknowledged():
    ward = Ward(["bed-1"])
    ward.alert(alert(), T0)
    changes = ward.alert(alert(event="clear", time=T0 + 30), T0 + 30)
    assert changes[0].event == "alarm" and changes[0].data["latched"] and not changes[0].data["active"]
    assert shown_ids(ward) == ["a1"]
    changes = ward.acknowledge("bed-1", "a1", "nurse", T0 + 40)
    assert changes[0].event == "alarm_removed"
    assert shown_ids(ward) == []


def test_medium_and_low_do_not_latch_by_default_but_can():
    ward = Ward(["bed-1"])
    ward.alert(alert(id="m", priority="medium", condition="camera_lost", kind="technical"), T0)
    changes = ward.alert(alert(id="m", event="clear", priority="medium"), T0 + 5)
    assert changes[0].event == "alarm_removed"
    latching = Ward(["bed-1"], latch="high_medium")
    latching.alert(alert(id="m", priority="medium"), T0)
    latching.alert(alert(id="m", event="clear", priority="medium"), T0 + 5)
    assert shown_ids(latching) == ["m"]
    none = Ward(["bed-1"], latch="none")
    none.alert(alert(), T0)
    none.alert(alert(event="clear"), T0 + 5)
    assert shown_ids(none) == []


def test_acknowledge_pauses_audio_keeps_an_active_alarm_shown():
    ward = Ward(["bed-1"], audio_pause_s=120)
    ward.alert(alert(), T0)
    view = ward.acknowledge("bed-1", "a1", "nurse", T0 + 3)[0].data
    assert view["active"] and view["acknowledged_by"] == "nurse"
    assert view["silenced_until"] == pytest.approx(T0 + 123)
    assert shown_ids(ward) == ["a1"]


def test_alarms_sorted_by_priority_then_onset():
    ward = Ward(["bed-1", "bed-2"])
    ward.alert(alert(id="low", priority="low", condition="low_signal_quality", onset=T0 - 100), T0)
    ward.alert(alert(bed="bed-2", id="high-late", onset=T0 - 10), T0)
    ward.alert(alert(id="high-early", onset=T0 - 50), T0)
    ward.alert(alert(id="med", priority="medium", condition="camera_lost", onset=T0 - 200), T0)
    assert shown_ids(ward) == ["high-early", "high-late", "med", "low"]
    assert ward.bed_view("bed-1", T0)["alarm"]["id"] == "high-early"


def test_snapshot_clears_what_the_bed_no_longer_has_and_adds_what_it_has():
    ward = Ward(["bed-1"])
    ward.alert(alert(id="gone", priority="medium", condition="camera_lost", kind="technical"), T0)
    snap = {"bed": "bed-1", "time": T0 + 60, "alerts": [alert(id="new", event="update")], "vitals": None}
    ward.snapshot(snap, T0 + 60)
    assert shown_ids(ward) == ["new"]
    assert ward.alarms[("bed-1", "new")].active


def test_an_update_after_its_clear_does_not_reopen():
    ward = Ward(["bed-1"], latch="none")
    ward.alert(alert(priority="low"), T0)
    ward.alert(alert(event="clear", priority="low"), T0 + 1)
    assert ward.alert(alert(event="update", priority="low"), T0 + 2) == []


def test_silent_bed_raises_a_station_alarm_cleared_when_heard_again():
    ward = Ward(["bed-1"])
    changes = ward.link("bed-1", "silent", "no message for 6 s", T0)
    alarm = next(c.data for c in changes if c.event == "alarm")
    assert alarm["condition"] == BED_SILENT and alarm["kind"] == "technical" and alarm["source"] == "station"
    assert ward.bed_view("bed-1", T0)["link"] == "silent"
    assert ward.link("bed-1", "silent", "no message for 6 s", T0 + 1) == []  # said once
    changes = ward.link("bed-1", "up", None, T0 + 10)
    assert changes[0].event == "alarm_removed"
    assert shown_ids(ward) == []


def test_stale_rate_is_not_shown_as_current():
    ward = Ward(["bed-1"])
    ward.vitals({"bed": "bed-1", "time": T0, "rr_bpm": 14.0, "state": "breathing", "quality": 0.9}, T0)
    assert ward.bed_view("bed-1", T0 + 2)["rr_bpm"] == 14.0
    view = ward.bed_view("bed-1", T0 + 30)
    assert view["rr_bpm"] is None and view["state"] is None and view["last_vitals"] == T0


def test_trend_is_10_s_means_of_the_last_15_minutes():
    ward = Ward(["bed-1"])
    for i in range(20 * 60):
        ward.vitals({"bed": "bed-1", "time": T0 + i, "rr_bpm": 10.0 + (i // 10) % 2, "state": "breathing"}, T0 + i)
    trend = ward.bed_view("bed-1", T0 + 1200)["trend"]
    assert len(trend) == 91
    assert all(b[0] - a[0] == 10 for a, b in zip(trend, trend[1:]))
    assert {p[1] for p in trend} == {10.0, 11.0}


def test_verdict_recorded_on_the_alarm():
    ward = Ward(["bed-1"])
    ward.alert(alert(), T0)
    view = ward.record_verdict("bed-1", "a1", Verdict("false_alarm", None, "moved", "nurse", T0 + 5), T0 + 5)[0].data
    assert view["verdict"] == {"verdict": "false_alarm", "pattern": None, "note": "moved", "operator": "nurse",
                               "at": T0 + 5}


def test_alarms_no_one_acknowledged_are_named_for_a_bed_that_would_leave():
    ward = Ward(["bed-1", "bed-2"], latch="high")
    ward.alert(alert(bed="bed-2"), T0)
    assert [a.id for a in ward.unacknowledged(["bed-2"])] == ["a1"] and ward.unacknowledged(["bed-1"]) == []
    ward.acknowledge("bed-2", "a1", "nurse", T0 + 1)
    assert ward.unacknowledged(["bed-2"]) == []


def test_removed_bed_takes_its_alarms_away():
    ward = Ward(["bed-1", "bed-2"])
    ward.alert(alert(bed="bed-2"), T0)
    events = [c.event for c in ward.set_beds(["bed-1", "bed-3"])]
    assert "alarm_removed" in events and "bed_removed" in events
    assert list(ward.beds) == ["bed-1", "bed-3"] and ward.alarms == {}


@pytest.mark.parametrize("body,problem", [
    ([], "object"),
    ({"verdict": "maybe"}, "verdict must be"),
    ({"verdict": "other_pattern"}, "pattern must be"),
    ({"verdict": "other_pattern", "pattern": "hiccups"}, "pattern must be"),
    ({"verdict": "confirmed", "pattern": "eupnea"}, "only with other_pattern"),
    ({"verdict": "confirmed", "note": "x" * 1001}, "note"),
    ({"verdict": "confirmed", "note": "\x1b[2J"}, "note"),
    ({"verdict": "confirmed", "extra": 1}, "unknown field"),
])
def test_bad_verdicts_refused(body, problem):
    with pytest.raises(ValueError, match=problem):
        check_verdict(body)


def test_good_verdicts_pass():
    assert check_verdict({"verdict": "other_pattern", "pattern": "biots", "note": "irregular\nclusters"}) == (
        "other_pattern", "biots", "irregular\nclusters")
    assert check_verdict({"verdict": "false_alarm"}) == ("false_alarm", None, "")


EVENTS = st.lists(st.tuples(st.sampled_from(["bed-1", "bed-2"]), st.sampled_from(["a", "b", "c"]),
                            st.sampled_from(["onset", "update", "clear", "ack"]),
                            st.sampled_from(["high", "medium", "low"])), max_size=40)


@given(EVENTS)
def test_shown_alarms_are_exactly_active_or_latched_and_ordered(events):
    ward = Ward(["bed-1", "bed-2"])
    acked: set = set()
    for i, (bed, id_, event, priority) in enumerate(events):
        now = T0 + i
        if event == "ack":
            if ward.find(bed, id_) is not None:
                ward.acknowledge(bed, id_, "nurse", now)
                acked.add((bed, id_))
        else:
            ward.alert(alert(bed=bed, id=id_, event=event, priority=priority, onset=now, time=now), now)
    shown = ward.sorted_alarms()
    for a in shown:
        assert a.active or (a.priority == "high" and a.acknowledged_at is None)
    ranks = [(["high", "medium", "low"].index(a.priority), a.onset) for a in shown]
    assert ranks == sorted(ranks)
    # nothing hidden that should show: each alarm kept in the ward is shown
    assert {(a.bed, a.id) for a in shown} == set(ward.alarms)
