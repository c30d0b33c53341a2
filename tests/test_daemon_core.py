"""The daemon's pieces in-process: the camera reader's reconnect loop (with a fake camera) and
SIGHUP's reload (of the config, and of a changed model)."""

from __future__ import annotations

import logging
import os
import queue
import shutil
import signal
import threading
import time

import numpy as np

from respmon.config import default_config, load_config
from respmon.daemon.app import Daemon, FrameReader, load_configured_model
from respmon.daemon.notify import Notifier
from respmon.sources.recording import DepthFrame
from tests.conftest import REPO


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


# --- SIGHUP with a changed classifier.model ----------------------------------------------------


def _model(tmp_path, name: str, revision: str | None = None):
    """A copy of the shipped model; with `revision`, the same weights under another version."""
    from respmon.classify.model_io import load_model, save_model

    path = tmp_path / name
    if revision is None:
        shutil.copyfile(REPO / "models" / "biatgru.pt", path)
    else:
        net, info = load_model(REPO / "models" / "biatgru.pt")
        save_model(path, net, info["arch"], {**info["meta"], "code_revision": revision})
    return path


def _events(caplog, event: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if getattr(r, "event", None) == event]


def test_sighup_swaps_a_changed_model_and_keeps_the_running_one_when_the_new_one_fails(tmp_path, caplog):
    a, b = _model(tmp_path, "a.pt"), _model(tmp_path, "b.pt", "model-b")
    path = tmp_path / "respmon.yaml"
    path.write_text(f'classifier:\n  model: "{a}"\n', encoding="utf-8")
    config = load_config(path)
    classifier, fingerprint = load_configured_model(config)
    version_a = classifier.version
    daemon = Daemon(config, path, classifier, None, model_fingerprint=fingerprint)
    daemon._start_session({"fps": 15, "width": 424, "source": "test"})
    caplog.set_level(logging.INFO, logger="respmon.daemon")

    daemon.reload()  # the same file: nothing loaded
    assert daemon.classifier is classifier and not _events(caplog, "classifier.reloaded")

    path.write_text(f'classifier:\n  model: "{b}"\n', encoding="utf-8")
    daemon.reload()
    assert daemon.classifier.version == daemon.bedside.engine.model_version == "biatgru@model-b"
    assert daemon.monitor.classifier is daemon.classifier  # the running session's Monitor too
    [reloaded] = _events(caplog, "classifier.reloaded")
    assert (reloaded.old_version, reloaded.new_version) == (version_a, "biatgru@model-b")

    _model(tmp_path, "b.pt", "model-c")  # the file replaced in place, the config unchanged
    daemon.reload()
    assert daemon.classifier.version == daemon.bedside.engine.model_version == "biatgru@model-c"
    assert daemon.monitor.classifier is daemon.classifier

    running = daemon.classifier
    for broken, why in ((b"not a model", "not a readable model file"), (None, "model file not found")):
        b.unlink(missing_ok=True)
        if broken is not None:
            b.write_bytes(broken)
        caplog.clear()
        daemon.reload()
        assert daemon.classifier is running and daemon.monitor.classifier is running
        assert daemon.bedside.engine.model_version == "biatgru@model-c"
        [refused] = _events(caplog, "classifier.refused")
        assert refused.levelno == logging.ERROR and "\n" not in refused.getMessage()
        assert f"keeping biatgru@model-c: {b}: {why}" in refused.getMessage()
        assert not [r for r in caplog.records if r.levelno >= logging.ERROR and r is not refused]


def test_a_running_daemon_takes_a_new_model_on_sighup_and_its_alerts_and_heartbeats_say_so(tmp_path, caplog):
    # The daemon on a recording (it ends: camera_lost, an update a second), a real SIGHUP.
    from tests.conftest import run_cli
    from tests.test_daemon_liveness import Recorder

    recording = tmp_path / "bed.db3"
    code, _, err = run_cli("simulate", "recording", "--script", "eupnea:12", "--out", str(recording),
                           "--width", "212", "--height", "120", "--fps", "6", "--seed", "3")
    assert code == 0, err
    a, b = _model(tmp_path, "a.pt"), _model(tmp_path, "b.pt", "model-b")
    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"\x80\x02 not a model")
    path = tmp_path / "respmon.yaml"

    def configure(model):
        path.write_text(f'source:\n  kind: recording\n  recording: "{recording}"\n  realtime: false\n'
                        f'publish:\n  heartbeat_interval_s: 0.2\nalerts:\n  update_interval_s: 1\n'
                        f'classifier:\n  model: "{model}"\n', encoding="utf-8")

    configure(a)
    config = load_config(path)
    classifier, fingerprint = load_configured_model(config)
    version_a = classifier.version
    recorder = Recorder()
    daemon = Daemon(config, path, classifier, recorder, notifier=Notifier({}), model_fingerprint=fingerprint)
    thread = threading.Thread(target=daemon.run, name="daemon-under-test")
    caplog.set_level(logging.INFO, logger="respmon.daemon")

    def wait_for(what, found, timeout_s=20.0):
        deadline = time.monotonic() + timeout_s
        while not (result := found()):
            assert time.monotonic() < deadline, f"no {what} within {timeout_s} s"
            assert thread.is_alive(), "the daemon died"
            time.sleep(0.05)
        return result

    def sent_since(start: int, kind: str) -> list[dict]:
        return [m for _, k, m in recorder.messages[start:] if k == kind]

    previous = signal.signal(signal.SIGHUP, daemon.request_reload)
    thread.start()
    try:
        wait_for("heartbeat", lambda: sent_since(0, "heartbeat"))
        assert sent_since(0, "heartbeat")[0]["model_version"] == version_a

        configure(b)
        os.kill(os.getpid(), signal.SIGHUP)
        wait_for("classifier.reloaded", lambda: _events(caplog, "classifier.reloaded"))
        start = len(recorder.messages)
        alert = wait_for("alert", lambda: sent_since(start, "alert"))[0]
        heartbeat = wait_for("heartbeat", lambda: sent_since(start, "heartbeat"))[0]
        assert alert["model_version"] == heartbeat["model_version"] == "biatgru@model-b"
        [reloaded] = _events(caplog, "classifier.reloaded")
        assert (reloaded.old_version, reloaded.new_version) == (version_a, "biatgru@model-b")

        configure(broken)
        os.kill(os.getpid(), signal.SIGHUP)
        wait_for("classifier.refused", lambda: _events(caplog, "classifier.refused"))
        start = len(recorder.messages)
        alert = wait_for("alert", lambda: sent_since(start, "alert"))[0]
        heartbeat = wait_for("heartbeat", lambda: sent_since(start, "heartbeat"))[0]
        assert alert["model_version"] == heartbeat["model_version"] == "biatgru@model-b"
        assert len(_events(caplog, "classifier.refused")) == 1 and len(_events(caplog, "classifier.reloaded")) == 1
        assert thread.is_alive()
    finally:
        daemon.request_stop()
        thread.join(timeout=10)
        signal.signal(signal.SIGHUP, previous)
    assert not thread.is_alive()
    assert [m for _, k, m in recorder.messages if k == "heartbeat"][-1]["state"] == "stopping"
