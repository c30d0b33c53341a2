"""The daemon's liveness is progress, not frames: a camera whose clock freezes or steps back, run
through the real Daemon loop (reader thread, queue, alert engine) with a fake camera layer."""

from __future__ import annotations

import threading
import time

import numpy as np

from respmon.config import default_config
from respmon.daemon.app import Daemon
from respmon.sources.recording import DepthFrame

FPS = 15.0
STALL_S = 2.0


class Recorder:
    """A publisher that keeps what it is given, with the wall time it came at."""

    def __init__(self):
        self.messages: list[tuple[float, str, dict]] = []

    def publish(self, kind: str, payload: dict, condition: str | None = None) -> None:
        self.messages.append((time.monotonic(), kind, dict(payload)))

    def set_snapshot(self, *_):
        pass

    def close(self) -> None:
        pass

    def of(self, kind: str) -> list[tuple[float, dict]]:
        return [(at, m) for at, k, m in list(self.messages) if k == kind]


class Pings:
    watchdog_interval_s = 0.2

    def __init__(self):
        self.at: list[float] = []

    def watchdog(self):
        self.at.append(time.monotonic())

    def ready(self, *_):
        pass

    def status(self, *_):
        pass

    def stopping(self):
        pass


class ClockCamera:
    """Frames at FPS in real time; stamp(i) gives frame i's timestamp in ms. Marks when frame
    `mark` was handed out."""

    serial = "123456789012"

    def __init__(self, frames: int, stamp, mark: int):
        self.frames, self.stamp, self.mark = frames, stamp, mark
        self.marked_at: float | None = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def __iter__(self):
        depth = np.full((120, 212), 1200, np.uint16)
        for i in range(self.frames):
            time.sleep(1.0 / FPS)
            if i == self.mark:
                self.marked_at = time.monotonic()
            yield DepthFrame(i, self.stamp(i), depth, 1.0)


def _run(monkeypatch, camera: ClockCamera, wall_s: float):
    from respmon.sources import camera as camera_module

    monkeypatch.setattr(camera_module, "read_camera", lambda *_a, **_k: camera)
    config = default_config()
    config.source.kind = "camera"
    config.source.stall_s = STALL_S
    config.source.reconnect_interval_s = 60.0
    config.camera.width, config.camera.height, config.camera.fps = 212, 120, int(FPS)
    recorder, pings = Recorder(), Pings()
    daemon = Daemon(config, None, None, recorder, notifier=pings)
    runner = threading.Thread(target=daemon.run)
    runner.start()
    time.sleep(wall_s)
    daemon.request_stop()
    runner.join(timeout=10)
    assert not runner.is_alive()
    return recorder, pings


def test_a_frozen_clock_is_camera_lost_within_the_stall_time_and_the_watchdog_stops(monkeypatch):
    # 3 s of frames, then frames that keep coming with the same timestamp.
    camera = ClockCamera(frames=int(8 * FPS), stamp=lambda i: 1000.0 * min(i, 45) / FPS, mark=46)
    recorder, pings = _run(monkeypatch, camera, wall_s=7.0)
    onsets = [(at, a) for at, a in recorder.of("alert") if a["condition"] == "camera_lost" and a["event"] == "onset"]
    assert onsets, "a frozen clock went unannounced"
    at, alert = onsets[0]
    assert "frames arrive but give no signal" in alert["evidence"]["source"]
    # within stall_s of the last second written, that one within a second of the freeze
    assert at - camera.marked_at <= 1.0 + STALL_S + 0.5
    assert not [p for p in pings.at if p > at + 0.3]
    assert len([p for p in pings.at if p < camera.marked_at]) >= 5  # pinged while it progressed
    seconds = [v["t"] for _, v in recorder.of("vitals")]
    assert seconds == sorted(set(seconds))  # each second once, in order


def test_a_clock_that_steps_back_is_said_once_and_monitoring_goes_on(monkeypatch):
    # The camera resets after 3 s: its clock starts again 100 s earlier, frames keep coming.
    camera = ClockCamera(frames=int(8 * FPS), stamp=lambda i: 1000.0 * (i if i < 45 else i - 1500) / FPS + 1e5,
                         mark=45)
    recorder, pings = _run(monkeypatch, camera, wall_s=7.0)
    vitals = [v for _, v in recorder.of("vitals")]
    lost = [v for v in vitals if v["state"] == "lost"]
    assert len(lost) == 1
    seconds = [v["t"] for v in vitals]
    assert seconds == list(range(1, len(seconds) + 1))  # no second skipped, repeated or invented
    assert len(seconds) >= 6  # seconds went on being written after the step
    assert [p for p in pings.at if p > camera.marked_at + 1.5]  # and the watchdog kept being fed
    onsets = [a for _, a in recorder.of("alert") if a["event"] == "onset"]
    assert [a["condition"] for a in onsets] == ["camera_lost"]
    assert "source clock stepped back 99.9 s" in onsets[0]["evidence"]["source"]
