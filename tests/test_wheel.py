"""The wheel, installed as a clinical engineer installs it: built in a temporary folder, into a fresh
virtual environment with no torch, and run from a folder outside the checkout. The core alone (no
pyrealsense2 either) runs the station and the console, `respmon demo`, and makes a .db3 depth
recording, replays it and runs the bed daemon on it (respmon reads and writes .db3 itself); a
legacy .bag says in one line that it needs the camera extra."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import zipfile

import pytest

from tests.conftest import REPO, free_ports

PIP = ["-m", "pip", "--disable-pip-version-check", "-q"]


def _run(argv, cwd, timeout=600, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in argv], cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          **kwargs)


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(venv python, the wheel, a folder outside the checkout), the wheel installed with the core
    dependencies only."""
    root = tmp_path_factory.mktemp("wheel")
    built = _run([sys.executable, *PIP, "wheel", REPO, "--no-deps", "--no-build-isolation", "-w", root / "dist"],
                 cwd=root)
    assert built.returncode == 0, built.stderr[-3000:]
    [wheel] = (root / "dist").glob("respmon-*.whl")
    made = _run([sys.executable, "-m", "venv", root / "venv"], cwd=root)
    assert made.returncode == 0, made.stderr
    python = root / "venv" / "bin" / "python"
    done = _run([python, *PIP, "install", wheel], cwd=root)
    assert done.returncode == 0, done.stderr[-3000:]
    outside = root / "ward"
    outside.mkdir()
    return python, wheel, outside


def test_the_wheel_holds_respmon_and_its_model_and_nothing_else_at_top_level(installed):
    python, wheel, outside = installed
    names = zipfile.ZipFile(wheel).namelist()
    assert {n.split("/")[0] for n in names} == {"respmon", wheel.name.split("-py3")[0] + ".dist-info"}
    assert {"respmon/models/biatgru.onnx", "respmon/models/biatgru.pt", "respmon/sim/recording.py",
            "respmon/station/static/ward.js"} <= set(names)
    probe = _run([python, "-c", "import importlib.util as u; print(u.find_spec('torch'), u.find_spec('sim'), "
                  "u.find_spec('pyrealsense2'))"], cwd=outside)
    assert probe.stdout.split() == ["None", "None", "None"], probe.stderr


def test_the_core_runs_the_demo_replays_a_recording_and_monitors_it(installed):
    python, _, outside = installed
    respmon = python.parent / "respmon"
    for argv in (["--help"], ["station", "--help"], ["watch", "--help"], ["run", "--help"]):
        done = _run([respmon, *argv], cwd=outside, timeout=120)
        assert done.returncode == 0 and "usage: respmon" in done.stdout, (argv, done.stderr)
    small = outside / "small.yaml"
    small.write_text("simulation:\n  recording:\n    width: 212\n    height: 120\n    fps: 6\n", encoding="utf-8")
    demo = _run([respmon, "demo", "--config", small], cwd=outside)
    assert demo.returncode == 0, demo.stderr[-3000:]
    lines = [json.loads(x) for x in demo.stdout.splitlines()]
    assert any(x["type"] == "alert" and x["condition"] == "central_apnea" and x["event"] == "onset" for x in lines)
    assert lines[-1]["type"] == "summary" and lines[-1]["windows_with_rate"] > 0

    recording = outside / "apnea.db3"
    made = _run([respmon, "simulate", "recording", "--script", "eupnea@15:50,central_apnea:25,eupnea@15:15",
                 "--out", recording, "--width", "212", "--height", "120", "--fps", "6", "--seed", "4"], cwd=outside)
    assert made.returncode == 0, made.stderr[-3000:]
    replay = _run([respmon, "replay", recording], cwd=outside, timeout=300)
    assert replay.returncode == 0, replay.stderr[-3000:]
    lines = [json.loads(x) for x in replay.stdout.splitlines()]
    assert any(x["type"] == "alert" and x["condition"] == "central_apnea" and x["event"] == "onset" for x in lines)
    assert lines[-1]["type"] == "summary" and lines[-1]["frames"] == 90 * 6 and lines[-1]["windows_with_rate"] > 0
    _daemon_alarms_on(respmon, recording, outside)

    bag = outside / "old.bag"
    bag.write_bytes(b"#ROSBAG V2.0\n" + bytes(100))
    done = _run([respmon, "replay", bag], cwd=outside, timeout=120)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.strip().splitlines() == [
        "respmon: error: pyrealsense2 is not installed: a camera and legacy .bag recordings need respmon's "
        "camera extra (pip install 'respmon[camera]')"]


def _daemon_alarms_on(respmon, recording, outside) -> None:
    """`respmon run` on the recording raises the central apnea alarm and stops cleanly on SIGTERM."""
    port = free_ports(2)
    config = outside / "bed.yaml"
    config.write_text(
        f'bed:\n  name: "bed-7"\nsource:\n  kind: recording\n  recording: "{recording}"\n  realtime: false\n'
        f'publish:\n  endpoint: "tcp://127.0.0.1:{port}"\n  snapshot_endpoint: "tcp://127.0.0.1:{port + 1}"\n'
        f'  insecure: true\njournal:\n  path: "{outside / "bed-7.alarms.sqlite"}"\n', encoding="utf-8")
    daemon = subprocess.Popen([respmon, "run", "--config", config], cwd=outside, text=True,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              env={**os.environ, "PYTHONUNBUFFERED": "1"})
    seen = []
    try:
        deadline = time.monotonic() + 120
        while not any("event=alert.onset condition=central_apnea" in line for line in seen):
            assert time.monotonic() < deadline and daemon.poll() is None, "".join(seen)[-3000:]
            seen.append(daemon.stderr.readline())
    finally:
        daemon.send_signal(signal.SIGTERM)
        rest = daemon.communicate(timeout=60)[1]
    assert daemon.returncode == 0, rest[-3000:]
    assert "Traceback" not in "".join(seen) + rest
