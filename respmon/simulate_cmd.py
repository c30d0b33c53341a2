"""`respmon simulate signals|recording|beds`: the CLI edge of `sim/`."""

from __future__ import annotations

import logging
import math
import os
import re
import signal
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Callable, TextIO

import numpy as np
import zmq

from respmon.config import SCHEMA, check_bed, check_value, default_config, load_config
from respmon.daemon.bedside import Bedside
from respmon.errors import UsageError, short_repr
from respmon.logs import setup_logging
from respmon.patterns import PATTERNS, label_of
from respmon.publish.security import (CLIENTS_FOLDER, AllowList, ServerSecurity, create_key_pair, is_local,
                                      keys_folder, load_client_keys, load_key_pair)
from respmon.publish.zmq_pub import Publisher
from respmon.sim.script import parse_script
from respmon.sim.ward import BedPlan, SimulatedBed, WardSegment, parse_segment, plan_ward

log = logging.getLogger("respmon.simulate")


def check_output_path(path: Path, suffixes: tuple[str, ...]) -> None:
    """Fail before any long work if the output cannot be written."""
    if path.suffix.lower() not in suffixes:
        raise UsageError(f"{path}: output must end in {' or '.join(suffixes)}")
    parent = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise UsageError(f"{path}: is a folder, not a file")
    if not parent.is_dir():
        raise UsageError(f"{path}: folder {parent} does not exist")
    existed = path.exists()
    try:
        with open(path, "ab"):
            pass
    except OSError as exc:
        raise UsageError(f"{path}: not writable: {exc.strerror or exc}") from None
    if not existed:
        path.unlink()


