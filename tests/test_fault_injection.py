"""Fault injection (issue 11, "Done when"): the real Daemon (reader thread, queue, Monitor, alert
engine), a real Publisher on real sockets and a real ZeroMQ subscriber watching what it says, over
a fake camera layer under respmon.sources.camera (tests/fake_realsense.LiveCamera: camera.py's own
code streams from it) that is unplugged and plugged back in, and whose clock steps back, leaps,
freezes and turns to garbage.

Times: the daemon decides stalls on the wall clock (a camera is lost when no frame came for
stall_s of wall time), so latencies are measured on it, from the moment the fake made the fault
happen to the wall time the daemon stamped on the message that answers it (its `time`): what the
test thread and the subscriber add is not counted. The bounds are the issue's (camera_lost within
stall_s + 1 s, monitoring back within reconnect_interval_s + 2 s), about a second above what is
measured here (printed with -s); the tight property, stall_s after the last usable frame, is held
on a driven clock below. "Monitoring back" is the first second written that is not lost (the
chest is then searched for again: a rate comes search_window_s of frames later). The camera's
frames run at SPEED (or more) times real time, so that a minute of monitoring (a chest found, a
rate, a pattern) takes seconds; the daemon runs on the source's time for everything but stalls,
so nothing it decides is shortened by it.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import logging
import math
import threading
import time
import tracemalloc

import numpy as np
import pytest

from respmon.config import default_config
from respmon.daemon.app import Daemon
from respmon.monitor import UNPROCESSED
from respmon.publish.zmq_pub import Publisher, receive, subscriber
from respmon.sources import camera as camera_module
from respmon.sources.recording import DepthFrame
from tests.fake_realsense import LiveCamera
from tests.test_daemon_liveness import Pings, Recorder
from tests.test_publish import _joined, endpoint

BED = "bed-7"
SPEED = 8.0  # source seconds per wall second
STALL_S = 1.0  # source.stall_s and reconnect_interval_s at the config's minimum: the fastest cycle
RECONNECT_S = 1.0
PHYSIOLOGICAL = ("central_apnea", "tachypnea", "bradypnea", "biots", "cheyne_stokes")


def _config():
    config = default_config()
    config.bed.name = BED
    config.source.kind = "camera"
    config.source.stall_s = STALL_S
    config.source.reconnect_interval_s = RECONNECT_S
    config.camera.width, config.camera.height, config.camera.fps = 212, 120, 15
    config.alerts.technical_clear_s = 0.0  # camera_lost clears at the first second written again
    config.publish.heartbeat_interval_s = 0.25
    config.source.clock_pace_tolerance = 0.0  # the fake camera runs faster than life on purpose
    return config


@pytest.fixture(scope="module")
def classifier():
    from respmon.replay import load_classifier

    return load_classifier(default_config())


class Ward:
    """What a subscriber on the bed's PUB socket received, in order, and the daemon it watches."""

    def __init__(self, sub, daemon: Daemon, thread: threading.Thread, crashes: list):
        self.sub, self.daemon, self.thread, self.crashes = sub, daemon, thread, crashes
        self.messages: list[dict] = []

    def pump(self, timeout_ms: int = 20) -> None:
        while (got := receive(self.sub, timeout_ms)) is not None:
            self.messages.append(got[1])
            timeout_ms = 0

    def wait_for(self, what: str, match, start: int = 0, timeout_s: float = 20.0) -> dict:
        """The first message from index `start` on that `match`es, waiting for it."""
        deadline = time.monotonic() + timeout_s
        seen = start
        while True:
            for message in self.messages[seen:]:
                if match(message):
                    return message
            seen = max(seen, len(self.messages))
            assert time.monotonic() < deadline, f"no {what} within {timeout_s} s; last: {self.messages[-3:]}"
            assert self.thread.is_alive(), f"the daemon died: {self.crashes}"
            self.pump(50)

    def settle(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.pump(20)

    def of(self, kind: str, start: int = 0) -> list[dict]:
        return [m for m in self.messages[start:] if m["type"] == kind]


def alert(condition: str, event: str, id_: str | None = None):
    return lambda m: (m["type"] == "alert" and m["condition"] == condition and m["event"] == event
                      and (id_ is None or m["id"] == id_))


def monitoring(m: dict) -> bool:
    return m["type"] == "vitals" and m["state"] != "lost"


def has_rate(m: dict) -> bool:
    return m["type"] == "vitals" and m["rr_bpm"] is not None


@contextlib.contextmanager
def running_daemon(monkeypatch, camera: LiveCamera, config, classifier=None):
    """The daemon streaming from `camera` (camera.py's read_camera with the fake's context and
    pipelines), publishing on real sockets, and a subscriber joined before its first message."""
    monkeypatch.setattr(camera_module, "read_camera", functools.partial(
        camera_module.read_camera, context=camera, pipeline_factory=camera.pipeline))
    publisher = Publisher(endpoint(), endpoint(), BED)
    sub = subscriber(publisher.endpoint, [f"alert/{BED}/", f"vitals/{BED}/", f"heartbeat/{BED}/"])
    _joined(publisher, sub)
    daemon = Daemon(config, None, classifier, publisher, notifier=Pings())
    crashes: list[BaseException] = []
    returned: list[int] = []

    def run():
        try:
            returned.append(daemon.run())
        except BaseException as exc:  # noqa: BLE001 - a crash is what the test looks for
            crashes.append(exc)
            raise

    readers_before = {t for t in threading.enumerate() if t.name == "frames"}
    thread = threading.Thread(target=run, name="daemon-under-test")
    thread.start()
    ward = Ward(sub, daemon, thread, crashes)
    try:
        yield ward
        assert thread.is_alive() and not crashes, f"the daemon stopped by itself: {crashes}"
        assert [t for t in threading.enumerate() if t.name == "frames" and t not in readers_before], \
            "the frame reader died"
        daemon.request_stop()
        thread.join(timeout=10)
        assert not thread.is_alive(), "the daemon did not stop"
        assert returned == [0] and not crashes
        ward.settle(0.3)  # what it sent as it stopped
        last = ward.messages[-1]
        assert last["type"] == "heartbeat" and last["state"] == "stopping", last  # its last word reached us
    finally:
        daemon.request_stop()
        thread.join(timeout=10)
        sub.close(linger=0)


def no_crash(caplog, ward: Ward) -> None:
    """Nothing in the daemon failed: no exception, no dead reader, nothing logged as an error."""
    assert not ward.crashes
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, errors
    assert not [r for r in caplog.records if "frame reader failed" in r.getMessage()]


def seconds_in_order(ward: Ward) -> list[dict]:
    """The vitals, checked: each second once and in order (none skipped, repeated or invented),
    and no number for a second the source gave nothing usable for."""
    vitals = ward.of("vitals")
    assert [v["t"] for v in vitals] == list(range(vitals[0]["t"], vitals[0]["t"] + len(vitals)))
    for v in vitals:
        if v["state"] == "lost":
            assert v["rr_bpm"] is None and v["pattern"] is None and v["confidence"] is None
            assert v["seconds_since_breath"] is None and v["displacement_mm"] is None
    return vitals


# --- the camera unplugged and plugged back in ------------------------------------------------------


def test_unplugging_the_camera_20_times_is_lost_and_back_every_time(monkeypatch, caplog):
    caplog.set_level(logging.INFO)
    camera = LiveCamera(speed=2 * SPEED)
    rng = np.random.default_rng(11)
    lost_after, back_after = [], []
    with running_daemon(monkeypatch, camera, _config()) as ward:
        ward.wait_for("a first second of monitoring", monitoring)
        for cycle in range(20):
            if cycle % 10 == 0:  # now and then the chest is found first, so that there is a rate to lose
                ward.wait_for("a rate", has_rate, start=len(ward.messages))
            ward.settle(rng.uniform(0.0, 0.1))
            how = "silent" if cycle % 4 == 1 else "error"  # an error from librealsense, or just no frames
            start = len(ward.messages)
            pulled = camera.unplug(how)
            onset = ward.wait_for(f"camera_lost after unplug {cycle}", alert("camera_lost", "onset"), start)
            lost_after.append(onset["time"] - pulled)
            assert onset["evidence"]["state"] == "lost"
            why = "stopped delivering frames for 1 s" if how == "silent" else "failed: Frame didn't arrive"
            assert why in onset["evidence"]["source"], onset
            if cycle % 10 == 2:  # plugged back in only after the reader has looked and found no camera
                queried, deadline = camera.queries_unplugged, time.monotonic() + 10
                while camera.queries_unplugged == queried:
                    assert time.monotonic() < deadline, "the reader never looked for the camera again"
                    ward.settle(0.05)
            plugged = camera.replug()
            # (the frames queued before the unplug are monitored first: seconds that happened)
            after_onset = ward.messages.index(onset) + 1
            back = ward.wait_for(f"monitoring after replug {cycle}", monitoring, after_onset)
            back_after.append(back["time"] - plugged)
            assert back["rr_bpm"] is None  # a new session: no rate until the chest is found again
            ward.wait_for(f"camera_lost clear {cycle}", alert("camera_lost", "clear", onset["id"]), start)
        ward.settle(0.3)
    no_crash(caplog, ward)
    print(f"\ncamera_lost {min(lost_after):.2f}-{max(lost_after):.2f} s after the unplug,"
          f" monitoring {min(back_after):.2f}-{max(back_after):.2f} s after the replug")
    assert max(lost_after) <= STALL_S + 1.0, lost_after
    assert max(back_after) <= RECONNECT_S + 2.0, back_after
    seconds_in_order(ward)
    alerts = ward.of("alert")
    onsets = [a for a in alerts if a["event"] == "onset" and a["condition"] == "camera_lost"]
    clears = [a for a in alerts if a["event"] == "clear" and a["condition"] == "camera_lost"]
    assert len(onsets) == len(clears) == 20 and [a["id"] for a in onsets] == [a["id"] for a in clears]
    assert not [a for a in alerts if a["condition"] in PHYSIOLOGICAL]
    assert camera.starts == 21  # one stream per plug-in: no stream left running, none started twice


# --- the camera's clock ----------------------------------------------------------------------------


def test_a_camera_clock_that_steps_back_leaps_turns_to_garbage_or_freezes(monkeypatch, caplog, classifier):
    caplog.set_level(logging.INFO)
    camera = LiveCamera(speed=20.0)
    with running_daemon(monkeypatch, camera, _config(), classifier) as ward:
        began = time.time()
        # A minute of breathing first: a rate and a pattern, numbers that a fault could carry over.
        ward.wait_for("a pattern", lambda m: m["type"] == "vitals" and m["pattern"] is not None, timeout_s=30)
        faults = []
        for name, inject, clear, why in [
            ("step back 100 s", lambda: camera.step_clock(-100.0), None, "source clock stepped back 99.9 s"),
            ("leap 1 h", lambda: camera.step_clock(3600.0), None, "source clock leapt 3.6e+03 s forward"),
            ("leap 1e6 s", lambda: camera.step_clock(1e6), None, "source clock leapt 1e+06 s forward"),
            ("garbage", lambda: camera.garbage([math.inf, math.nan, -math.inf, 1e300]), lambda: camera.garbage(None),
             "frames arrive but give no signal"),
            ("freeze", camera.freeze, camera.unfreeze, "frames arrive but give no signal"),
        ]:
            camera.speed = 20.0  # the chest found again, a rate measured again
            ward.wait_for(f"a rate before {name}", has_rate, start=len(ward.messages), timeout_s=30)
            camera.speed = SPEED
            start = len(ward.messages)
            inject()
            onset = ward.wait_for(f"camera_lost after {name}", alert("camera_lost", "onset"), start)
            at = camera.marks[-1][1]
            assert why in onset["evidence"]["source"], (name, onset)
            if clear is not None:
                ward.settle(0.5)  # frames go on coming, unusable, and the alarm stands
                assert not [m for m in ward.messages[start:] if alert("camera_lost", "clear")(m)]
                clear()
            ward.wait_for(f"camera_lost clear after {name}", alert("camera_lost", "clear", onset["id"]), start)
            faults.append((name, onset["time"] - at, start))
        elapsed_s = time.time() - began
    no_crash(caplog, ward)
    print("\n" + ", ".join(f"{name}: camera_lost after {1000 * s:.0f} ms" for name, s, _ in faults))
    for name, latency_s, _ in faults:
        # A step or a leap is said at the next second of source time; frames that keep coming
        # unusable, stall_s after the last usable one (test_unusable_frames_are_camera_lost_...
        # pins that down on a driven clock; here the bound for a camera, stall_s + 1 s).
        assert latency_s <= (STALL_S + 1.0 if name in ("garbage", "freeze") else STALL_S), (name, latency_s)
    vitals = seconds_in_order(ward)
    # No made-up second: a second published is one the camera's frames covered, or a second of
    # wall time with nothing usable (lost); an hour's leap is not an hour of windows.
    assert len(vitals) <= camera.delivered / camera.fps + elapsed_s + 2
    for name, _, start in faults:
        # Nothing measured before the fault is carried across it: after the lost seconds, the
        # signal starts anew, with no rate until it has MIN_ANALYSIS_S of its own and no pattern
        # until a classifier window.
        during = ward.of("vitals", start)
        first_lost = next(i for i, v in enumerate(during) if v["state"] == "lost")
        resumed = next(i for i, v in enumerate(during) if i > first_lost and v["state"] != "lost")
        assert during[resumed]["rr_bpm"] is None and during[resumed]["pattern"] is None, (name, during[resumed])
        if name.startswith(("step", "leap")):  # one second said lost: the time stepped over is no one's
            assert sum(v["state"] == "lost" for v in during[:resumed]) == 1, name
    assert not [a for a in ward.of("alert") if a["condition"] in PHYSIOLOGICAL]


# --- on a driven clock: when unusable frames become camera_lost, memory over many faults, stopping --


class DrivenClock:
    """Stands in for the daemon module's `time`: monotonic() is whatever the test says."""

    def __init__(self, now: float = 1000.0):
        self.now = now

    def monotonic(self) -> float:
        return self.now


def _driven_daemon(monkeypatch, config, publisher=None, fps: int = 15) -> tuple[Daemon, DrivenClock]:
    """A Daemon whose monotonic clock the test drives, with a camera session started."""
    from respmon.daemon import app

    clock = DrivenClock()
    monkeypatch.setattr(app, "time", clock)
    daemon = Daemon(config, None, None, publisher)
    daemon._start_session({"fps": fps, "width": 212, "source": "camera test"})
    return daemon, clock


def _frames(count: int, fps: int = 15) -> list[np.ndarray]:
    from respmon.sim.scene import BedScene

    scene = BedScene(212, 120, seed=5)
    return [scene.render(4.0 * math.sin(2 * math.pi * 0.25 * i / fps), t_s=i / fps) for i in range(count)]


@pytest.mark.parametrize("fault", ["frozen", "garbage", "bad frames"])
def test_unusable_frames_are_camera_lost_stall_s_after_the_last_usable_one(monkeypatch, fault):
    # Frames that keep coming and cannot move the source's time on used to be noticed stall_s
    # after the next second was due, up to stall_s + 1 s after the fault; now, as a camera that
    # sends nothing, stall_s after the last frame that could.
    config = _config()
    config.source.stall_s = 3.0
    daemon, clock = _driven_daemon(monkeypatch, config)
    depth = _frames(15)
    n = 0
    while n < 15 * 4 + 7:  # 4.5 s of frames: the fault comes half a second after a second was written
        daemon._frame(DepthFrame(n, 1e6 + 1000.0 * n / 15, depth[n % 15], 1.0))
        n += 1
        clock.now += 1 / 15
        assert not daemon._stalled(clock.now)
    last_good, last_usable = n - 1, clock.now - 1 / 15
    if fault == "bad frames":  # right timestamps, and the chest stage fails on every frame

        def process(*_):
            raise FloatingPointError("a bad frame")

        daemon.monitor.front.process = process
    while not daemon._stalled(clock.now):
        if fault == "frozen":
            frame = DepthFrame(n, 1e6 + 1000.0 * last_good / 15, depth[n % 15], 1.0)
        elif fault == "garbage":
            frame = DepthFrame(n, [math.inf, math.nan, 1e300][n % 3], depth[n % 15], 1.0)
        else:
            frame = DepthFrame(n, 1e6 + 1000.0 * n / 15, depth[n % 15], 1.0)
        daemon._frame(frame)
        n += 1
        clock.now += 1 / 15
        assert clock.now - last_usable < 10.0, "never said"
    assert config.source.stall_s <= clock.now - last_usable <= config.source.stall_s + 1 / 15 + 1e-9
    assert daemon.lost_reason.startswith("frames arrive but give no signal for 3 s")


def test_seconds_whose_frames_all_fail_are_lost_not_the_last_numbers_again(monkeypatch, caplog):
    # Frames on time that the chest stage fails on, one after another (a recording joined to one
    # of another size, a fault in the stage), each wrote the next second from what the signal
    # stage held: "breathing 15.0 bpm, 2.9 s since the last breath" every second, as long as it
    # lasted (an apnea unseen), and no alarm.
    from respmon.chest.front import DepthFrontEnd
    from respmon.daemon import app

    publisher = Recorder()
    config = _config()
    config.source.stall_s = 4.0
    daemon, clock = _driven_daemon(monkeypatch, config, publisher)
    depth = _frames(60)  # one breath (4 s), over and over
    process = DepthFrontEnd.process
    next_lost = 0.0

    def feed(count: int) -> None:
        nonlocal next_lost
        for _ in range(count):
            n = daemon.frame_count
            daemon._frame(DepthFrame(n, 1e6 + 1000.0 * n / 15, depth[n % 60], 1.0))
            clock.now += 1 / 15
            if daemon._stalled(clock.now) and clock.now >= next_lost:  # as the main loop does
                daemon.last_t += 1
                daemon.bedside.window(app.lost_window(daemon.last_t, daemon.lost_reason))
                next_lost = clock.now + 1.0

    def failing(*_):
        raise FloatingPointError("a bad frame")

    feed(15 * 25)
    before = [v for _, v in publisher.of("vitals")]
    assert before[-1]["state"] == "breathing" and 14 <= before[-1]["rr_bpm"] <= 16
    assert daemon.monitor.rates == []  # nor does a session keep a float a second for days (a replay's summary)
    monkeypatch.setattr(DepthFrontEnd, "process", failing)
    daemon.windows_since_ping = 0
    caplog.clear()
    feed(15 * 12)
    # Lost seconds are said, and are no progress: no watchdog ping earned (beyond the second the
    # failures began in), the daemon not "monitoring again" on them, one stall said once.
    assert daemon.windows_since_ping <= 1 and not daemon._progressing(clock.now)
    assert "monitoring again" not in caplog.text and caplog.text.count("source stalled") == 1
    during = [v for _, v in publisher.of("vitals")][len(before):]
    monkeypatch.setattr(DepthFrontEnd, "process", process)
    feed(15 * 3)
    after = [v for _, v in publisher.of("vitals")][len(before) + len(during):]
    assert [v["t"] for v in before + during + after] == list(range(1, len(before + during + after) + 1))
    # At most the second the failures began in is written from the frames before them; then lost,
    # by the Monitor (nothing processed in that second), then by the daemon (stall_s of it).
    assert len(during) >= 11 and all(v["state"] == "lost" and v["rr_bpm"] is None for v in during[1:])
    onsets = [a for _, a in publisher.of("alert") if a["condition"] == "camera_lost" and a["event"] == "onset"]
    assert len(onsets) == 1 and onsets[0]["t"] == during[1]["t"] and onsets[0]["evidence"]["source"] == UNPROCESSED
    assert "frames arrive but give no signal for 4 s (60 bad" in caplog.text
    back = [v for v in after if v["state"] != "lost"]
    assert back and back[0]["rr_bpm"] is None  # monitoring again, on a signal started anew


def test_memory_and_seconds_stay_bounded_over_300_clock_faults(caplog):
    # Issue 11: an infinite timestamp grew a replay to 3.9 GB, a 1 h leap made 3,604 windows, a
    # 10^6 s leap pinned the CPU. Here every kind of bad clock, 300 times over, through the real
    # Daemon's frame path (Monitor, alert engine, a real Publisher's socket).
    caplog.set_level(logging.ERROR, logger="respmon")  # pytest would keep every alert's log record
    publisher = Publisher(endpoint(), None, BED)
    daemon = Daemon(_config(), None, None, publisher, notifier=Pings())
    daemon._start_session({"fps": 15, "width": 212, "source": "camera test"})
    depth = _frames(30)
    clock = {"ms": 5e6, "n": 0}
    steps = [-100.0, 3600.0, 1e6, -5.0, 1e9]
    garbage = [math.inf, math.nan, -math.inf, 1e300, 1.7e15]

    def feed(ms: float) -> None:
        daemon._frame(DepthFrame(clock["n"], ms, depth[clock["n"] % 30], 1.0))
        clock["n"] += 1

    def faults(count: int) -> None:
        for k in range(count):
            kind = k % 3
            if kind == 0:  # a step back or a leap
                clock["ms"] += 1000.0 * steps[k % len(steps)]
            for i in range(24):  # then 1.6 s of frames, the first few of them broken in turn
                if kind == 1 and i < 4:
                    feed(garbage[(k + i) % len(garbage)])
                    continue
                if not (kind == 2 and i < 4):  # frozen: the same timestamp again
                    clock["ms"] += 1000.0 / 15
                feed(clock["ms"])

    try:
        faults(30)
        gc.collect()
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            faults(300)
            gc.collect()
            grown = tracemalloc.get_traced_memory()[0] - before
        finally:
            tracemalloc.stop()
        # A second for each second of frames whose time moved on, none for the time leapt over.
        frames = clock["n"]
        assert 0.8 * frames / 15 <= daemon.last_t <= frames / 15 + 1
        assert daemon.bedside.engine.active.keys() <= {"camera_lost", "low_signal_quality"}
        assert daemon.monitor.skipped_times > 0
    finally:
        publisher.close()
    assert grown < 512 * 1024, f"{grown} bytes more after 300 clock faults"


def test_stopping_says_so_last_and_waits_for_no_source_stuck_in_its_driver(monkeypatch):
    # SIGTERM within 1 s (bench/bench_stop.py measures it): the last heartbeat ("stopping") goes
    # out before the publisher closes (which sends what it holds), and a reader stuck in the camera
    # driver is then waited for no longer than READER_JOIN_S from the stop (it was 3 s, after the
    # publisher).
    from respmon.daemon import app

    class Publisher(Recorder):
        def close(self):
            self.messages.append((time.monotonic(), "closed", {}))

    released = threading.Event()

    def stuck_in_the_driver(*_args, **_kwargs):
        released.wait(30)
        raise camera_module.CameraError("released")

    monkeypatch.setattr(camera_module, "read_camera", stuck_in_the_driver)
    joins = []
    join = app.FrameReader.join
    monkeypatch.setattr(app.FrameReader, "join", lambda reader, timeout=None: (
        joins.append((timeout, len(publisher.messages))), join(reader, timeout))[1])
    publisher = Publisher()
    daemon = Daemon(_config(), None, None, publisher, notifier=Pings())
    runner = threading.Thread(target=daemon.run)
    runner.start()
    try:
        while not publisher.of("heartbeat"):
            time.sleep(0.01)
        daemon.request_stop()
        runner.join(timeout=10)
        assert not runner.is_alive()
    finally:
        released.set()
    kinds = [(kind, message.get("state")) for _, kind, message in publisher.messages]
    assert kinds[-2:] == [("heartbeat", "stopping"), ("closed", None)]
    (timeout, published), = joins
    assert published == len(publisher.messages)  # the reader is waited for after the publisher closed
    assert timeout is not None and timeout <= app.READER_JOIN_S


@pytest.mark.parametrize("pace", [0.5, 2.0])
def test_a_camera_clock_off_the_wall_clocks_pace_is_lost_not_misread(monkeypatch, pace):
    # At 0.5x every rate would read double and a 20 s apnea would last 10 s: no second is
    # monitored on such a clock; camera_lost says the pace, and a clock back on pace is monitored.
    config = _config()
    config.source.clock_pace_tolerance = 0.1
    daemon, clock = _driven_daemon(monkeypatch, config)
    depth = _frames(15)
    source_ms, n = 1e6, 0

    def feed(seconds: float, rate: float) -> None:
        nonlocal source_ms, n
        for _ in range(int(seconds * 15)):
            daemon._frame(DepthFrame(n, source_ms, depth[n % 15], 1.0))
            n += 1
            clock.now += 1 / 15
            source_ms += 1000.0 * rate / 15

    feed(40, 1.0)
    assert daemon.lost_reason is None and daemon.monitor is not None
    feed(31, pace)
    assert daemon.lost_reason is not None and "x the wall clock" in daemon.lost_reason
    assert daemon.monitor is None and daemon._stalled(clock.now)
    windows_before = daemon.monitor
    feed(20, pace)
    assert daemon.monitor is windows_before is None  # nothing timed by that clock is monitored
    feed(32, 1.0)  # a span back on pace, then a new session
    feed(3, 1.0)
    assert daemon.lost_reason is None and daemon.monitor is not None


def test_a_main_loop_that_falls_behind_does_not_make_a_camera_off_pace(monkeypatch):
    # Frames queued while the main loop was busy (4.5 s at 6 fps) are judged by when they came
    # off the driver: a healthy camera stays on pace.
    config = _config()
    config.source.clock_pace_tolerance = 0.1
    config.camera.fps = 6
    daemon, clock = _driven_daemon(monkeypatch, config, fps=6)
    depth = _frames(6, fps=6)
    backlog = []
    for n in range(6 * 70):
        arrived = clock.now
        backlog.append((DepthFrame(n, 1e6 + 1000.0 * n / 6, depth[n % 6], 1.0), arrived))
        clock.now += 1 / 6
        if not 6 * 20 <= n < 6 * 20 + 27:  # one 4.5 s stall, 20 s in
            for frame, at in backlog:
                daemon._frame(frame, at)
            backlog.clear()
        assert daemon.lost_reason is None
