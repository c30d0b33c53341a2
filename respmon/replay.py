"""`respmon replay FILE`: the daemon's streaming path over a recording or a waveform, as fast as
the machine allows, one JSON line per second of source time."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Callable, Iterator

import numpy as np

from respmon.config import load_config
from respmon.daemon.bedside import Bedside
from respmon.errors import UsageError
from respmon.logs import setup_logging
from respmon.monitor import BadFrame, Monitor

RECORDING_SUFFIXES = (".db3", ".bag")
MIN_DURATION_S = 10.0  # shorter than this cannot show a single slow breath, let alone a rate


def _check_duration(path: Path, duration_s: float | None) -> None:
    if duration_s is not None and duration_s < MIN_DURATION_S:
        raise UsageError(f"{path}: recording too short to analyse ({duration_s:.2f} s; at least "
                         f"{MIN_DURATION_S:g} s needed)")


class SignalTap:
    """The replay's Monitor once there is one: what Bedside asks for an onset's 60 s of signal."""

    def __init__(self):
        self.monitor: Monitor | None = None

    def __call__(self) -> dict | None:
        return None if self.monitor is None else self.monitor.recent_signal_mm()


def replay_recording(path: Path, config: SimpleNamespace, on_sample: Callable | None = None,
                     classifier=None, tap: SignalTap | None = None) -> Iterator[dict]:
    from respmon.sources.recording import open_depth_recording

    info, frames_in = open_depth_recording(path)
    _check_duration(path, info["duration_s"])
    monitor = Monitor(config, fps=float(info["fps"]), width=int(info["width"]), on_sample=on_sample,
                      classifier=classifier)
    if tap is not None:
        tap.monitor = monitor
    last_ms = None
    frames = 0
    for frame in frames_in:
        last_ms = frame.timestamp_ms
        frames += 1
        try:
            yield from monitor.frame(frame.timestamp_ms / 1000.0, frame.depth_raw, frame.mm_per_unit)
        except BadFrame as exc:  # that frame is skipped, as the daemon skips it
            yield from exc.lines
    # What the Monitor could use: a clock that stepped back or leapt does not count its jump.
    _check_duration(path, monitor.elapsed_s)
    yield from monitor.finish((last_ms + 1000.0 / info["fps"]) / 1000.0 if last_ms is not None else None)
    yield {"type": "summary", "source": "depth", "frames": frames, **monitor.summary()}


def replay_waveform(path: Path, config: SimpleNamespace, column: str | None, rate_hz: float | None,
                    on_sample: Callable | None = None, classifier=None, tap: SignalTap | None = None
                    ) -> Iterator[dict]:
    from respmon.sources.waveform import read_waveform_csv

    t_s, values, column = read_waveform_csv(path, column, rate_hz)
    step_s = float(np.median(np.diff(t_s))) if len(t_s) > 1 else 0.0
    _check_duration(path, float(t_s[-1] - t_s[0]) + step_s)
    monitor = Monitor(config, on_sample=on_sample, classifier=classifier)
    if tap is not None:
        tap.monitor = monitor
    for t, v in zip(t_s, values):
        yield from monitor.sample(float(t), float(v))
    yield from monitor.finish(float(t_s[-1]) + step_s)
    yield {"type": "summary", "source": "waveform", "column": column, "samples": len(values), **monitor.summary()}


def load_classifier(config: SimpleNamespace):
    """The configured pattern classifier (the shipped model unless classifier.model names one)."""
    from respmon.classify.infer import PatternClassifier, one_inference_thread

    classifier = PatternClassifier(Path(config.classifier.model) if config.classifier.model else None)
    one_inference_thread()
    return classifier


def run(args) -> int:
    config = load_config(args.config)
    path: Path = args.file
    suffix = path.suffix.lower()
    if args.plot is not None and args.plot.suffix.lower() not in (".png", ".svg", ".pdf"):
        raise UsageError(f"--plot: {args.plot} must end in .png, .svg or .pdf")
    signal: list[tuple[float, float]] = []
    on_sample = (lambda t, v: signal.append((t, v))) if args.plot is not None else None
    if suffix not in RECORDING_SUFFIXES + (".csv",):
        raise UsageError(f"{path}: unknown file type (expected .db3, .bag or .csv)")
    if suffix in RECORDING_SUFFIXES and (args.column is not None or args.rate_hz is not None):
        raise UsageError("--column and --rate-hz are for CSV waveforms, not depth recordings")
    if args.snapshot is not None and args.publish is None:
        raise UsageError("--snapshot goes with --publish")
    setup_logging(config.log.level)
    publisher = _publisher(config, args)  # bound first: subscribers connect while the model loads
    try:
        classifier = load_classifier(config)
    except BaseException:
        if publisher is not None:
            publisher.close()
        raise
    tap = SignalTap()  # onsets carry the signal, printed and published, as the daemon's do
    if suffix in RECORDING_SUFFIXES:
        lines = replay_recording(path, config, on_sample, classifier, tap)
    else:
        lines = replay_waveform(path, config, args.column, args.rate_hz, on_sample, classifier, tap)
    bedside = Bedside(config, classifier.version, publisher, signal=tap)
    windows = []
    try:
        for line in with_alerts(lines, bedside, config.publish.heartbeat_interval_s, args.realtime, path.name):
            if line["type"] == "window":
                windows.append(line)
            print(json.dumps(line), flush=args.realtime or bedside.publisher is not None)
    finally:
        bedside.close()
    sys.stdout.flush()
    if args.plot is not None:
        from respmon.plot import plot_replay

        plot_replay(args.plot, signal, windows, title=path.name)
    return 0


def _publisher(config: SimpleNamespace, args):
    if args.publish is None:
        return None
    from respmon.publish.security import server_security
    from respmon.publish.zmq_pub import Publisher

    snapshot = args.snapshot or config.publish.snapshot_endpoint
    security = server_security(config, args.config, [args.publish, snapshot])
    return Publisher(args.publish, snapshot, config.bed.name, config.publish.send_hwm, security=security)


def with_alerts(lines: Iterator[dict], bedside, heartbeat_s: float = 1.0, realtime: bool = False,
                source: str = "") -> Iterator[dict]:
    """The replay lines with the alert engine's events after each window (and published, when the
    bedside has a publisher, with a heartbeat once a wall-clock second as the daemon sends)."""
    import time

    started = time.monotonic()
    next_heartbeat = started
    alerts = 0
    for line in lines:
        if line["type"] == "window":
            if realtime:
                delay = started + line["t"] - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            yield line
            for event in bedside.window(line):
                alerts += event["event"] == "onset"
                yield event
            now = time.monotonic()
            if now >= next_heartbeat:
                # The daemon's fields; frame counts and a lost source's reason are the daemon's own.
                bedside.heartbeat({"state": line["state"], "source": source, "frames": None, "bad_frames": None,
                                   "uptime_s": round(now - started, 1), "t": line["t"], "reason": None})
                next_heartbeat = now + heartbeat_s
        else:
            if line["type"] == "summary":
                line["alerts"] = alerts
                line["active_alerts"] = sorted(bedside.engine.active)
            yield line
