"""End to end: synthetic depth recordings through `respmon replay --publish` and `respmon run`, with
real ZeroMQ subscribers, `respmon watch`, and a stand-in for systemd's notification socket."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from respmon.publish.security import create_key_pair
from respmon.publish.zmq_pub import receive, subscriber
from tests.conftest import REPO, run_cli
from tests.test_publish import endpoint, plain_config

FPS = 6
SIZE = ("--width", "212", "--height", "120", "--fps", str(FPS))
APNEA_SCRIPT = "eupnea:90,central_apnea:30,eupnea:60"
APNEA_START_S = 90.0
APNEA_DELAY_S = 20.0  # the shipped default


def record(folder: Path, name: str, script: str, seed: int = 1) -> Path:
    out = folder / f"{name}.db3"
    code, _, err = run_cli("simulate", "recording", "--script", script, "--out", str(out), *SIZE,
                           "--seed", str(seed))
    assert code == 0, err
    return out


@pytest.fixture(scope="session")
def recordings(tmp_path_factory):
    folder = tmp_path_factory.mktemp("daemon")
    return {
        "apnea": record(folder, "apnea", APNEA_SCRIPT),
        "apnea_then_end": record(folder, "apnea_then_end", "eupnea:30,central_apnea:40"),
        "short": record(folder, "short", "eupnea:8"),
    }


def respmon(*args: str, stdout=subprocess.DEVNULL, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "respmon.cli", *args], cwd=REPO, text=True,
                            stdout=stdout, stderr=subprocess.PIPE, **kwargs)


def write_config(path: Path, recording: Path, pub: str, snap: str, curve: bool = False, **source) -> Path:
    """A daemon config; with curve, CURVE keys beside it: the bed's and an allowed console's."""
    extra = "".join(f"  {key}: {json.dumps(value)}\n" for key, value in source.items())
    if curve:
        create_key_pair(path.parent / "keys", "bed-9")
        create_key_pair(path.parent / "keys", "watch", authorize=True)
    path.write_text(
        f'bed:\n  name: "bed-9"\nsource:\n  kind: recording\n  recording: "{recording}"\n{extra}'
        f'publish:\n  endpoint: "{pub}"\n  snapshot_endpoint: "{snap}"\n  insecure: {str(not curve).lower()}\n'
        f'journal:\n  path: "{path.parent / "bed-9.alarms.sqlite"}"\n',
        encoding="utf-8")
    return path


class StderrLines(threading.Thread):
    """Collects a process's stderr lines as they come, so a test can wait for one."""

    def __init__(self, process: subprocess.Popen):
        super().__init__(daemon=True)
        self.process, self.lines = process, []
        self.start()

    def run(self) -> None:
        for line in self.process.stderr:
            self.lines.append(line)

    def wait_for(self, fragment: str, timeout_s: float = 60.0) -> str:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for line in list(self.lines):
                if fragment in line:
                    return line
            time.sleep(0.05)
        raise AssertionError(f"{fragment!r} not logged within {timeout_s} s:\n" + "".join(self.lines[-20:]))


def assert_apnea_signal(onset: dict) -> None:
    """The onset carries the 60 s the classifier saw: breaths, then the apnea's flat line."""
    import numpy as np

    signal = onset["signal"]
    assert signal["rate_hz"] == 10.0 and len(signal["mm"]) == 600
    assert onset["t"] - 1.0 <= signal["end_t"] <= onset["t"]
    mm = np.asarray(signal["mm"], dtype=float)
    assert np.all(np.round(mm, 2) == mm)
    flat = mm[-int(10 * signal["rate_hz"]):]  # the last 10 s: at least 18 s into the apnea
    breathing = mm[:300]  # the first 30 s: before it
    assert np.ptp(flat) < 1.0 and np.ptp(breathing) > 5.0 * max(np.ptp(flat), 0.1)
    crossings = np.sum(np.diff(np.sign(breathing - np.median(breathing))) != 0)
    assert crossings >= 2 * 5  # at least 5 breaths in 30 s


