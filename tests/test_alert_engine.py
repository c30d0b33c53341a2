"""The alert engine's pure core, driven with per-second observations."""

from __future__ import annotations

import pytest

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from respmon.alerts.engine import CONDITIONS, AlertEngine, noisy_or
from respmon.config import default_config
from respmon.patterns import PATTERNS


def _engine(**overrides) -> AlertEngine:
    cfg = default_config().alerts
    for key, value in overrides.items():
        setattr(cfg, key, value)
    ids = itertools.count(1)
    return AlertEngine(cfg, "bed-7", "test@0", wall_clock=lambda: 1.7e9, new_id=lambda: f"id{next(ids)}")


def _probs(pattern: str | None, p: float = 0.9) -> dict | None:
    if pattern is None:
        return None
    rest = (1.0 - p) / (len(PATTERNS) - 1)
    return {name: (p if name == pattern else rest) for name in PATTERNS}


def obs(t, state="breathing", rr=14.0, since=1.0, pattern="eupnea", p=0.9, present=True, quality=0.9):
    return {"type": "window", "t": t, "state": state, "rr_bpm": rr, "quality": quality, "present": present,
            "seconds_since_breath": since, "pattern": pattern, "confidence": p, "probs": _probs(pattern, p)}


def run(engine, observations):
    events = []
    for o in observations:
        events += engine.observe(o)
    return events


def onsets(events, condition):
    return [e for e in events if e["condition"] == condition and e["event"] == "onset"]


def test_apnea_onset_at_the_delay_and_not_before():
    engine = _engine(apnea_delay_s=20.0)
    # Breathing until t=10, then no breath: seconds since the last breath grows by 1 each second.
    seq = [obs(t) for t in range(1, 11)] + [obs(t, state="apnea" if t - 10 > 10 else "breathing", rr=None,
                                                since=float(t - 10)) for t in range(11, 40)]
    events = run(engine, seq)
    [onset] = onsets(events, "central_apnea")
    assert onset["t"] == 30  # since == 20 s exactly
    assert onset["priority"] == "high" and onset["kind"] == "physiological"
    assert onset["evidence"]["seconds_without_breathing"] == 20.0
    assert onset["bed"] == "bed-7" and onset["model_version"] == "test@0" and onset["id"] == "id1"


def test_one_gasp_does_not_clear_apnea_but_resumed_breathing_does():
    engine = _engine(apnea_delay_s=20.0, apnea_clear_s=10.0)
    seq = [obs(t, state="apnea", rr=None, since=float(t)) for t in range(1, 25)]  # onset at t=20
    seq += [obs(25, since=0.5, rr=None)]  # one gasp: a breath, but no rate
    seq += [obs(t, state="apnea", rr=None, since=float(t - 25)) for t in range(26, 50)]
    events = run(engine, seq)
    assert [e["event"] for e in events if e["event"] != "update"] == ["onset"]
    seq2 = [obs(t, since=1.0) for t in range(50, 55)]
    seq2 += [obs(55, state="apnea", rr=None, since=11.0)]  # a breath missed while the signal settles
    seq2 += [obs(t, since=1.0) for t in range(56, 60)]
    assert not [e for e in run(engine, seq2) if e["event"] == "clear"]
    [clear] = [e for e in run(engine, [obs(60, since=1.0)]) if e["event"] == "clear"]
    assert clear["condition"] == "central_apnea" and clear["id"] == "id1" and clear["reason"]


def test_motion_neither_raises_nor_clears_apnea():
    engine = _engine()
    run(engine, [obs(t, state="apnea", rr=None, since=float(t)) for t in range(1, 22)])
    assert "central_apnea" in engine.active
    events = run(engine, [obs(t, state="motion", rr=None, since=None, pattern=None) for t in range(22, 80)])
    assert "central_apnea" in engine.active
    assert not [e for e in events if e["condition"] == "central_apnea" and e["event"] != "update"]


