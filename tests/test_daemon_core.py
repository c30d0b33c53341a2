"""The daemon's pieces in-process: the camera reader's reconnect loop (with a fake camera) and
SIGHUP's reload."""

from __future__ import annotations

import logging
import queue
import threading

import numpy as np

from respmon.config import default_config
from respmon.daemon.app import Daemon, FrameReader
from respmon.sources.recording import DepthFrame


class FakeStream:
    serial = "123456789012"

    def __init__(self, frames: int):
        self.frames = [DepthFrame(i, 1000.0 * i / 15, np.full((240, 424), 1200, np.uint16), 1.0)
                       for i in range(frames)]

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def __iter__(self):
        return iter(self.frames)


def test_the_camera_reader_reports_a_missing_camera_and_keeps_trying(monkeypatch):
    from respmon.sources import camera

    attempts = []

    def fake_read_camera(camera_config, stall_timeout_s):
        attempts.append(stall_timeout_s)
        if len(attempts) == 1:
            raise camera.CameraError("no RealSense camera connected")
        return FakeStream(3)

    monkeypatch.setattr(camera, "read_camera", fake_read_camera)
    config = default_config()
    config.source.reconnect_interval_s = 1.0
    out, stop = queue.Queue(), threading.Event()
    reader = FrameReader(config, out, stop)
    reader.start()
    items = [out.get(timeout=10) for _ in range(5)]
    stop.set()
    reader.join(timeout=5)
    assert items[0] == ("lost", "no RealSense camera connected")
    assert items[1][0] == "start" and items[1][1]["source"] == "camera 123456789012"
    assert [kind for kind, _ in items[2:]] == ["frame"] * 3
    assert attempts[0] == config.source.stall_s and not reader.is_alive()


def test_sighup_takes_new_alert_limits_and_says_what_needs_a_restart(tmp_path, caplog):
    path = tmp_path / "respmon.yaml"
    path.write_text('bed:\n  name: "bed-5"\n', encoding="utf-8")
    from respmon.config import load_config

    daemon = Daemon(load_config(path), path, None, None)
    path.write_text('bed:\n  name: "bed-6"\nalerts:\n  apnea_delay_s: 30\n', encoding="utf-8")
    with caplog.at_level(logging.INFO, logger="respmon.daemon"):
        daemon.reload()
    assert daemon.bedside.engine.cfg.apnea_delay_s == 30.0
    assert daemon.config.bed.name == "bed-5"  # the sockets' topics and the journal keep their bed
    assert "changes to bed take a restart" in caplog.text
    path.write_text("alerts:\n  apnea_delay_s: 300\n", encoding="utf-8")
    with caplog.at_level(logging.INFO, logger="respmon.daemon"):
        daemon.reload()
    assert daemon.bedside.engine.cfg.apnea_delay_s == 30.0
    assert "reload refused, keeping the running config" in caplog.text and "must be <= 60" in caplog.text


def test_a_frame_that_breaks_the_pipeline_is_skipped_not_fatal(caplog):
    daemon = Daemon(default_config(), None, None, None)
    daemon._start_session({"fps": 15, "width": 424, "source": "test"})
    frames = FakeStream(40).frames
    real_frame = daemon.monitor.frame

    def frame(t_s, depth_raw, mm_per_unit):  # the 21st frame breaks something deep in the pipeline
        if t_s == frames[20].timestamp_ms / 1000.0:
            raise FloatingPointError("a bad frame")
        return real_frame(t_s, depth_raw, mm_per_unit)

    daemon.monitor.frame = frame
    with caplog.at_level(logging.WARNING, logger="respmon.daemon"):
        for f in frames:
            daemon._frame(f)
    assert daemon.bad_frames == 1 and daemon.frame_count == 40
    assert "bad frame skipped" in caplog.text
    assert daemon.last_t >= 1  # windows kept coming after the bad frame