def test_apnea_onset_and_clear_reach_a_real_subscriber(recordings, tmp_path):
    pub = endpoint()
    sub = subscriber(pub, ["alert/bed-1/", "vitals/bed-1/"])
    with open(tmp_path / "stdout.jsonl", "w") as stdout:
        process = respmon("replay", str(recordings["apnea"]), "--publish", pub, "--snapshot", endpoint(),
                          "--config", str(plain_config(tmp_path)), stdout=stdout)
        log = StderrLines(process)
        received = []
        while process.poll() is None:
            got = receive(sub, 100)
            if got is not None:
                received.append(got)
        while (got := receive(sub, 300)) is not None:
            received.append(got)
    log.join(timeout=5)
    assert process.returncode == 0, "".join(log.lines)
    out = (tmp_path / "stdout.jsonl").read_text()
    vitals = [m for t, m in received if m["type"] == "vitals"]
    assert vitals and vitals[0]["t"] < APNEA_START_S  # the subscriber was there before the apnea
    alerts = [m for t, m in received if m["type"] == "alert" and m["condition"] == "central_apnea"]
    onset = [a for a in alerts if a["event"] == "onset"]
    clear = [a for a in alerts if a["event"] == "clear"]
    assert len(onset) == 1 and len(clear) == 1
    assert APNEA_START_S <= onset[0]["t"] <= APNEA_START_S + APNEA_DELAY_S + 2
    assert onset[0]["priority"] == "high" and onset[0]["evidence"]["seconds_without_breathing"] >= APNEA_DELAY_S
    assert APNEA_START_S + 30 < clear[0]["t"] <= APNEA_START_S + 30 + 20 and clear[0]["id"] == onset[0]["id"]
    assert [m["seq"] for m in alerts] == sorted(m["seq"] for m in alerts)
    assert_apnea_signal(onset[0])
    assert "signal" not in clear[0] and all("signal" not in a for a in alerts if a["event"] == "update")
    # stdout carries the same events as JSON lines
    lines = [json.loads(line) for line in out.splitlines()]
    printed = [(x["event"], x["id"]) for x in lines if x["type"] == "alert" and x["condition"] == "central_apnea"]
    assert printed == [(a["event"], a["id"]) for a in alerts]
    assert lines[-1]["type"] == "summary" and lines[-1]["alerts"] == 1


def test_the_daemon_serves_a_late_watch_and_keeps_running_when_frames_stop(recordings, tmp_path):
    pub, snap = endpoint(), endpoint()
    config = write_config(tmp_path / "respmon.yaml", recordings["apnea_then_end"], pub, snap, curve=True,
                          realtime=False)
    daemon = respmon("run", "--config", str(config))
    log = StderrLines(daemon)
    try:
        log.wait_for("event=alert.onset condition=central_apnea")
        log.wait_for("event=alert.onset condition=camera_lost")  # the recording ended: no more frames
        watch = subprocess.run([sys.executable, "-m", "respmon.cli", "watch", "--endpoint", pub,
                                "--snapshot-endpoint", snap, "--json", "--for", "2.5", "--config", str(config)],
                               cwd=REPO, text=True, capture_output=True, timeout=60)
        assert watch.returncode == 0, watch.stderr
        first = json.loads(watch.stdout.splitlines()[0])
        assert first["type"] == "snapshot" and first["bed"] == "bed-9"
        active = {a["condition"]: a for a in first["alerts"]}
        # The apnea stays active: nothing showed breathing again; the lost source is its own alarm.
        assert set(active) == {"central_apnea", "camera_lost"}
        assert active["central_apnea"]["priority"] == "high"
        assert active["camera_lost"]["kind"] == "technical"
        # each with its onset's signal: the apnea's ends flat at its onset; the camera had none left
        apnea_signal = active["central_apnea"]["signal"]
        assert apnea_signal["rate_hz"] == 10.0 and 200 <= len(apnea_signal["mm"]) <= 600
        assert abs(apnea_signal["end_t"] - active["central_apnea"]["onset_t"]) <= 1.0
        assert max(apnea_signal["mm"][-100:]) - min(apnea_signal["mm"][-100:]) < 1.0
        assert active["camera_lost"]["signal"] is None
        human = subprocess.run([sys.executable, "-m", "respmon.cli", "watch", "--endpoint", pub,
                                "--snapshot-endpoint", snap, "--bed", "bed-9", "--for", "0.5", "--config", str(config)],
                               cwd=REPO, text=True, capture_output=True, timeout=60)
        assert "ACTIVE  high    bed-9  central_apnea" in human.stdout
        # SIGHUP with a broken config: refused, old config kept, still running.
        config.write_text(config.read_text() + "alerts:\n  apnea_delay_s: 5\n", encoding="utf-8")
        daemon.send_signal(signal.SIGHUP)
        line = log.wait_for("event=config.reload_refused", 10)
        assert "alerts.apnea_delay_s: must be >= 10" in line
        assert daemon.poll() is None
    finally:
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(timeout=20) == 0
    log.join(timeout=5)
    assert "Traceback" not in "".join(log.lines)