def test_tachypnea_needs_pattern_and_rate_for_the_validation_delay():
    engine = _engine(tachypnea_above_bpm=20.0, rate_validation_s=20.0)
    # The rate alone is not enough.
    assert not run(engine, [obs(t, rr=28.0, pattern="eupnea") for t in range(1, 60)])
    # Nor the pattern alone.
    assert not run(engine, [obs(t, rr=18.0, pattern="tachypnea") for t in range(60, 120)])
    events = run(engine, [obs(t, rr=28.0, pattern="tachypnea") for t in range(120, 160)])
    [onset] = onsets(events, "tachypnea")
    assert onset["t"] == 139 and onset["rr_bpm"] == 28.0 and 0.89 < onset["confidence"] <= 0.9


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(min_value=-1.9, max_value=1.9), min_size=100, max_size=300))
def test_a_rate_wobbling_inside_the_hysteresis_band_does_not_flap(wobble):
    engine = _engine(tachypnea_above_bpm=20.0, rate_hysteresis_bpm=2.0, rate_validation_s=10.0, clear_s=5.0)
    run(engine, [obs(t, rr=25.0, pattern="tachypnea") for t in range(1, 20)])
    assert "tachypnea" in engine.active
    events = run(engine, [obs(20 + i, rr=20.0 + w, pattern="tachypnea") for i, w in enumerate(wobble)])
    assert not [e for e in events if e["event"] in ("onset", "clear")]


def test_rate_alert_clears_once_back_past_the_hysteresis():
    engine = _engine(bradypnea_below_bpm=12.0, rate_hysteresis_bpm=2.0, rate_validation_s=10.0, clear_s=5.0)
    run(engine, [obs(t, rr=8.0, pattern="bradypnea") for t in range(1, 20)])
    assert "bradypnea" in engine.active
    events = run(engine, [obs(t, rr=15.0, pattern="eupnea") for t in range(20, 30)])
    [clear] = [e for e in events if e["event"] == "clear"]
    assert clear["t"] == 24 and clear["duration_s"] == 24 - 10


def test_pattern_alert_confidence_is_the_noisy_or_of_windows_a_hop_apart():
    engine = _engine(biots_sustain_s=20.0, pattern_evidence_hop_s=10.0, pattern_alert_confidence=0.9,
                     pattern_min_probability=0.5)
    # The signal stage timed a pause at the start (Biot's alerts need one within 60 s).
    events = run(engine, [obs(t, rr=None, pattern="biots", p=0.6, since=12.0 if t < 3 else 1.0)
                          for t in range(1, 40)])
    [onset] = onsets(events, "biots")
    # At t=20 the windows 10 s apart are t=20 and 10: 1 - 0.4**2 = 0.84 < 0.9. At t=21 there are
    # three (21, 11, 1): 0.936.
    assert onset["t"] == 21
    assert onset["confidence"] == round(noisy_or([0.6, 0.6, 0.6]), 4)


def test_biots_needs_a_pause_timed_by_the_signal_stage_within_a_minute():
    # The network alone, however sure, on a signal whose breaths never paused: no alarm.
    engine = _engine(biots_sustain_s=5.0, pattern_alert_confidence=0.9)
    assert not onsets(run(engine, [obs(t, rr=None, pattern="biots", p=0.99, since=2.0) for t in range(1, 120)]),
                      "biots")
    # A pause of 12 s at t=120, then the same evidence: the alarm comes.
    events = run(engine, [obs(t, rr=None, pattern="biots", p=0.99, since=12.0 if t == 120 else 2.0)
                          for t in range(120, 140)])
    assert onsets(events, "biots")
    # A pause more than a minute before the evidence does not count.
    late = _engine(biots_sustain_s=5.0, pattern_alert_confidence=0.9)
    run(late, [obs(1, since=12.0)] + [obs(t) for t in range(2, 70)])
    assert not onsets(run(late, [obs(t, rr=None, pattern="biots", p=0.99, since=2.0) for t in range(70, 90)]),
                      "biots")


