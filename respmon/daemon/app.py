"""`respmon run`: the bedside daemon.

A reader thread pulls depth frames (camera, or a recording for demos) into a short queue; the main
thread runs the Monitor on them, the alert engine once per second of source time, and publishes.
The main thread never waits on the camera for longer than a tick, so heartbeats, the camera_lost
alarm and signals keep working when frames stop. Live and recording differ only in the reader.
"""

from __future__ import annotations

import gc
import logging
import queue
import signal
import threading
import time
from pathlib import Path
from types import SimpleNamespace

from respmon.config import ConfigError, load_config
from respmon.alerts.engine import iso_utc
from respmon.daemon.bedside import START_HOLD_S, Bedside
from respmon.daemon.notify import Notifier
from respmon.errors import UsageError, short_repr
from respmon.logs import set_level, setup_logging
from respmon.monitor import BadFrame, Monitor, lost_window
from respmon.publish.schema import MAX_TEXT, MAX_VERSION
from respmon.sources.clock import ClockPace

log = logging.getLogger("respmon.daemon")

TICK_S = 0.1
MAX_PACE_SLIP_S = 1.0  # a realtime recording further off its pace than this is re-paced from the frame
WINDOW_CADENCE_S = 1.0  # the Monitor writes one window per second of source time
QUEUE_FRAMES = 30  # 1 s at 30 fps (24 MB at 848x480): rides out a region search (0.1-0.2 s), stays live
BAD_FRAME_LOG_EVERY = 100
READER_JOIN_S = 0.5  # on stop, the longest the reader is waited for (SIGTERM is honoured within 1 s)
# Sections a running daemon can take over on SIGHUP; the others shape the pipeline or its sockets.
# (classifier: its model; the other keys are for training.)
RELOADABLE = ("alerts", "log", "classifier")


def _text(value: str) -> str:
    """A text for a message: consumers refuse longer ones (respmon.publish.schema.MAX_TEXT)."""
    return value if len(value) <= MAX_TEXT else value[: MAX_TEXT - 3] + "..."


def load_configured_model(config: SimpleNamespace, unchanged: tuple[str, str] | None = None):
    """(classifier, fingerprint) of classifier.model, or None where its fingerprint (the file's
    path and sha256: a file replaced in place is another model) is `unchanged`. ModelError, one
    line, where it cannot be used."""
    from respmon.classify.names import default_model
    from respmon.classify.onnx_model import ModelError, file_sha256, onnx_beside
    from respmon.replay import load_classifier

    path = Path(config.classifier.model) if config.classifier.model else default_model()
    if not path.is_file():  # nor a FIFO, which would hold the read for ever
        raise ModelError(f"{path}: model file not found")
    # The file and the ONNX graph beside a .pt (what runs when it was exported from that .pt): a
    # graph copied after its .pt is another model, loaded by the next SIGHUP.
    beside = onnx_beside(path) if path.suffix != ".onnx" else None
    try:
        digests = [file_sha256(path)] + ([file_sha256(beside)] if beside is not None and beside.is_file() else [])
    except OSError as exc:
        raise ModelError(f"{path}: cannot read model file: {exc.strerror or exc}") from None
    # Hashed before it is loaded: a file replaced in between is loaded again by the next SIGHUP.
    fingerprint = (str(path.resolve()), "+".join(digests))
    if fingerprint == unchanged:
        return None
    classifier = load_classifier(config)
    version = classifier.version
    if not (len(version) <= MAX_VERSION and version.isprintable()):  # every alert and heartbeat carries it
        raise ModelError(f"{path}: model version {short_repr(version, 60)} is not a printable text of at "
                         f"most {MAX_VERSION} characters")
    return classifier, fingerprint