def test_sighup_with_any_file_keeps_the_daemon_and_its_config(tmp_path, caplog):
    # A complex YAML key made reload raise a TypeError and the daemon exit while an apnea alert was
    # active (issue 11). Whatever the file holds now, the running config stays and one line says why.
    path = tmp_path / "respmon.yaml"
    path.write_text("alerts:\n  apnea_delay_s: 25\n", encoding="utf-8")
    from respmon.config import load_config

    daemon = Daemon(load_config(path), path, None, None)
    for text in ("? [1, 2]\n: 3\n", "[" * 5000 + "]" * 5000, "alerts: {apnea_delay_s: 1e400}\n", "\x00\xff"):
        path.write_bytes(text.encode("utf-8", "surrogateescape") if isinstance(text, str) else text)
        caplog.clear()
        with caplog.at_level(logging.ERROR, logger="respmon.daemon"):
            daemon.reload()
        assert daemon.bedside.engine.cfg.apnea_delay_s == 25.0
        refused = [r for r in caplog.records if "reload refused" in r.getMessage()]
        assert len(refused) == 1 and "\n" not in refused[0].getMessage()


def test_sighup_reads_the_file_off_the_main_loop(tmp_path):
    path = tmp_path / "respmon.yaml"
    path.write_text("alerts:\n  apnea_delay_s: 25\n", encoding="utf-8")
    from respmon.config import load_config

    daemon = Daemon(load_config(path), path, None, None)
    path.write_text("alerts:\n  apnea_delay_s: 30\n", encoding="utf-8")
    daemon.request_reload()
    daemon._reload_step()  # starts the read; the main loop applies it on a later tick
    daemon.reload_thread.join(timeout=10)
    daemon._reload_step()
    assert daemon.bedside.engine.cfg.apnea_delay_s == 30.0


def test_the_seconds_completed_before_a_bad_frame_still_go_out():
    # The chest stage failing on the frame that completes a second must not take that second with it.
    daemon = Daemon(default_config(), None, None, None)
    daemon._start_session({"fps": 15, "width": 424, "source": "test"})
    frames = FakeStream(60).frames
    real_process = daemon.monitor.front.process

    def process(t_s, depth_raw, mm_per_unit):
        if abs(t_s - 2.0) < 1e-6:  # the frame that completes second 2
            raise FloatingPointError("a bad frame")
        return real_process(t_s, depth_raw, mm_per_unit)

    daemon.monitor.front.process = process
    published = []
    daemon.bedside.window = lambda window: published.append(window["t"]) or []
    for f in frames:
        daemon._frame(f)
    assert daemon.bad_frames == 1
    assert published == list(range(1, len(published) + 1)) and len(published) >= 3


def test_a_looped_recording_that_cannot_be_read_is_tried_again(tmp_path):
    # The reader never retried a failed recording, even with loop: true (issue 11).
    from tests.conftest import run_cli

    path = tmp_path / "bed.db3"
    path.write_bytes(b"not a recording")
    config = default_config()
    config.source.kind, config.source.recording = "recording", str(path)
    config.source.loop, config.source.realtime, config.source.reconnect_interval_s = True, False, 1.0
    out, stop = queue.Queue(maxsize=1000), threading.Event()
    reader = FrameReader(config, out, stop)
    reader.start()
    try:
        first, second = out.get(timeout=20), out.get(timeout=20)
        assert first[0] == "lost" and second[0] == "lost"  # reported, and tried again
        good = tmp_path / "good.db3"
        code, _, err = run_cli("simulate", "recording", "--script", "eupnea:10", "--out", str(good),
                               "--width", "212", "--height", "120", "--fps", "6", "--seed", "3")
        assert code == 0, err
        good.replace(path)  # the file is mended in place
        kinds = []
        while "start" not in kinds:
            kinds.append(out.get(timeout=20)[0])
        assert out.get(timeout=20)[0] == "frame"
    finally:
        stop.set()
        reader.join(timeout=10)
    assert not reader.is_alive()


def test_a_realtime_recording_whose_clock_leaps_is_not_waited_on(tmp_path):
    # Played at the recorded pace, a leap of an hour in its timestamps held the frames for an hour
    # (and an infinite one raised); the pace now goes on from the frame after it.
    import math
    import time

    config = default_config()
    config.source.realtime = True
    out, stop = queue.Queue(), threading.Event()
    reader = FrameReader(config, out, stop)
    stamps = [1000.0 * i / 15 for i in range(15)] + [3.6e6 + 1000.0 * i / 15 for i in range(15)] + [math.inf, math.nan]
    frames = [DepthFrame(i, ms, np.zeros((4, 4), np.uint16), 1.0) for i, ms in enumerate(stamps)]
    started = time.monotonic()
    assert reader._play(frames)
    assert out.qsize() == len(frames)
    assert time.monotonic() - started < 60.0  # two seconds of recording, not an hour