@pytest.mark.parametrize("low_quality_delay_s, apnea_delay_s, expected_t", [(30.0, 20.0, 20), (10.0, 20.0, 10)])
def test_a_signal_on_which_no_pause_can_be_judged_raises_low_signal_quality(low_quality_delay_s, apnea_delay_s,
                                                                            expected_t):
    # A rate, but no pause judgement (too noisy to see an apnea): the monitor must say so, and
    # no later than an apnea alarm would have come (dev matrix scenes at 15 fps: the judgement
    # was lost 13 s into an apnea, and the 60 s delay let the apnea pass in silence).
    engine = _engine(low_quality_delay_s=low_quality_delay_s, apnea_delay_s=apnea_delay_s, technical_clear_s=5.0)
    run(engine, [obs(t, since=2.0) for t in range(1, 11)])  # judged for a while...
    events = run(engine, [obs(t, since=None) for t in range(11, 60)])  # ...then no longer
    [onset] = onsets(events, "low_signal_quality")
    assert onset["t"] == 10 + expected_t
    # Pauses judged again: it clears.
    events = run(engine, [obs(t) for t in range(40, 50)])
    assert [e["event"] for e in events if e["condition"] == "low_signal_quality"][-1] == "clear"


def test_weak_pattern_evidence_never_raises_an_alert():
    engine = _engine(pattern_alert_confidence=0.95, pattern_min_probability=0.5)
    assert not run(engine, [obs(t, rr=None, pattern="cheyne_stokes", p=0.52) for t in range(1, 30)])
    assert not run(engine, [obs(t, rr=None, pattern="cheyne_stokes", p=0.45) for t in range(30, 300)])


def test_camera_lost_is_technical_and_clears_when_frames_return():
    engine = _engine(technical_clear_s=5.0)
    events = run(engine, [obs(t) for t in range(1, 5)] + [obs(t, state="lost", rr=None, since=None, pattern=None)
                                                          for t in range(5, 9)])
    [onset] = onsets(events, "camera_lost")
    assert onset["t"] == 5 and onset["kind"] == "technical" and onset["pattern"] is None
    events = run(engine, [obs(t) for t in range(9, 14)])
    assert [e["event"] for e in events if e["condition"] == "camera_lost"] == ["clear"]


def test_empty_bed_raises_nobody_in_bed_and_ends_the_patients_alerts():
    engine = _engine(absent_delay_s=10.0)
    run(engine, [obs(t, state="apnea", rr=None, since=float(t)) for t in range(1, 25)])
    events = run(engine, [obs(t, state="absent", rr=None, since=None, pattern=None, present=False)
                          for t in range(25, 40)])
    assert [(e["condition"], e["event"]) for e in events if e["event"] != "update"] == [
        ("nobody_in_bed", "onset"), ("central_apnea", "clear")]
    assert [e for e in events if e["event"] == "clear"][0]["reason"] == "nobody in bed"


def test_a_signal_not_yet_judged_gets_the_whole_low_quality_delay_to_settle():
    # Pauses are judged only after 10 confident seconds: a chest just found is not a lost judgement.
    engine = _engine(low_quality_delay_s=60.0, apnea_delay_s=20.0)
    events = run(engine, [obs(t, state="searching", rr=None, since=None, pattern=None) for t in range(1, 5)])
    events += run(engine, [obs(t, since=None) for t in range(5, 64)])
    assert [e["t"] for e in onsets(events, "low_signal_quality")] == [60]  # 60 s unusable, not 20


def test_a_chest_lost_after_it_was_found_waits_the_whole_low_quality_delay():
    engine = _engine(low_quality_delay_s=60.0, apnea_delay_s=20.0)
    run(engine, [obs(t) for t in range(1, 5)])  # found, breathing
    events = run(engine, [obs(t, state="searching", rr=None, since=None, pattern=None) for t in range(5, 64)])
    assert not onsets(events, "low_signal_quality")
    assert onsets(run(engine, [obs(64, state="searching", rr=None, since=None, pattern=None)]), "low_signal_quality")