class FrameReader(threading.Thread):
    """Puts ("start", info), ("frame", DepthFrame) (a camera's: (DepthFrame, monotonic time it
    arrived)) and ("lost", reason) items on the queue."""

    def __init__(self, config: SimpleNamespace, out: queue.Queue, stop: threading.Event):
        super().__init__(name="frames", daemon=True)
        self.config = config
        self.out = out
        self.stop = stop

    def _put(self, item: tuple) -> bool:
        while not self.stop.is_set():
            try:
                self.out.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def run(self) -> None:
        try:
            if self.config.source.kind == "recording":
                self._recording()
            else:
                self._camera()
        except Exception as exc:  # never a silent dead reader: the main loop raises camera_lost
            log.exception("frame reader failed", extra={"event": "source.failed"})
            self._put(("lost", f"frame reader failed: {exc}"))

    def _recording(self) -> None:
        from respmon.sources.recording import open_depth_recording

        path = Path(self.config.source.recording)
        while not self.stop.is_set():
            try:
                info, frames = open_depth_recording(path)
                if not self._put(("start", {"fps": info["fps"], "width": info["width"], "source": str(path)})):
                    return
                if not self._play(frames):
                    return
            except UsageError as exc:  # unreadable, or truncated part way through
                self._put(("lost", str(exc)))
                # with loop, tried again (it may be replaced), as a lost camera is reopened
                if not self.config.source.loop or self.stop.wait(self.config.source.reconnect_interval_s):
                    return
                continue
            if not self.config.source.loop:
                self._put(("lost", f"recording {path.name} ended"))
                return

    def _play(self, frames) -> bool:
        """Queue a recording's frames, at the recorded pace if source.realtime; False on stop."""
        anchor = None  # (wall, recording ms) the pace is measured from
        for frame in frames:
            if self.config.source.realtime:
                now = time.monotonic()
                if anchor is None:
                    anchor = (now, frame.timestamp_ms)
                delay = anchor[0] + (frame.timestamp_ms - anchor[1]) / 1000.0 - now
                if not -MAX_PACE_SLIP_S <= delay <= MAX_PACE_SLIP_S:
                    # the recording's clock stepped back or leapt (or is no time): the Monitor says
                    # so; the pace goes on from this frame, neither a burst nor an hour's wait
                    anchor, delay = (now, frame.timestamp_ms), 0.0
                if delay > 0 and self.stop.wait(delay):
                    return False
            if not self._put(("frame", frame)):
                return False
        return True

    def _camera(self) -> None:
        from respmon.sources.camera import CameraError, read_camera

        while not self.stop.is_set():
            try:
                stream = read_camera(self.config.camera, stall_timeout_s=self.config.source.stall_s)
                with stream:
                    announced = False
                    for frame in stream:
                        if not announced:
                            announced = True
                            info = {"fps": self.config.camera.fps, "width": self.config.camera.width,
                                    "source": f"camera {stream.serial}"}
                            if not self._put(("start", info)):
                                return
                        # stamped as it comes off the driver: the clock's pace is judged against
                        # when frames came, not when a busy main loop took them from the queue
                        if not self._put(("frame", (frame, time.monotonic()))):
                            return
            except CameraError as exc:
                self._put(("lost", str(exc)))
            if self.stop.wait(self.config.source.reconnect_interval_s):
                return


