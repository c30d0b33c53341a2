"""`respmon simulate beds`: cheap synthetic beds that publish what bed daemons publish, their alarms
raised by the real alert engine (sim/ward.py makes the windows, respmon/simulate_cmd.py publishes)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from types import SimpleNamespace

import numpy as np
import pytest

from respmon.config import default_config
from respmon.daemon.bedside import VITALS_FIELDS, Bedside
from respmon.publish.schema import check_message, check_snapshot
from respmon.publish.zmq_pub import receive, request_snapshot, subscriber
from respmon.simulate_cmd import SimulatedWard, run_beds
from respmon.sim.ward import BedPlan, SimulatedBed, parse_ward_script, plan_ward, windows
from tests.conftest import REPO, free_ports, run_cli

APNEA_SCRIPT = "eupnea@14:90,central_apnea:40,eupnea:90"


def _bedside(bed: SimulatedBed) -> Bedside:
    config = default_config()
    config.bed.name = bed.name
    return Bedside(config, "simulated", signal=bed.recent_signal_mm)


# The pure part: scripts to windows.

def test_the_windows_are_deterministic_and_shaped_like_the_monitors():
    plan = plan_ward(3, seed=7)[1]
    first, again = windows(plan, 400), windows(plan, 400)
    assert first == again
    assert windows(plan_ward(3, seed=8)[1], 400) != first
    assert [w["t"] for w in first] == list(range(1, 401))
    for window in first:
        assert set(VITALS_FIELDS) <= set(window)
        assert window["state"] in ("breathing", "apnea", "motion", "absent", "searching")
    assert {w["state"] for w in first} >= {"searching", "breathing"}
    tracked = [w for w in first if w["state"] in ("breathing", "apnea")]
    assert all(w["displacement_mm"] is not None and w["present"] for w in tracked)
    assert any(w["pattern"] is not None and abs(sum(w["probs"].values()) - 1) < 1e-3 for w in tracked)


def test_beds_start_at_different_points_of_the_script():
    plans = plan_ward(8, seed=1)
    assert [p.name for p in plans] == [f"bed-{i}" for i in range(1, 9)]
    assert len({p.offset_s for p in plans}) == 8 and len({p.seed for p in plans}) == 8
    assert plan_ward(8, seed=1) == plans and plan_ward(8, seed=2) != plans
    assert [p.name for p in plan_ward(2, prefix="icu-")] == ["icu-1", "icu-2"]


@pytest.mark.parametrize("script, fragment", [
    ("", "empty"), ("eupnea:10,,absent:5", "empty segment"), ("snoring:10", "unknown name"),
    ("eupnea@70:10", "rate must be"), ("central_apnea@10:20", "no breathing rate"), ("eupnea:0", "duration"),
    ("eupnea:nan", "finite"), ("eupnea", "expected NAME"),
])
def test_bad_scripts_are_named(script, fragment):
    with pytest.raises(ValueError, match=fragment):
        parse_ward_script(script)


def test_an_apnea_segment_makes_the_real_engine_raise_central_apnea_with_its_signal():
    bed = SimulatedBed(BedPlan("bed-1", parse_ward_script(APNEA_SCRIPT)))
    bedside = _bedside(bed)
    events = [e for _ in range(220) for e in bedside.window(bed.step())]
    apnea = [e for e in events if e["condition"] == "central_apnea"]
    onset, clear = apnea[0], apnea[-1]
    assert [e["condition"] for e in events if e["event"] == "onset"] == ["central_apnea"]
    assert onset["event"] == "onset" and clear["event"] == "clear" and clear["id"] == onset["id"]
    assert 90 + 20 - 60 / 14 <= onset["t"] <= 90 + 20 + 1  # apnea_delay_s after the last breath
    assert 130 < clear["t"] <= 130 + 20 and "signal" not in clear
    signal_mm = np.asarray(onset["signal"]["mm"])
    assert onset["signal"]["rate_hz"] == 10.0 and onset["signal"]["end_t"] == onset["t"] and len(signal_mm) == 600
    assert np.ptp(signal_mm[-150:]) < 0.5  # the apnea: flat but for the noise
    assert np.ptp(signal_mm[:300]) > 5.0  # 30 s of breaths before it
    assert np.sum(np.diff(np.sign(signal_mm[:300])) != 0) >= 2 * 6  # 14 bpm: 7 breaths in 30 s
    assert bedside.active_alerts() == []


def test_the_default_mix_shows_every_alarm_within_minutes():
    config = default_config()
    onsets = set()
    for plan in plan_ward(8, seed=0):
        bed = SimulatedBed(plan)
        engine = Bedside(SimpleNamespace(bed=SimpleNamespace(name=plan.name), alerts=config.alerts,
                                         region=config.region), "simulated").engine
        for _ in range(300):
            onsets |= {e["condition"] for e in engine.observe(bed.step()) if e["event"] == "onset"}
    assert onsets >= {"central_apnea", "tachypnea", "bradypnea", "nobody_in_bed", "low_signal_quality"}


def test_a_forced_segment_plays_now_and_the_script_goes_on_after_it():
    bed = SimulatedBed(BedPlan("bed-1", parse_ward_script("eupnea:1000")))
    for _ in range(30):
        bed.step()
    assert bed.force(parse_ward_script("absent:5")[0]) == 31
    assert [bed.step()["state"] for _ in range(6)] == ["absent"] * 5 + ["searching"]


# Published: loopback, plain text.

def _collect(sub, until, timeout_s: float) -> list[dict]:
    got, deadline = [], time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        item = receive(sub, 100)
        if item is not None:
            got.append(item[1])
            if until(got):
                return got
    raise AssertionError(f"not received within {timeout_s} s; got {len(got)} messages")


def _all_stopping(got: list[dict]) -> bool:
    return {m["bed"] for m in got if m.get("state") == "stopping"} == {"bed-1", "bed-2", "bed-3"}


def test_three_beds_publish_vitals_an_apnea_onset_and_answer_snapshots():
    port = free_ports(6)
    sent = []
    ward = run_beds(3, f"tcp://127.0.0.1:{port}", script="eupnea:600", seed=3, speed=10.0, insecure=True,
                    on_alert=sent.append)
    try:
        assert ward.endpoints("bed-2") == (f"tcp://127.0.0.1:{port + 2}", f"tcp://127.0.0.1:{port + 3}")
        sub = subscriber([ward.endpoints(bed)[0] for bed in ("bed-1", "bed-2", "bed-3")], [""])
        # bed-2's pauses are judged: an apnea from now on is timed from its last breath
        got = _collect(sub, lambda got: {m["bed"] for m in got if m["type"] == "vitals"} == {"bed-1", "bed-2", "bed-3"}
                       and any(m["type"] == "vitals" and m["bed"] == "bed-2" and m["seconds_since_breath"] is not None
                               for m in got), 8.0)
        forced_t = ward.force("bed-2", "central_apnea:60")
        forced_wall = time.time()
        got += _collect(sub, lambda got: any(m["type"] == "alert" and m["event"] == "onset" for m in got), 6.0)
        for message in got:
            check_message(message)
        (onset,) = [m for m in got if m["type"] == "alert"]
        assert (onset["bed"], onset["condition"], onset["priority"]) == ("bed-2", "central_apnea", "high")
        # apnea_delay_s (20 s) after the last breath, which came up to a breath interval before
        assert forced_t + 20 - 60 / 12 <= onset["t"] <= forced_t + 21
        assert np.ptp(onset["signal"]["mm"][-100:]) < 0.5 and len(onset["signal"]["mm"]) >= 150
        assert {m["state"] for m in got if m["type"] == "heartbeat"} <= {"searching", "breathing", "apnea"}
        snapshot = request_snapshot(ward.endpoints("bed-2")[1], timeout_s=2.0, checked=True)
        check_snapshot(snapshot)
        ((alarm),) = snapshot["alerts"]
        assert alarm["id"] == onset["id"] and alarm["signal"] == onset["signal"]
        assert request_snapshot(ward.endpoints("bed-1")[1], timeout_s=2.0)["alerts"] == []
        # the wall time each alert went out
        (published,) = [a for a in ward.alerts if a.event == "onset"]
        assert published == sent[0] and published.alarm_id == onset["id"] and published.wall_s == onset["time"]
        assert forced_wall + 1.4 < published.wall_s < forced_wall + 4.0  # 15-21 s at 10x
    finally:
        ward.stop()
    last = _collect(sub, _all_stopping, 3.0)
    assert all(m["type"] == "heartbeat" for m in last if m.get("state") == "stopping")
    sub.close(linger=0)


def test_curve_beds_make_their_keys_and_let_in_only_allowed_clients(tmp_path):
    from respmon.publish.security import ClientSecurity, create_key_pair, load_key_pair, load_public_key

    keys = tmp_path / "keys"
    create_key_pair(keys, "station", authorize=True)
    port = free_ports(4)
    with SimulatedWard.create(2, f"tcp://127.0.0.1:{port}", speed=5.0, keys_dir=keys).start() as ward:
        assert (keys / "bed-1.key_secret").exists() and (keys / "bed-2.key").exists()
        station = load_key_pair(keys / "station.key_secret")
        allowed = subscriber(ward.endpoints("bed-2")[0], [""],
                             security=ClientSecurity(station, load_public_key(keys / "bed-2.key")))
        create_key_pair(tmp_path / "other", "stranger")
        stranger = subscriber(ward.endpoints("bed-2")[0], [""], security=ClientSecurity(
            load_key_pair(tmp_path / "other" / "stranger.key_secret"), load_public_key(keys / "bed-2.key")))
        assert _collect(allowed, lambda got: any(m["type"] == "vitals" for m in got), 5.0)[0]["bed"] == "bed-2"
        assert receive(stranger, 500) is None
    allowed.close(linger=0)
    stranger.close(linger=0)


def test_the_command_publishes_until_sigterm(tmp_path):
    port = free_ports(6)
    process = subprocess.Popen([sys.executable, "-m", "respmon.cli", "simulate", "beds", "--count", "3", "--publish",
                                f"tcp://127.0.0.1:{port}", "--insecure", "--speed", "10", "--seed", "1"],
                               cwd=REPO, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    sub = subscriber([f"tcp://127.0.0.1:{port + 2 * i}" for i in range(3)], ["vitals/", "heartbeat/"])
    try:
        got = _collect(sub, lambda got: {m["bed"] for m in got if m["type"] == "vitals"} == {"bed-1", "bed-2", "bed-3"},
                       8.0)
        assert {m["bed"] for m in got} == {"bed-1", "bed-2", "bed-3"}
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=10)
    assert process.returncode == 0, err
    assert "bed-1..bed-3 publishing on" in err and "stopped" in err and "Traceback" not in err
    assert _collect(sub, _all_stopping, 3.0)  # each bed's last heartbeat
    sub.close(linger=0)


@pytest.mark.parametrize("argv, fragment", [
    (["--count", "0"], "--count: must be 1 to 256"),
    (["--count", "257"], "--count: must be 1 to 256"),
    (["--count", "many"], "--count"),
    (["--count", "3", "--publish", "tcp://127.0.0.1:65534"], "past 65535"),
    (["--publish", "tcp://127.0.0.1:70000"], "port must be 1 to 65535"),
    (["--publish", "ipc:///tmp/beds"], "must be tcp://HOST:PORT"),
    (["--script", "eupnea:60,snoring:20"], "--script: segment 'snoring:20': unknown name"),
    (["--speed", "1000"], "--speed: must be"),
    (["--speed", "0"], "--speed"),
    (["--prefix", "bad name-"], "--prefix"),
    (["--publish", "tcp://10.1.2.3:5600"], "--insecure: plain text is allowed on loopback"),
    (["--keys-dir", "KEYS"], "no such folder of allowed client keys"),
    (["--keys-dir", "KEYS", "--insecure"], "not allowed with argument"),
])
def test_bad_values_are_one_line_and_exit_2(tmp_path, argv, fragment):
    args = {"--count": "2", "--publish": "tcp://127.0.0.1:5600"}
    rest = []
    for i in range(0, len(argv), 2):
        if argv[i] in args:
            args[argv[i]] = argv[i + 1]
        else:
            rest += argv[i:i + 2]
    if "--keys-dir" not in rest:
        rest.append("--insecure")
    rest = [str(tmp_path / "keys") if a == "KEYS" else a for a in rest]
    code, out, err = run_cli("simulate", "beds", *[x for kv in args.items() for x in kv], *rest)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and fragment in err, err