def test_watch_says_when_the_heartbeat_stops(tmp_path):
    watch = subprocess.run([sys.executable, "-m", "respmon.cli", "watch", "--endpoint", endpoint(),
                            "--snapshot-endpoint", endpoint(), "--json", "--for", "4",
                            "--config", str(plain_config(tmp_path))],
                           cwd=REPO, text=True, capture_output=True, timeout=60)
    events = [json.loads(line)["event"] for line in watch.stdout.splitlines()]
    assert events == ["no_snapshot", "heartbeat_lost"]


def test_systemd_notify_ready_then_watchdog_only_while_frames_arrive(recordings, tmp_path):
    notify_path = tmp_path / "notify.sock"
    harness = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    harness.bind(str(notify_path))
    harness.settimeout(0.2)
    config = write_config(tmp_path / "respmon.yaml", recordings["short"], endpoint(), endpoint(),
                          realtime=True, stall_s=1.0)
    env = {**os.environ, "NOTIFY_SOCKET": str(notify_path), "WATCHDOG_USEC": "600000"}
    started = time.monotonic()
    daemon = respmon("run", "--config", str(config), env=env)
    messages: list[tuple[float, str]] = []
    try:
        while time.monotonic() - started < 25:
            try:
                data = harness.recv(4096).decode()
            except socket.timeout:
                data = None
            if data:
                messages += [(time.monotonic() - started, line) for line in data.splitlines()]
            if any(m == "READY=1" for _, m in messages) and any("camera_lost" in m for _, m in messages):
                last = max(t for t, m in messages if m == "WATCHDOG=1")
                if time.monotonic() - started > last + 4:
                    break
    finally:
        daemon.send_signal(signal.SIGTERM)
        code = daemon.wait(timeout=20)
        while True:
            try:
                messages += [(time.monotonic() - started, line) for line in harness.recv(4096).decode().splitlines()]
            except socket.timeout:
                break
        harness.close()
    assert code == 0
    lines = [m for _, m in messages]
    ready_at = next(t for t, m in messages if m == "READY=1")
    pings = [t for t, m in messages if m == "WATCHDOG=1"]
    assert lines.count("READY=1") == 1 and all(t >= ready_at - 0.5 for t in pings)
    # 8 s of frames at one ping per 0.3 s, then none once the frames stopped.
    assert len(pings) >= 15
    lost_status = next(t for t, m in messages if m.startswith("STATUS=") and "camera_lost" in m)
    assert not [t for t in pings if t > lost_status]
    # STATUS lines say what the bed is doing (8 s is too short to find the chest: still searching).
    assert any(t < lost_status and m.startswith("STATUS=bed-9: searching") for t, m in messages)
    assert lines[-1] == "STOPPING=1"


def one_line_exit_2(code: int, err: str, fragment: str) -> None:
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert fragment in err


@pytest.mark.parametrize("source, fragment", [
    ('  kind: recording\n  recording: ""\n', "source.recording: a recording path is needed"),
    ('  kind: recording\n  recording: "/nonexistent/bed.db3"\n', "/nonexistent/bed.db3"),
    ("  kind: tape\n", "source.kind: must be one of camera, recording"),
])
def test_run_refuses_a_bad_source_with_one_line(tmp_path, source, fragment):
    config = tmp_path / "c.yaml"
    config.write_text(f"source:\n{source}", encoding="utf-8")
    one_line_exit_2(*run_cli("run", "--config", str(config))[::2], fragment)


def test_bad_endpoints_and_beds_are_one_line(recordings, tmp_path):
    short = str(recordings["short"])
    one_line_exit_2(*run_cli("replay", short, "--publish", "http://127.0.0.1:1")[::2], "must be tcp://HOST:PORT")
    one_line_exit_2(*run_cli("replay", short, "--snapshot", endpoint())[::2], "--snapshot goes with --publish")
    one_line_exit_2(*run_cli("watch", "--bed", "bed 1;rm")[::2], "--bed")
    config = tmp_path / "c.yaml"
    config.write_text('publish:\n  endpoint: "tcp://0.0.0.0"\n', encoding="utf-8")
    one_line_exit_2(*run_cli("watch", "--config", str(config))[::2], "publish.endpoint: must be tcp://HOST:PORT")


def test_an_endpoint_in_use_is_one_line(recordings, tmp_path):
    import zmq

    busy = zmq.Context.instance().socket(zmq.PUB)
    port = busy.bind_to_random_port("tcp://127.0.0.1")
    try:
        code, _, err = run_cli("replay", str(recordings["short"]), "--publish", f"tcp://127.0.0.1:{port}",
                               "--snapshot", endpoint(), "--config", str(plain_config(tmp_path)))
        one_line_exit_2(code, err, f"cannot bind the publish socket to tcp://127.0.0.1:{port}")
    finally:
        busy.close(linger=0)