class Daemon:
    def __init__(self, config: SimpleNamespace, config_path: Path | None, classifier, publisher,
                 notifier: Notifier | None = None, journal=None,
                 model_fingerprint: tuple[str, str] | None = None):
        self.config = config
        self.config_path = config_path
        # A SIGHUP loads classifier.model again where its fingerprint (load_configured_model) is
        # not this one; a daemon started without a classifier (rate only) stays without.
        self.classifier = classifier
        self.model_fingerprint = model_fingerprint
        self.notifier = notifier or Notifier()
        self.journal = journal  # an AlarmJournal: alarms survive a crash, a restart says so
        tolerance = config.source.clock_pace_tolerance
        # A live camera's clock must keep the wall clock's pace; a recording's is paced by it, or
        # (realtime false) legitimately faster.
        self.pace = ClockPace(tolerance) if config.source.kind == "camera" and tolerance > 0 else None
        self.bedside = Bedside(config, classifier.version if classifier is not None else None, publisher,
                               journal, signal=self._signal)
        self.frames: queue.Queue = queue.Queue(maxsize=QUEUE_FRAMES)
        self.stop_event = threading.Event()
        self.reload_requested = False
        # SIGHUP's config is read and checked off the main loop (a slow disk or a large file must
        # not stall heartbeats and alarms); the main loop applies what comes back.
        self.reload_results: queue.Queue = queue.Queue()
        self.reload_thread: threading.Thread | None = None
        self.monitor: Monitor | None = None
        self.offset_t = 0  # daemon seconds before the current source session
        self.last_t = 0  # last second handed to the alert engine
        self.frame_count = 0
        self.bad_frames = 0
        self.ready_sent = False
        self.last_frame_mono: float | None = None
        # Liveness is progress, not frames: when the Monitor last wrote a second of source time
        # that was monitored, not lost (or, for a session that has not written one yet, when its
        # first second was due).
        self.last_window_mono: float | None = None
        # ...and when a frame last moved the source's time on: a timestamp the Monitor could use,
        # on a frame it could process.
        self.last_usable_mono: float | None = None
        self.lost_reason: str | None = None
        self.session_published = False  # the current source session has written a window
        self.windows_since_ping = 0
        self.source_name = "starting"
        self.session_info: dict | None = None
        self.started_mono = time.monotonic()

    # Signals only set flags; the main loop acts on them between ticks.
    def request_stop(self, *_: object) -> None:
        self.stop_event.set()

    def request_reload(self, *_: object) -> None:
        self.reload_requested = True

    def run(self) -> int:
        # Startup left some 200,000 long-lived objects (torch and the classifier, scipy, numpy):
        # frozen out of the cyclic GC's way, a full collection no longer walks them while
        # monitoring (75-90 ms of the main loop each time) nor at exit (350 ms of a SIGTERM).
        gc.collect()
        gc.freeze()
        self._restore()
        reader = FrameReader(self.config, self.frames, self.stop_event)
        reader.start()
        log.info("started", extra={"bed": self.config.bed.name, "event": "daemon.start",
                                   "source": self.config.source.kind,
                                   "endpoint": getattr(self.bedside.publisher, "endpoint", None)})
        next_heartbeat = next_ping = next_lost = time.monotonic()
        try:
            while not self.stop_event.is_set():
                self._reload_step()
                self.bedside.release()  # the start's alerts, once subscribers have had time to reconnect
                self._drain()
                now = time.monotonic()
                if self._stalled(now) and now >= next_lost:
                    self.last_t += 1
                    self.bedside.window(lost_window(self.last_t, _text(self.lost_reason or "no frames")))
                    next_lost = now + 1.0
                if now >= next_heartbeat:
                    self._heartbeat(now)
                    next_heartbeat = now + self.config.publish.heartbeat_interval_s
                if self.notifier.watchdog_interval_s is not None and now >= next_ping:
                    # Only while the Monitor writes new seconds of source time: a stalled camera, a
                    # wedged reader or frames the pipeline cannot use (a frozen clock, every frame
                    # bad) get the process restarted by systemd, which is also the cure for a stuck
                    # librealsense.
                    if self.lost_reason is None and (self.windows_since_ping or self._progressing(now)):
                        self.notifier.watchdog()
                    self.windows_since_ping = 0
                    next_ping = now + self.notifier.watchdog_interval_s
        finally:
            clean = self.stop_event.is_set()  # a stop asked for; not an exception on its way out
            self.stop_event.set()
            stopping = time.monotonic()
            try:  # the last word, so that a console can tell a stop from a crash
                self._heartbeat(stopping, "stopping")
            except Exception:
                log.exception("last heartbeat failed", extra={"bed": self.config.bed.name, "event": "daemon.stop"})
            self.notifier.stopping()
            # The publisher first (it waits for what it has queued to go out, not for the reader),
            # then what is left of the reader's time: a source stuck in its driver is not waited
            # for beyond READER_JOIN_S (the reader is a daemon thread).
            self.bedside.close(self.last_t, clean)
            reader.join(timeout=max(0.0, stopping + READER_JOIN_S - time.monotonic()))
            if reader.is_alive():
                log.warning("frame reader still busy in the source after %g s: not waited for", READER_JOIN_S,
                            extra={"bed": self.config.bed.name, "event": "daemon.stop"})
            log.info("stopped", extra={"bed": self.config.bed.name, "event": "daemon.stop",
                                       "frames": self.frame_count})
        return 0

    def _progressing(self, now: float) -> bool:
        """The Monitor wrote a new second of source time within the stall limit (_stalled)."""
        return (self.lost_reason is None and self.session_published
                and now - self.last_window_mono < self.config.source.stall_s + WINDOW_CADENCE_S)

    def _restore(self) -> None:
        """What the journal knew: the alarms active when the last run ended are active again (same
        ids; they clear when their condition has ended), events it wrote but may not have sent go
        out, monitor time goes on from where it was (plus the time it was down), and an unclean
        stop raises monitoring_restarted. The snapshot is set here in any case: the publisher holds
        snapshot requests until then (a console asking as the daemon comes back is not told that
        nothing is active before the restored alarms are in)."""
        if self.journal is None:
            self.bedside.alerts([], None)
            return
        bed = self.config.bed.name
        try:
            previous = self.journal.start_run()
        except Exception as exc:  # the journal is there to help; it never stops the monitoring
            log.error("alarm journal unreadable, starting without it: %s", exc,
                      extra={"bed": bed, "event": "journal.failed"})
            self.journal = self.bedside.journal = None
            self.bedside.alerts([], None)
            return
        try:
            self._restore_from(previous)
        except Exception as exc:  # whatever the file held, monitoring starts
            log.error("alarm journal: restoring failed, starting with what was restored: %s", exc,
                      extra={"bed": bed, "event": "journal.failed"})
            self.bedside.alerts([], None)

    def _restore_from(self, previous) -> None:
        bed = self.config.bed.name
        now = time.time()
        down_s = None if previous.last_wall_s is None else max(0.0, now - previous.last_wall_s)
        if previous.last_t is not None:
            self.last_t = int(previous.last_t + (down_s or 0.0)) + 1
        # What the last run wrote and may not have sent goes out again (at worst twice), before
        # this start's own alerts, all START_HOLD_S from now: the subscribers that lost the last
        # run reconnect first (the snapshot has them at once).
        self.bedside.hold(START_HOLD_S, previous.unpublished, previous.unpublished_seqs)
        self.bedside.engine.restore(previous.active, self.last_t)
        if previous.active:
            log.warning("%d alarm(s) restored from the journal: %s", len(previous.active),
                        ", ".join(a["condition"] for a in previous.active), extra={"bed": bed, "event": "journal.restored"})
        events = []
        if previous.unclean:
            last_alive = None if previous.last_wall_s is None else iso_utc(previous.last_wall_s)
            events = self.bedside.engine.restarted(self.last_t, down_s, last_alive)
        self.bedside.alerts(events, self.last_t)

    def _signal(self) -> dict | None:
        """An onset's 60 s of signal, timed in the daemon's seconds (a session's follow offset_t)."""
        if self.monitor is None:
            return None
        signal = self.monitor.recent_signal_mm()
        if signal is not None and signal["end_t"] is not None:
            signal["end_t"] = round(self.offset_t + signal["end_t"], 3)
        return signal

    def _stalled(self, now: float) -> bool:
        """Whether monitoring has stopped: no new second of source time for source.stall_s, be it
        for want of frames or of frames the pipeline can use."""
        if self.lost_reason is not None:
            return True
        stall_s = self.config.source.stall_s
        since = self.last_window_mono if self.last_window_mono is not None else self.started_mono
        usable = self.last_usable_mono if self.last_usable_mono is not None else self.started_mono
        frames_arrive = self.last_frame_mono is not None and now - self.last_frame_mono < stall_s
        # Frames that arrive and cannot move the source's time on (a frozen clock, garbage
        # timestamps, every frame bad): stall_s after the last one that could. No frames at all is
        # the reader's to say first (the camera's stall timeout, with its reason); seconds are
        # written once per second of source time, so in any case a stall is stall_s past the next
        # one due.
        if (frames_arrive and now - usable >= stall_s) or now - since >= stall_s + WINDOW_CADENCE_S:
            if frames_arrive:
                skipped = 0 if self.monitor is None else self.monitor.skipped_times
                self.lost_reason = (f"frames arrive but give no signal for {stall_s:g} s ({self.bad_frames} bad, "
                                    f"{skipped} without a usable timestamp)")
            else:
                self.lost_reason = f"no frame for {stall_s:g} s"
            self.monitor = None  # frames that come back start a new session: no stale windows
            log.warning("source stalled: %s", self.lost_reason,
                        extra={"bed": self.config.bed.name, "event": "source.stalled"})
            return True
        return False

    def _drain(self) -> None:
        """Handle what the reader queued, for at most one tick."""
        deadline = time.monotonic() + TICK_S
        while True:
            try:
                kind, payload = self.frames.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                return
            if kind == "frame":
                self._frame(*payload) if isinstance(payload, tuple) else self._frame(payload)
            elif kind == "start":
                self._start_session(payload)
            elif kind == "lost":
                if self.lost_reason is None:
                    log.warning("source lost: %s", payload, extra={"bed": self.config.bed.name,
                                                                   "event": "source.lost"})
                self.lost_reason = payload
                self.monitor = None
            if time.monotonic() >= deadline:
                return

    def _off_pace(self, frame, arrived_mono: float | None) -> bool:
        """A live camera whose clock runs off the wall clock's pace: its frames are not monitored
        (every rate would be wrong by that factor); the daemon says lost, with the pace."""
        fault = self.pace.observe(time.monotonic() if arrived_mono is None else arrived_mono,
                                  frame.timestamp_ms / 1000.0)
        if fault is None:
            return False
        if self.lost_reason != fault:
            log.warning("source clock off pace: %s", fault, extra={"bed": self.config.bed.name,
                                                                  "event": "source.clock_pace"})
        self.lost_reason = fault
        self.monitor = None  # back on pace, a new session: nothing timed by the wrong clock goes on
        self.frame_count += 1
        self.last_frame_mono = time.monotonic()
        return True

    def _start_session(self, info: dict) -> None:
        self.session_info = info
        if self.pace is not None:
            self.pace.reset()
        self.monitor = Monitor(self.config, fps=float(info["fps"]), width=int(info["width"]),
                               classifier=self.classifier, summarize=False)
        self.offset_t = self.last_t
        self.session_published = False
        self.last_window_mono = time.monotonic() + 1.0  # its first second is a second of frames away
        self.last_usable_mono = time.monotonic()
        self.source_name = info["source"]
        log.info("source started", extra={"bed": self.config.bed.name, "event": "source.start",
                                          "source": info["source"]})

    def _frame(self, frame, arrived_mono: float | None = None) -> None:
        if self.pace is not None and self._off_pace(frame, arrived_mono):
            return
        if self.monitor is None:
            if self.session_info is None:
                return
            self._start_session(self.session_info)
        self.frame_count += 1
        self.last_frame_mono = time.monotonic()
        skipped = self.monitor.skipped_times
        try:
            windows = self.monitor.frame(frame.timestamp_ms / 1000.0, frame.depth_raw, frame.mm_per_unit)
            if self.monitor.skipped_times == skipped:
                self.last_usable_mono = self.last_frame_mono
        except Exception as exc:  # a bad frame costs that frame, never the daemon
            self.bad_frames += 1
            cause = exc.__cause__ if isinstance(exc, BadFrame) else exc
            if self.bad_frames == 1 or self.bad_frames % BAD_FRAME_LOG_EVERY == 0:
                log.warning("bad frame skipped: %s", cause, extra={"bed": self.config.bed.name,
                                                                   "event": "frame.bad", "count": self.bad_frames})
            # the seconds completed before it still go out
            windows = exc.lines if isinstance(exc, BadFrame) else []
        if not self.ready_sent:
            self.ready_sent = True
            self.notifier.ready(f"{self.config.bed.name}: first frame from {self.source_name}")
        if not windows:
            return
        if not self.session_published:
            # Until a session monitors (writes a second that is not lost) the daemon says lost
            # itself, a second per second of wall time, and the session's lost seconds would
            # collide with those. Its seconds follow the daemon's.
            windows = windows[next((i for i, w in enumerate(windows) if w["state"] != "lost"), len(windows)):]
            if not windows:
                return
            self.session_published = True
            self.offset_t = self.last_t - windows[0]["t"] + 1
        if self.lost_reason is not None:
            log.info("monitoring again", extra={"bed": self.config.bed.name, "event": "source.back"})
            self.lost_reason = None
        # Liveness is seconds monitored: a lost second (a clock fault, frames that cannot be
        # processed) is said, and is no progress.
        monitored = sum(w["state"] != "lost" for w in windows)
        if monitored:
            self.last_window_mono = time.monotonic()
        self.windows_since_ping += monitored
        for window in windows:
            window["t"] = self.offset_t + window["t"]
            self.last_t = window["t"]
            self.bedside.window(window)

    def _heartbeat(self, now: float, state: str | None = None) -> None:
        latest = self.bedside.latest or {}
        if state is None:
            state = "lost" if self.lost_reason is not None else latest.get("state", "starting")
        status = {"state": state, "source": _text(self.source_name), "frames": self.frame_count,
                  "bad_frames": self.bad_frames, "uptime_s": round(now - self.started_mono, 1),
                  "t": self.last_t, "reason": None if self.lost_reason is None else _text(self.lost_reason)}
        self.bedside.heartbeat(status)
        rate = latest.get("rr_bpm")
        alerts = ", ".join(sorted(self.bedside.engine.active)) or "no alerts"
        self.notifier.status(f"{self.config.bed.name}: {state}"
                             + (f", {rate:.1f} bpm" if rate is not None else "") + f"; {alerts}")

    def _reload_step(self) -> None:
        """Start reading the config for a SIGHUP (one read at a time), apply a finished read."""
        if self.reload_requested and (self.reload_thread is None or not self.reload_thread.is_alive()):
            self.reload_requested = False
            self.reload_thread = threading.Thread(
                target=lambda: self.reload_results.put(self._read_reload()), name="reload", daemon=True)
            self.reload_thread.start()
        try:
            new, model = self.reload_results.get_nowait()
        except queue.Empty:
            return
        self._apply_config(new, model)

    def reload(self) -> None:
        """Reread the config file (and a changed model) and apply it, here and now."""
        self._apply_config(*self._read_reload())

    def _read_reload(self) -> tuple[SimpleNamespace | None, tuple | None]:
        """What a SIGHUP reads (off the main loop): the config, and the model where it changed."""
        new = self._read_new_config()
        return new, None if new is None else self._read_model(new)

    def _read_model(self, new: SimpleNamespace) -> tuple | None:
        """load_configured_model's (classifier, fingerprint) where `new` names another model than
        the running one; None where it names the same, or (one log line) one that cannot be used."""
        if self.classifier is None:
            return None
        try:
            return load_configured_model(new, unchanged=self.model_fingerprint)
        except UsageError as exc:
            reason = str(exc)
        except Exception as exc:  # whatever the file holds, the running model goes on
            reason = f"{type(exc).__name__}: {exc}"
        log.error("model not reloaded, keeping %s: %s", self.classifier.version, " ".join(reason.split()),
                  extra={"bed": self.config.bed.name, "event": "classifier.refused"})
        return None

    def _read_new_config(self) -> SimpleNamespace | None:
        """The config file as it is now; None, with one log line, where it cannot be used. The
        allow-list of client keys is read again too (a key added or revoked takes a SIGHUP)."""
        bed = self.config.bed.name
        self._reload_clients()
        if self.config_path is None:
            log.warning("reload: no config file to read (started without --config)",
                        extra={"bed": bed, "event": "config.reload_skipped"})
            return None
        try:
            return load_config(self.config_path)
        except ConfigError as exc:
            reason = str(exc)
        except Exception as exc:  # whatever the file holds, a reload never costs the running daemon
            reason = f"{self.config_path}: {type(exc).__name__}: {exc}"
        log.error("reload refused, keeping the running config: %s", reason,
                  extra={"bed": bed, "event": "config.reload_refused"})
        return None

    def _reload_clients(self) -> None:
        bed = self.config.bed.name
        reload_clients = getattr(self.bedside.publisher, "reload_clients", None)
        if reload_clients is None:
            return
        try:
            count = reload_clients()
        except UsageError as exc:
            log.error("reload: keeping the allowed client keys: %s", exc,
                      extra={"bed": bed, "event": "keys.reload_refused"})
            return
        if count is not None:
            log.info("%d client key(s) allowed", count, extra={"bed": bed, "event": "keys.reloaded"})

    def _apply_config(self, new: SimpleNamespace | None, model: tuple | None = None) -> None:
        if new is None:
            return
        bed = self.config.bed.name
        needs_restart = [section for section in vars(new)
                         if section not in RELOADABLE and getattr(new, section) != getattr(self.config, section)]
        self.config.alerts = new.alerts
        self.config.log = new.log
        self.bedside.engine.reconfigure(new.alerts)
        set_level(new.log.level)
        if model is not None and model[1] != self.model_fingerprint:
            self._swap_model(new, *model)
        log.info("config reloaded" + (f"; changes to {', '.join(needs_restart)} take a restart "
                                      "(still running the old values)" if needs_restart else ""),
                 extra={"bed": bed, "event": "config.reloaded"})

    def _swap_model(self, new: SimpleNamespace, classifier, fingerprint: tuple[str, str]) -> None:
        """Between two seconds: the Monitor's classifier and the version on the alerts and
        heartbeats change together."""
        old = self.bedside.engine.model_version
        self.classifier, self.model_fingerprint = classifier, fingerprint
        self.config.classifier = new.classifier
        if self.monitor is not None:
            self.monitor.classifier = classifier
        self.bedside.engine.model_version = classifier.version
        log.info("model reloaded: %s -> %s (%s)", old, classifier.version, classifier.runtime,
                 extra={"bed": self.config.bed.name, "event": "classifier.reloaded", "old_version": old,
                        "new_version": classifier.version, "model": fingerprint[0],
                        "runtime": classifier.runtime})