@pytest.mark.parametrize("apnea_delay_s, first_search_s, expected_t", [(20.0, 19.0, 20), (20.0, 31.0, 31),
                                                                       (45.0, 19.0, 45)])
def test_nothing_breathing_found_since_the_start_is_said_as_fast_as_an_apnea_would_be(apnea_delay_s, first_search_s,
                                                                                      expected_t):
    # A monitor started beside a motionless person searches and finds no chest: it says so after
    # the apnea delay (or the first search, if that takes longer), not after low_quality_delay_s.
    engine = _engine(low_quality_delay_s=60.0, apnea_delay_s=apnea_delay_s)
    engine.first_search_s = first_search_s
    events = run(engine, [obs(t, state="searching", rr=None, since=None, pattern=None) for t in range(1, 70)])
    assert [e["t"] for e in onsets(events, "low_signal_quality")] == [expected_t]


def test_irregular_breathing_is_not_low_signal_quality():
    engine = _engine(low_quality_delay_s=30.0)
    events = run(engine, [obs(t, rr=None, pattern="biots") for t in range(1, 100)])
    assert not onsets(events, "low_signal_quality")
    events = run(engine, [obs(t, state="searching", rr=None, since=None, pattern=None) for t in range(100, 140)])
    assert onsets(events, "low_signal_quality")[0]["t"] == 129


_states = st.sampled_from(["breathing", "apnea", "motion", "absent", "searching", "lost"])
_obs = st.builds(
    lambda state, rr, since, pattern, p: {**obs(0, state=state, rr=rr, since=since, pattern=pattern, p=p),
                                          "present": state not in ("absent", "searching", "lost")},
    _states, st.one_of(st.none(), st.floats(3, 60)), st.one_of(st.none(), st.floats(0, 90)),
    st.one_of(st.none(), st.sampled_from(PATTERNS)), st.floats(0.15, 1.0))


@settings(max_examples=80, deadline=None)
@given(st.lists(_obs, min_size=1, max_size=400))
def test_every_alert_has_a_lifecycle(observations):
    engine = _engine(rate_validation_s=3.0, biots_sustain_s=3.0, cheyne_stokes_sustain_s=3.0, clear_s=3.0, absent_delay_s=2.0,
                     low_quality_delay_s=10.0, technical_clear_s=2.0)
    events = run(engine, [{**o, "t": t} for t, o in enumerate(observations, start=1)])
    open_ids: dict[str, str] = {}
    seen_ids = set()
    for e in events:
        assert e["condition"] in CONDITIONS and e["bed"] == "bed-7"
        if e["event"] == "onset":
            assert e["condition"] not in open_ids and e["id"] not in seen_ids
            open_ids[e["condition"]] = e["id"]
            seen_ids.add(e["id"])
        else:
            assert open_ids.get(e["condition"]) == e["id"]
            if e["event"] == "clear":
                del open_ids[e["condition"]]
    assert set(open_ids) == set(engine.active)
    assert {a["id"] for a in engine.active_alerts()} == set(open_ids.values())


@given(st.lists(st.floats(0, 1), min_size=1, max_size=20))
def test_noisy_or_is_at_least_the_strongest_evidence(ps):
    combined = noisy_or(ps)
    assert max(ps) - 1e-12 <= combined <= 1.0


def test_a_source_that_comes_back_to_no_breathing_is_said_as_fast_as_a_start():
    engine = _engine(low_quality_delay_s=60.0, apnea_delay_s=20.0, technical_clear_s=0.0)
    engine.first_search_s = 19.0
    run(engine, [obs(t) for t in range(1, 30)])
    run(engine, [{"type": "window", "t": t, "state": "lost"} for t in range(30, 100)])
    events = run(engine, [obs(t, state="searching", rr=None, since=None, pattern=None) for t in range(100, 170)])
    assert [e["t"] for e in onsets(events, "low_signal_quality")] == [119]