def generate_signals(pattern: str, count: int, mode: str, duration_s: float, rate_hz: float,
                     seed: int, authors_version: str) -> tuple[np.ndarray, np.ndarray]:
    patterns = PATTERNS if pattern == "all" else (pattern,)
    rng = np.random.default_rng(seed)
    try:
        if mode == "authors":
            from respmon.sim.rsm_authors import authors_dataset

            return authors_dataset(patterns, count, rng, duration_s=duration_s, rate_hz=rate_hz,
                                   version=authors_version)
        from respmon.sim.rsm_physiological import physiological_dataset

        return physiological_dataset(patterns, count, rng, duration_s=duration_s, rate_hz=rate_hz)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def _write_atomically(path: Path, write) -> None:
    tmp = None
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=path.suffix, dir=path.parent)
        os.close(fd)
        tmp = Path(tmp_name)
        write(tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except OSError as exc:
        raise UsageError(f"{path}: cannot write: {exc.strerror or exc}") from None
    finally:
        if tmp is not None:
            tmp.unlink(missing_ok=True)


def write_signals(path: Path, labels: np.ndarray, signals: np.ndarray, *, rate_hz: float, mode: str) -> None:
    """CSV in the authors' layout (label, then samples; one signal a row) or an .npz."""
    if path.suffix.lower() == ".csv":
        table = np.column_stack([labels.astype(float), signals])
        fmt = ["%d"] + ["%.6g"] * signals.shape[1]
        _write_atomically(path, lambda tmp: np.savetxt(tmp, table, fmt=fmt, delimiter=","))
    else:
        def save(tmp: Path) -> None:
            with open(tmp, "wb") as handle:
                np.savez_compressed(handle, labels=labels.astype(np.int64), signals=signals.astype(np.float32),
                                    rate_hz=np.float64(rate_hz), mode=np.str_(mode),
                                    patterns=np.array(PATTERNS))
        _write_atomically(path, save)


def run_signals(args) -> int:
    config = load_config(args.config)
    rate_hz = args.rate_hz if args.rate_hz is not None else config.signal.rate_hz
    check_output_path(args.out, (".csv", ".npz"))
    labels, signals = generate_signals(args.pattern, args.count, args.mode, args.duration, rate_hz,
                                       args.seed, args.authors_version)
    assert set(np.unique(labels)) <= {label_of(p) for p in PATTERNS}
    write_signals(args.out, labels, signals, rate_hz=rate_hz, mode=args.mode)
    print(f"wrote {len(labels)} signals of {signals.shape[1]} samples at {rate_hz:g} Hz to {args.out}",
          file=sys.stderr)
    return 0


def run_recording(args) -> int:
    from respmon.sim.recording import write_synthetic_recording

    config = load_config(args.config)
    defaults = config.simulation.recording
    try:
        segments = parse_script(args.script)
    except ValueError as exc:
        raise UsageError(f"--script: {exc}") from None
    check_output_path(args.out, (".db3",))
    width = args.width or defaults.width
    height = args.height or defaults.height
    fps = args.fps or defaults.fps
    distance_m = args.distance_m if args.distance_m is not None else defaults.distance_m
    tilt_deg = args.tilt_deg if args.tilt_deg is not None else defaults.tilt_deg
    _check_recording_settings(width, height, fps, distance_m, tilt_deg)
    result = write_synthetic_recording(
        args.out, segments, width=width, height=height, fps=fps, distance_m=distance_m,
        tilt_deg=tilt_deg, seed=args.seed, script=args.script,
    )
    print(f"wrote {result.path} ({result.frames_written} frames, {result.frames_played} play back) "
          f"and {result.truth_path} in {result.wall_s:.1f} s", file=sys.stderr)
    return 0


def _check_recording_settings(width: int, height: int, fps: int, distance_m: float, tilt_deg: float) -> None:
    limits = SCHEMA["simulation"]["recording"]
    for name, value in (("width", width), ("height", height), ("fps", fps),
                        ("distance_m", distance_m), ("tilt_deg", tilt_deg)):
        check_value(limits[name], value, "--" + name.replace("_", "-"))


def run(args) -> int:
    if args.kind == "signals":
        return run_signals(args)
    if args.kind == "beds":
        return run_beds_command(args)
    return run_recording(args)


# `respmon simulate beds`: a living ward for a station (sim/ward.py makes the windows).

MAX_BEDS = 256
MAX_SPEED = 100.0
MODEL_VERSION = "simulated"  # alerts' model_version: no classifier ran
PROGRESS_EVERY_S = 10.0
MAX_BEHIND_S = 2.0  # a loop further behind its schedule than this drops the debt (no burst)
STOP_JOIN_S = 10.0


@dataclass(frozen=True)
class PublishedAlert:
    """An alert event as it went out: `wall_s` is its envelope's time, when it was published."""

    bed: str
    event: str
    condition: str
    alarm_id: str
    t: float | None
    wall_s: float
    signal_samples: int | None  # an onset's: how many samples its signal holds


def ward_endpoints(publish: str, count: int) -> list[tuple[str, str]]:
    """Bed i (1-based) publishes on PORT+2(i-1) and answers snapshots on the port after it."""
    if not 1 <= count <= MAX_BEDS:
        raise UsageError(f"--count: must be 1 to {MAX_BEDS}, got {count}")
    match = re.fullmatch(r"tcp://([^\s/]+):(\d{1,5})", publish)
    if not match or not 1 <= int(match.group(2)) <= 65535:
        raise UsageError(f"--publish: must be tcp://HOST:PORT with a port 1 to 65535, got {short_repr(publish, 80)}")
    host, port = match.group(1), int(match.group(2))
    last = port + 2 * count - 1
    if last > 65535:
        raise UsageError(f"--publish: {count} beds need ports {port} to {last}, past 65535")
    return [(f"tcp://{host}:{port + 2 * i}", f"tcp://{host}:{port + 2 * i + 1}") for i in range(count)]


def ward_plans(count: int, seed: int = 0, script: str | None = None, prefix: str = "bed-") -> list[BedPlan]:
    """Beds prefix1..prefixN on the script (the default mix without one); UsageError for a bad one."""
    for name in (f"{prefix}1", f"{prefix}{count}"):
        try:
            check_bed(name)
        except ValueError as exc:
            raise UsageError(f"--prefix: a bed name {exc}") from None
    try:
        return plan_ward(count, seed, script, prefix)
    except ValueError as exc:
        raise UsageError(f"--script: {exc}") from None


class WardPublisher(Publisher):
    """A bed's Publisher that tells the ward what it sent."""

    def __init__(self, *args, on_sent: Callable[[str, dict], None], **kwargs):
        self.on_sent = on_sent
        super().__init__(*args, **kwargs)

    def publish(self, kind: str, payload: dict, condition: str | None = None) -> dict:
        message = super().publish(kind, payload, condition)
        self.on_sent(kind, message)
        return message


def _raise_open_files(sockets: int) -> None:
    """Each ZeroMQ socket takes a few descriptors (and each peer one): 256 beds are 512 sockets,
    past a default soft limit of 1024 once a station connects."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 4 * sockets + 256
    if soft != resource.RLIM_INFINITY and soft < wanted:
        raised = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (raised, hard))


@dataclass
class _WardBed:
    sim: SimulatedBed
    bedside: Bedside
    publisher: WardPublisher


class SimulatedWard:
    """Simulated beds in one process, each publishing exactly what a bed daemon publishes: vitals
    every simulated second (1/speed s of wall time), a heartbeat every publish.heartbeat_interval_s
    of wall time, alert events from the real AlertEngine through the real Bedside (onsets with
    their 60 s signal), and snapshots answered.

    `start()` runs it in a thread, `run()` in this one; `stop()` ends it (each bed's last
    heartbeat says "stopping"). `force(bed, "central_apnea:40")` plays a segment on a bed from its
    next second on. `alerts` lists every alert event published, with the wall time it went out;
    `on_alert` (called on the ward's thread) hears of each too.

    Security as the daemon's: CURVE with keys_dir/BED.key_secret (made when missing: a bed pair
    is no secret a station lacks, its public key is what the station needs) and the allow-list
    keys_dir/clients/ (never made here); or, with insecure, plain text on loopback and ipc:// only."""

    def __init__(self, plans: list[BedPlan], endpoints: list[tuple[str, str]], *, speed: float = 1.0,
                 keys_dir: Path | None = None, insecure: bool = False, config: SimpleNamespace | None = None,
                 on_alert: Callable[[PublishedAlert], None] | None = None, progress: TextIO | None = None,
                 source: str = "simulated ward"):
        if len(plans) != len(endpoints) or not 1 <= len(plans) <= MAX_BEDS:
            raise UsageError(f"--count: must be 1 to {MAX_BEDS} beds, each with its endpoints")
        if not (math.isfinite(speed) and 0 < speed <= MAX_SPEED):
            raise UsageError(f"--speed: must be more than 0 and at most {MAX_SPEED:g}, got {speed!r}")
        self.config = config or default_config()
        self.speed = speed
        self.on_alert = on_alert
        self.progress = progress
        self.source = source
        self.alerts: list[PublishedAlert] = []
        self.vitals_sent = 0
        self.seconds = 0  # simulated seconds done
        self.behind_s = 0.0  # wall seconds the loop could not keep up with, dropped
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._running = False  # run() is on its way: it closes the beds when it ends
        self._closed = False
        self._started_mono = time.monotonic()
        securities = self._securities([p.name for p in plans], endpoints, keys_dir, insecure)
        _raise_open_files(2 * len(plans))
        self.context = zmq.Context()
        self.context.set(zmq.MAX_SOCKETS, max(1024, 2 * len(plans) + 64))
        self.allow_list = None
        self.beds: dict[str, _WardBed] = {}
        try:
            if securities[0] is not None:
                self.allow_list = AllowList(self.context, securities[0].clients_dir)
            for plan, (pub, snap), security in zip(plans, endpoints, securities):
                self.beds[plan.name] = self._bed(plan, pub, snap, security)
        except BaseException:
            self._close()
            raise

    @classmethod
    def create(cls, count: int, publish: str, *, script: str | None = None, seed: int = 0, prefix: str = "bed-",
               **kwargs) -> "SimulatedWard":
        """Beds prefix1..prefixN on PORT, PORT+2, ... (`ward_endpoints`), on the script."""
        return cls(ward_plans(count, seed, script, prefix), ward_endpoints(publish, count),
                   source=f"simulated ward (seed {seed})", **kwargs)

    @staticmethod
    def _securities(names: list[str], endpoints: list[tuple[str, str]], keys_dir: Path | None,
                    insecure: bool) -> list[ServerSecurity | None]:
        if insecure:
            for endpoint in (e for pair in endpoints for e in pair):
                if not is_local(endpoint):
                    raise UsageError(f"--insecure: plain text is allowed on loopback and ipc:// only, not on "
                                     f"{endpoint}; use CURVE keys there (--keys-dir)")
            return [None] * len(names)
        if keys_dir is None:
            raise UsageError("CURVE needs a key folder (--keys-dir), or --insecure on loopback")
        clients = keys_dir / CLIENTS_FOLDER
        load_client_keys(clients)  # refused now, with one line, rather than in the ZAP thread
        securities = []
        for name in names:
            secret = keys_dir / f"{name}.key_secret"
            if not secret.exists() and not (keys_dir / f"{name}.key").exists():
                create_key_pair(keys_dir, name)
                log.info("made the key pair of %s in %s", name, keys_dir, extra={"bed": name, "event": "keys.created"})
            securities.append(ServerSecurity(load_key_pair(secret), clients))
        return securities

    def _bed(self, plan: BedPlan, pub: str, snap: str, security: ServerSecurity | None) -> _WardBed:
        sim = SimulatedBed(plan)
        publisher = WardPublisher(pub, snap, plan.name, self.config.publish.send_hwm, context=self.context,
                                  security=security, allow_list=self.allow_list, on_sent=self._sent)
        bed_config = SimpleNamespace(bed=SimpleNamespace(name=plan.name), alerts=self.config.alerts,
                                     region=self.config.region)
        bedside = Bedside(bed_config, MODEL_VERSION, publisher, signal=sim.recent_signal_mm)
        bedside.alerts([], None)  # the snapshot: nothing active yet
        return _WardBed(sim, bedside, publisher)

    def endpoints(self, bed: str) -> tuple[str, str]:
        """The bed's (PUB, snapshot) endpoints as bound."""
        publisher = self.beds[bed].publisher
        return publisher.endpoint, publisher.snapshot_endpoint

    def _sent(self, kind: str, message: dict) -> None:
        if kind == "vitals":
            self.vitals_sent += 1
            return
        if kind != "alert":
            return
        onset_signal = message.get("signal")
        alert = PublishedAlert(message["bed"], message["event"], message["condition"], message["id"],
                               message.get("t"), message["time"],
                               None if not onset_signal else len(onset_signal["mm"]))
        self.alerts.append(alert)
        if self.on_alert is not None:
            self.on_alert(alert)

    def force(self, bed: str, segment: str | WardSegment) -> int:
        """Play `segment` ("central_apnea:40", or a sim.ward.WardSegment) on `bed` from its next
        second on; its script goes on after it. Returns that second (the bed's t)."""
        if isinstance(segment, str):
            segment = parse_segment(segment)  # ValueError naming it
        with self._lock:
            return self.beds[bed].sim.force(segment)

    def start(self) -> "SimulatedWard":
        self._thread = threading.Thread(target=self.run, name="ward", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout_s: float = STOP_JOIN_S) -> None:
        """Stop and wait for the beds to close (from run() on another thread: it closes them)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
        elif not self._running:
            self._close()

    def request_stop(self, *_: object) -> None:
        """For a signal handler: the loop ends at its next wake-up (at most a tick away)."""
        self._stop.set()

    def __enter__(self) -> "SimulatedWard":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def run(self, duration_s: float | None = None) -> None:
        """Until stop() (or for duration_s of wall time); closes the beds at the end."""
        self._running = True
        tick_s = 1.0 / self.speed
        started = time.monotonic()
        next_tick = next_heartbeat = started
        next_progress = started + PROGRESS_EVERY_S
        try:
            while not self._stop.wait(max(0.0, min(next_tick, next_heartbeat) - time.monotonic())):
                now = time.monotonic()
                if duration_s is not None and now - started >= duration_s:
                    break
                if now >= next_tick:
                    self._tick()
                    next_tick += tick_s
                    if time.monotonic() - next_tick > MAX_BEHIND_S:
                        self.behind_s += time.monotonic() - next_tick
                        next_tick = time.monotonic()
                if now >= next_heartbeat:
                    self._heartbeats()
                    next_heartbeat = now + self.config.publish.heartbeat_interval_s
                if self.progress is not None and now >= next_progress:
                    self.progress.write(self.status_line() + "\n")
                    self.progress.flush()
                    next_progress = now + PROGRESS_EVERY_S
        finally:
            self._close()

    def _tick(self) -> None:
        with self._lock:
            for bed in self.beds.values():
                bed.bedside.window(bed.sim.step())
            self.seconds += 1

    def _heartbeats(self, state: str | None = None) -> None:
        uptime_s = round(time.monotonic() - self._started_mono, 1)
        for bed in self.beds.values():
            latest = bed.bedside.latest or {}
            bed.bedside.heartbeat({"state": state or latest.get("state", "starting"), "source": self.source,
                                   "frames": None, "bad_frames": None, "uptime_s": uptime_s, "t": bed.sim.t,
                                   "reason": None})

    def active_alarms(self) -> dict[str, list[str]]:
        """bed: the conditions active on it now."""
        return {name: sorted(bed.bedside.engine.active) for name, bed in self.beds.items() if bed.bedside.engine.active}

    def status_line(self) -> str:
        active = self.active_alarms()
        shown = ", ".join(f"{bed} {'+'.join(conditions)}" for bed, conditions in list(active.items())[:6])
        more = f" and {len(active) - 6} more" if len(active) > 6 else ""
        onsets = sum(a.event == "onset" for a in self.alerts)
        behind = f"; {self.behind_s:.0f} s behind its pace" if self.behind_s >= 1 else ""
        return (f"simulate beds: {len(self.beds)} beds, {self.seconds} s simulated ({self.speed:g}x), "
                f"{self.vitals_sent} vitals, {onsets} onsets sent; active: {shown or 'none'}{more}{behind}")

    def _close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for bed in self.beds.values():
            bed.publisher.stop_snapshots()
        if self.beds:
            try:
                self._heartbeats("stopping")  # the last word: a console can tell a stop from a crash
            except Exception:
                log.exception("last heartbeats failed", extra={"event": "simulate.stop"})
        for bed in self.beds.values():
            bed.bedside.close(bed.sim.t)
        if self.allow_list is not None:
            self.allow_list.stop()
        self.context.term()


def run_beds(count: int, publish: str, **kwargs) -> SimulatedWard:
    """SimulatedWard.create(...), started in a thread: stop it with .stop()."""
    return SimulatedWard.create(count, publish, **kwargs).start()


def run_beds_command(args) -> int:
    config = load_config(args.config)
    setup_logging(config.log.level)
    keys_dir = None if args.insecure else (args.keys_dir or keys_folder(config.keys.dir, args.config))
    ward = SimulatedWard.create(args.count, args.publish, script=args.script, seed=args.seed, prefix=args.prefix,
                                speed=args.speed, keys_dir=keys_dir, insecure=args.insecure, config=config,
                                progress=sys.stderr)
    first, last = ward.endpoints(f"{args.prefix}1"), ward.endpoints(f"{args.prefix}{args.count}")
    print(f"simulate beds: {args.prefix}1..{args.prefix}{args.count} publishing on {first[0]} .. {last[0]}, "
          f"snapshots on the port after each; " + ("plain text (--insecure)" if args.insecure else
                                                  f"CURVE, keys in {keys_dir}") + "; Ctrl-C stops",
          file=sys.stderr, flush=True)
    previous = {sig: signal.signal(sig, ward.request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        ward.run(duration_s=args.for_s)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    print(ward.status_line().replace("simulate beds:", "simulate beds: stopped;", 1), file=sys.stderr)
    return 0