def _check_setup(config: SimpleNamespace, config_path: Path | None):
    """What the config points at (the recording, the keys) before anything starts: the CURVE
    security of the sockets; UsageError, one line, where it cannot be used."""
    if config.source.kind == "recording":
        from respmon.sources.recording import recording_info

        if not config.source.recording:
            raise UsageError("source.recording: a recording path is needed when source.kind is recording")
        recording_info(Path(config.source.recording))
    elif config.source.kind == "camera":
        from respmon.optional import Missing, MissingExtra, REALSENSE_MISSING, import_realsense

        if isinstance(import_realsense(), Missing):
            raise MissingExtra(REALSENSE_MISSING)
    from respmon.publish.security import server_security

    return server_security(config, config_path, [config.publish.endpoint, config.publish.snapshot_endpoint])


def run(args) -> int:
    config = load_config(args.config)
    setup_logging(config.log.level)
    try:
        security = _check_setup(config, args.config)
    except UsageError as exc:  # the line names the config that pointed there
        raise UsageError(f"{args.config}: {exc}" if args.config is not None else str(exc)) from None
    from respmon.publish.security import is_local
    from respmon.publish.zmq_pub import Publisher

    from respmon.alerts.journal import journal_path, open_journal

    endpoints = [config.publish.endpoint, config.publish.snapshot_endpoint]
    journal = open_journal(journal_path(config.journal.path, config.bed.name), config.bed.name,
                           config.journal.max_events)
    classifier, fingerprint = load_configured_model(config)
    publisher = Publisher(config.publish.endpoint, config.publish.snapshot_endpoint, config.bed.name,
                          config.publish.send_hwm, security=security, hold_snapshots=True)  # until _restore
    bed = config.bed.name
    if security is None:
        log.warning("publish.insecure: alerts go out in plain text to anyone on this box",
                    extra={"bed": bed, "event": "publish.insecure"})
    else:
        log.info("CURVE on; %d client key(s) allowed from %s", publisher.allow_list.count,
                 security.clients_dir, extra={"bed": bed, "event": "publish.curve"})
    for endpoint in endpoints:
        if not is_local(endpoint):
            log.warning("%s is not loopback: under the systemd unit only loopback reaches it unless "
                        "IPAddressAllow names the station (systemd/README.md)", endpoint,
                        extra={"bed": bed, "event": "publish.not_loopback"})
    daemon = Daemon(config, args.config, classifier, publisher, journal=journal,
                    model_fingerprint=fingerprint)
    signal.signal(signal.SIGTERM, daemon.request_stop)
    signal.signal(signal.SIGINT, daemon.request_stop)
    signal.signal(signal.SIGHUP, daemon.request_reload)
    return daemon.run()
