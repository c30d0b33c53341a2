"""kill -9 at random moments of a scripted night (issue 11, "Done when"): after each restart the
alarms that were active are active again with the same ids, every onset gets exactly one clear,
and monitoring_restarted is raised.

Run: .venv/bin/python bench/crash_restart.py [--kills 50] [--seed 9100] [--speed 16] [--cycles 8]
     [--plain] [--keep DIR]

The daemon is `respmon run` itself (respmon.daemon.app.run: config file, CURVE keys, alarm journal,
Publisher, Daemon) in a real process that is killed with SIGKILL, over a fake camera under
respmon.sources.camera (camera.py's own code streams from it, as in tests/test_fault_injection.py)
whose scene is a function of WALL time since a fixed epoch, `--speed` times faster than real time:
the patient's night goes on while the daemon is down. The night is the script below, `--cycles`
times over, then eupnea until every alarm has cleared:

    eupnea 100 s, central apnea 45 s (alarms after 20 s), eupnea 80 s, tachypnea (32 bpm) 150 s,
    central apnea 35 s, empty bed 60 s (nobody_in_bed clears the patient's alarms), eupnea 150 s

Each daemon is a fork of one preloaded process (imports, the shipped classifier, the scene: a
fresh interpreter takes ~3 s, 48 s of the night at 16x): it is a process of its own with its own
sockets, journal connection and threads, and SIGKILL is SIGKILL. A restart waits RESTART_S of
patient time first (systemd's RestartSec=5 of the shipped unit, plus a start).

A subscriber (this process) with an allow-listed CURVE key records every alert message of every
daemon, and asks each new daemon for its snapshot as soon as it answers (the way a console that
lost its publisher would). After each kill, before the restart, the journal file is read (the
daemon is dead). check() then holds the night to:

- restore: every alarm active when the daemon died (in the journal, and as the subscriber knew
  it) is in the new daemon's first snapshot with the same id, condition, onset and onset_t,
  unless its clear was journaled; a monitoring_restarted with a new id is in it; the first
  snapshot is never one without the restored alarms;
- once: over the night, per alert id, one onset and one clear in the journal; the subscriber
  received that onset and that clear (a copy re-sent after a kill is the same event, counted
  apart as a re-send), nothing of an id after its clear, no onset of a condition while the same
  condition was active under another id; every run after an unclean stop raised
  monitoring_restarted; at the end (SIGTERM) nothing is active and the stop was clean.

Measured on this project's 2-core machine (shared, load ~3), defaults (50 kills, seed 9100, 16x,
8 nights of 620 s, CURVE): 315 s wall; 0 problems; 51 daemons, 50 first snapshots, 28 restored
alarms found in them with their ids; 88 onsets, 88 clears (central_apnea 11, tachypnea 7,
nobody_in_bed 5, monitoring_restarted 50, low_signal_quality 11, biots 4); kills with an alarm on:
tachypnea 12, central_apnea 3, nobody_in_bed 5, biots 3, low_signal_quality 5,
monitoring_restarted 18; 25 re-sent copies received; no alert sent and not received; a kill to the
next daemon's first snapshot 0.69-0.87 s (0.5 s of it the restart delay).

What it found (before the fixes): a first snapshot after a restart said that nothing was active
(6 of 7: the snapshot socket answered before the journal was read); a kill just after the journal
had marked an alert sent lost it (2 of 3: ZeroMQ had not yet passed it on, and the next start did
not send it again); a restart's monitoring_restarted onset went out before the subscriber had
reconnected (1 restart in 10). tests/test_journal.py holds each of them.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

BED = "bed-9"
FPS, WIDTH, HEIGHT = 15, 212, 120
CYCLE = ("eupnea@14:100,central_apnea:45,eupnea@14:80,tachypnea@32:150,central_apnea:35,absent:60,"
         "eupnea@14:150")
CYCLE_S = 620.0
TAIL_S = 900.0  # eupnea after the scripted night, for the alarms to clear (a restored tachypnea
# needs the chest found, a classifier window and clear_s: about 110 s)
RESTART_S = 8.0  # patient seconds between a kill and the next start (RestartSec=5, plus a start)
RESTART_NOTICE_S = 30.0  # alerts.restart_notice_s: short, so that the night sees it clear
MAX_LAG_S = 60.0  # a reader further behind the camera than this (patient seconds) loses frames
CONDITIONS = ("central_apnea", "tachypnea", "nobody_in_bed", "monitoring_restarted", "low_signal_quality",
              "camera_lost", "bradypnea", "biots", "cheyne_stokes")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- the camera: the night as a function of the wall clock --------------------------------------


def night_timeline(cycles: int, seed: int):
    import numpy as np

    from respmon.sim.recording import build_timeline
    from respmon.sim.script import parse_script

    script = ",".join([CYCLE] * cycles + [f"eupnea@14:{TAIL_S:g}"])
    return build_timeline(parse_script(script), FPS, np.random.default_rng(seed))


class NightCamera:
    """A D4xx seen through pyrealsense2 (tests/fake_realsense's objects): `query_devices()` (this
    is the context) and `pipeline()` (the pipeline factory). Frame k shows the patient at night
    time k / FPS and is due at wall time epoch + k / (FPS * speed); a pipeline started at any
    moment streams from the frame due then, as a camera shows what is in front of it now."""

    def __init__(self, timeline, speed: float, seed: int = 3):
        from respmon.sim.scene import BedScene
        from tests.fake_realsense import FakeDevice

        self.timeline, self.speed = timeline, speed
        self.device = FakeDevice("900000000091")
        self.scene = BedScene(WIDTH, HEIGHT, seed=seed)
        for present in (True, False):  # the ray casts, once, before the fork
            self.scene.render(0.0, present=present)
        self.epoch: float | None = None

    def night_s(self, wall: float | None = None) -> float:
        return ((time.time() if wall is None else wall) - self.epoch) * self.speed

    def due(self, k: int) -> float:
        return self.epoch + k / (FPS * self.speed)

    def frame(self, k: int):
        from tests.fake_realsense import FakeDepth

        tl = self.timeline
        i = min(k, tl.frame_count - 1)
        data = self.scene.render(float(tl.displacement_mm[i]), present=bool(tl.present[i]),
                                 pose_mm=tuple(float(v) for v in tl.pose_mm[i]), t_s=k / FPS)
        return FakeDepth(k + 1, data, 5.0e6 + k * 1000.0 / FPS)  # the camera's own clock runs on

    def query_devices(self):
        return [self.device]

    def pipeline(self) -> NightPipeline:
        return NightPipeline(self)


class NightPipeline:
    def __init__(self, camera: NightCamera):
        self.camera = camera
        self.k: int | None = None
        self.dropped = 0

    def start(self, config):
        self.k = max(0, math.ceil(self.camera.night_s() * FPS))
        return SimpleNamespace(get_device=lambda: self.camera.device)

    def stop(self):
        self.k = None

    def try_wait_for_frames(self, timeout_ms):
        from tests.fake_realsense import FakeFrames

        deadline = time.monotonic() + timeout_ms / 1000.0
        while True:
            now = time.time()
            due = self.camera.due(self.k)
            if now >= due:
                behind = int(self.camera.night_s(now) * FPS) - self.k
                if behind > MAX_LAG_S * FPS:  # a camera's queue drops what nobody took
                    self.dropped += behind
                    self.k += behind
                    print(f"camera: reader {behind / FPS:.1f} s behind, frames dropped", file=sys.stderr)
                frame = self.camera.frame(self.k)
                self.k += 1
                return True, FakeFrames(frame)
            if time.monotonic() >= deadline:
                return False, None
            time.sleep(max(0.0, min(due - now, deadline - time.monotonic())))


# --- the forking server: one preloaded process, a daemon per fork --------------------------------


def serve(args) -> int:
    """Preload, then on stdin: `epoch E`, `start LOG DIE`, `poll PID`, `wait PID`; answers on stdout."""
    from respmon.config import load_config
    from respmon.replay import load_classifier

    import respmon.daemon.app  # noqa: F401  (imported before the fork, with what it imports)
    import respmon.publish.zmq_pub  # noqa: F401
    import respmon.sources.camera  # noqa: F401
    import respmon.alerts.journal  # noqa: F401

    config = load_config(Path(args.config))
    classifier = load_classifier(config)
    camera = NightCamera(night_timeline(args.cycles, args.seed), args.speed)
    assert threading.active_count() == 1, "threads before fork"
    print("ready", flush=True)
    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        if words[0] == "epoch":
            camera.epoch = float(words[1])
            print("ok", flush=True)
        elif words[0] == "start":
            sys.stdout.flush()
            sys.stderr.flush()
            pid = os.fork()
            if pid == 0:
                _daemon(Path(args.config), camera, classifier, Path(words[1]), words[2])
            print(f"pid {pid}", flush=True)
        elif words[0] in ("poll", "wait"):
            pid = int(words[1])
            done, status = os.waitpid(pid, 0 if words[0] == "wait" else os.WNOHANG)
            print("alive" if done == 0 else f"exit {os.waitstatus_to_exitcode(status)}", flush=True)
    return 0


def _daemon(config_path: Path, camera: NightCamera, classifier, log: Path, die: str) -> None:
    """In the child: `respmon run --config config_path`, its camera the night, never returning."""
    code = 1
    try:
        fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os.close(fd)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)
        import functools

        from respmon import replay
        from respmon.alerts.journal import AlarmJournal
        from respmon.daemon import app
        from respmon.publish.zmq_pub import Publisher
        from respmon.sources import camera as camera_module

        camera_module.read_camera = functools.partial(camera_module.read_camera, context=camera,
                                                      pipeline_factory=camera.pipeline)
        replay.load_classifier = lambda config: classifier  # loaded once, before the fork
        facts = log.with_suffix(".facts")

        def note(**kwargs) -> None:  # what the harness needs to tie this process to its messages
            with open(facts, "a", encoding="utf-8") as out:
                out.write(json.dumps(kwargs) + "\n")

        publisher_init, start_run = Publisher.__init__, AlarmJournal.start_run

        def init(self, *a, **kw):
            publisher_init(self, *a, **kw)
            note(publisher=self.publisher_id, bound=time.time())

        def started(self, *a, **kw):
            previous = start_run(self, *a, **kw)
            note(run=self.run_id)
            return previous

        Publisher.__init__, AlarmJournal.start_run = init, started
        _die_at(die, app, AlarmJournal, Publisher)
        code = app.run(SimpleNamespace(config=config_path))
    except BaseException:  # noqa: BLE001 - the log says what, the exit status that it failed
        import traceback

        traceback.print_exc()
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def _die_at(die: str, app, journal_class, publisher_class) -> None:
    """kill -9 at an exact instant instead of a random one: `start-record`: the start's events
    journaled, not yet published; `record`: the first event after the start journaled, not yet
    published; `publish`: the first alert after the start handed to ZeroMQ, not yet marked sent;
    `published`: that alert marked sent in the journal."""
    if die == "-":
        return
    started = {"done": False}
    restore, record, publish = app.Daemon._restore, journal_class.record, publisher_class.publish

    def _restore(self):
        restore(self)
        started["done"] = True

    def _record(self, events, t=None):
        seqs = record(self, events, t)
        if seqs and (die == "record") == started["done"] and die in ("record", "start-record"):
            os.kill(os.getpid(), signal.SIGKILL)
        return seqs

    def _publish(self, kind, payload, condition=None):
        message = publish(self, kind, payload, condition)
        if die == "publish" and kind == "alert" and started["done"]:
            os.kill(os.getpid(), signal.SIGKILL)
        return message

    marked = journal_class.published

    def _published(self, seqs):
        marked(self, seqs)
        if die == "published" and seqs and started["done"]:
            os.kill(os.getpid(), signal.SIGKILL)

    app.Daemon._restore, journal_class.record, publisher_class.publish = _restore, _record, _publish
    journal_class.published = _published


class Forker:
    """The test's end of the forking server."""

    def __init__(self, folder: Path, config: Path, speed: float, cycles: int, seed: int):
        self.log = open(folder / "forker.log", "ab")
        self.exits: dict[int, str] = {}
        self.proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "serve", "--config", str(config), "--speed", str(speed),
             "--cycles", str(cycles), "--seed", str(seed)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log, cwd=str(folder), text=True, bufsize=1)
        line = self._line(timeout_s=180)
        assert line == "ready", f"forking server: {line!r} (see {folder / 'forker.log'})"

    def _line(self, timeout_s: float = 60.0) -> str:
        result: list[str] = []
        reader = threading.Thread(target=lambda: result.append(self.proc.stdout.readline()), daemon=True)
        reader.start()
        reader.join(timeout_s)
        assert result, "the forking server does not answer"
        return result[0].strip()

    def ask(self, command: str) -> str:
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        return self._line()

    def status(self, pid: int, wait: bool = False) -> str:
        """"alive", or "exit N" (N: the exit status, -9 for SIGKILL); a process is reaped once."""
        if pid not in self.exits:
            answer = self.ask(f"{'wait' if wait else 'poll'} {pid}")
            if answer == "alive":
                return answer
            assert answer.startswith("exit "), f"forking server: {answer!r}"
            self.exits[pid] = answer
        return self.exits[pid]

    def close(self) -> None:
        try:
            self.proc.stdin.close()
            self.proc.wait(timeout=10)
        except Exception:  # noqa: BLE001
            self.proc.kill()
        self.log.close()


# --- the subscriber ------------------------------------------------------------------------------


class Listener(threading.Thread):
    """Every alert and heartbeat from the bed, with the wall time it came."""

    def __init__(self, endpoint: str, security):
        super().__init__(name="listener", daemon=True)
        self.endpoint, self.security = endpoint, security
        self.lock = threading.Lock()
        self.messages: list[tuple[float, dict]] = []
        self.stop = threading.Event()
        self.joined = threading.Event()

    def run(self) -> None:
        from respmon.publish.zmq_pub import receive, subscriber

        sub = subscriber(self.endpoint, [f"alert/{BED}/", f"heartbeat/{BED}/"], security=self.security)
        try:
            while not self.stop.is_set():
                got = receive(sub, 50)
                if got is not None:
                    self.joined.set()
                    with self.lock:
                        self.messages.append((time.time(), got[1]))
        finally:
            sub.close(linger=0)

    def alerts(self) -> list[tuple[float, dict]]:
        with self.lock:
            return [(at, m) for at, m in self.messages if m.get("type") == "alert"]


# --- one night -----------------------------------------------------------------------------------


@dataclass
class Kill:
    """How a daemon's life ends: kill -9 `at` a night time (patient seconds since the epoch), or
    `after` a condition was seen active (its onset, an update or the daemon's first snapshot), a
    random 0 to delay_s patient seconds later (at until_s if it never was); or `die`: the daemon
    kills itself at an exact instant (`how`, see _die_at). The last daemon of a night is stopped
    with SIGTERM once the night is over and every alarm has cleared."""

    kind: str
    night_s: float = 0.0
    condition: str = ""
    delay_s: float = 0.0
    until_s: float = math.inf
    how: str = "-"


@dataclass
class Life:
    index: int
    pid: int
    die: str
    started: float
    log: Path
    ended: float | None = None
    how: str = ""
    exit: int | None = None
    kill_night_s: float | None = None
    snapshot: dict | None = None  # the first one it answered
    snapshot_at: float | None = None
    journal_after: dict | None = None  # the journal file when it had died
    facts: dict = field(default_factory=dict)


def random_kills(count: int, seed: int, cycles: int, warmup_s: float = 60.0) -> list[Kill]:
    """`count` moments drawn uniformly over the scripted night (after a first minute)."""
    rng = random.Random(seed)
    return [Kill("at", night_s=s) for s in sorted(rng.uniform(warmup_s, cycles * CYCLE_S) for _ in range(count))]


def write_setup(folder: Path, curve: bool) -> tuple[Path, dict]:
    from respmon.publish.security import create_key_pair

    endpoints = {"endpoint": f"tcp://127.0.0.1:{free_port()}", "snapshot_endpoint": f"tcp://127.0.0.1:{free_port()}"}
    if curve:
        create_key_pair(folder / "keys", BED)
        create_key_pair(folder / "keys", "nurse", authorize=True)
    config = folder / "night.yaml"
    config.write_text("\n".join([
        f"bed: {{name: {BED}}}",
        # the camera's clock runs --speed times the wall's, on purpose: its pace is not judged
        "source: {kind: camera, stall_s: 2.0, reconnect_interval_s: 1.0, clock_pace_tolerance: 0.0}",
        f"camera: {{width: {WIDTH}, height: {HEIGHT}, fps: {FPS}}}",
        f"alerts: {{restart_notice_s: {RESTART_NOTICE_S}}}",
        f"publish: {{endpoint: \"{endpoints['endpoint']}\", snapshot_endpoint: \"{endpoints['snapshot_endpoint']}\","
        f" heartbeat_interval_s: 0.25, insecure: {'false' if curve else 'true'}}}",
        "keys: {dir: keys, client: nurse}",
        f"journal: {{path: \"{folder / 'night.alarms.sqlite'}\", max_events: 1000000}}",
        "log: {level: info}",
    ]) + "\n", encoding="utf-8")
    return config, endpoints


def read_journal(path: Path) -> dict:
    """The journal file as the next start will find it (nothing is writing it now)."""
    db = sqlite3.connect(path, timeout=10.0)
    try:
        events = [{"seq": s, "run": r, "wall_s": w, **json.loads(m)} for s, r, w, m in
                  db.execute("SELECT seq, run, wall_s, message FROM events ORDER BY seq")]
        published = {s: bool(p) for s, p in db.execute("SELECT seq, published FROM events")}
        active = [json.loads(m) for (m,) in db.execute("SELECT onset_message FROM active ORDER BY rowid")]
        runs = [dict(zip(("id", "last_t", "clean"), row)) for row in
                db.execute("SELECT id, last_t, clean_stop FROM runs ORDER BY id")]
    finally:
        db.close()
    for event in events:
        event["published"] = published[event["seq"]]
    return {"events": events, "active": active, "runs": runs}


class Night:
    def __init__(self, folder: Path, kills: list[Kill], speed: float = 16.0, cycles: int = 1, seed: int = 9100,
                 curve: bool = True, say=print):
        self.folder, self.kills, self.speed, self.cycles, self.seed = folder, kills, speed, cycles, seed
        self.say = say
        self.config, self.endpoints = write_setup(folder, curve)
        self.journal = folder / "night.alarms.sqlite"
        self.security = None
        if curve:
            from respmon.publish.security import ClientSecurity, load_key_pair, load_public_key

            self.security = ClientSecurity(load_key_pair(folder / "keys" / "nurse.key_secret"),
                                           load_public_key(folder / "keys" / f"{BED}.key"))
        self.lives: list[Life] = []
        self.final_snapshot: dict | None = None
        self.final_journal: dict | None = None
        self.skipped: list[str] = []
        self.epoch = 0.0

    # times
    def night_now(self) -> float:
        return (time.time() - self.epoch) * self.speed

    def wall_at(self, night_s: float) -> float:
        return self.epoch + night_s / self.speed

    def _sleep_until(self, night_s: float) -> None:
        while (left := self.wall_at(night_s) - time.time()) > 0:
            time.sleep(min(left, 0.05))

    def run(self) -> Night:
        self.forker = Forker(self.folder, self.config, self.speed, self.cycles, self.seed)
        self.listener = Listener(self.endpoints["endpoint"], self.security)
        self.listener.start()
        try:
            self.epoch = time.time() + 0.5
            assert self.forker.ask(f"epoch {self.epoch!r}") == "ok"
            rng = random.Random(self.seed + 1)
            for kill in self.kills:
                if kill.kind == "after":
                    kill.delay_s = rng.uniform(0.0, kill.delay_s)
            self._start(self.kills[0].how if self.kills and self.kills[0].kind == "die" else "-")
            for i, kill in enumerate(self.kills):
                nxt = self.kills[i + 1] if i + 1 < len(self.kills) else None
                self._end(kill)
                self._sleep_until(self.night_now() + RESTART_S)
                self._start(nxt.how if nxt is not None and nxt.kind == "die" else "-")
            self._finish()
        finally:
            self.listener.stop.set()
            self.listener.join(5)
            self.forker.close()
        return self

    def _start(self, die: str) -> None:
        index = len(self.lives)
        log = self.folder / f"daemon-{index:02d}.log"
        answer = self.forker.ask(f"start {log} {die}")
        assert answer.startswith("pid "), answer
        life = Life(index, int(answer.split()[1]), die, time.time(), log)
        self.lives.append(life)
        self._first_snapshot(life)

    def _first_snapshot(self, life: Life, deadline_s: float = 60.0) -> None:
        """Ask until this daemon answers (a console that saw its publisher go); gives up when the
        daemon died first."""
        from respmon.publish.zmq_pub import request_snapshot

        known = {l.snapshot["publisher"] for l in self.lives if l.snapshot is not None}
        end = time.monotonic() + deadline_s
        while time.monotonic() < end:
            snap = request_snapshot(self.endpoints["snapshot_endpoint"], 0.3, security=self.security)
            if snap is not None and snap.get("publisher") not in known:
                life.snapshot, life.snapshot_at = snap, time.time()
                return
            if life.die != "-" and self.forker.status(life.pid) != "alive":
                return  # it died at its instant before it could answer
        raise AssertionError(f"daemon {life.index} never answered a snapshot (see {life.log})")

    def _end(self, kill: Kill) -> None:
        life = self.lives[-1]
        if kill.kind == "die":
            end = time.monotonic() + 120.0
            while (status := self.forker.status(life.pid)) == "alive" and time.monotonic() < end:
                time.sleep(0.02)
            if status == "alive":
                self.skipped.append(f"daemon {life.index}: its {kill.how} instant never came; killed")
                os.kill(life.pid, signal.SIGKILL)
                status = self.forker.status(life.pid, wait=True)
            life.how = f"died at {kill.how}"
        else:
            if kill.kind == "after":
                seen = self._wait_active(kill.condition, kill.until_s)
                if seen is None:
                    self.skipped.append(f"daemon {life.index}: {kill.condition} never active before "
                                        f"night {kill.until_s:.0f} s; killed then")
                    at = max(kill.until_s, self.night_now())
                else:
                    at = (seen - self.epoch) * self.speed + kill.delay_s
                life.how = f"kill -9 {kill.delay_s:.0f} s after {kill.condition}"
            else:
                at = kill.night_s
                life.how = "kill -9 at random"
            self._sleep_until(at)
            life.kill_night_s = self.night_now()
            os.kill(life.pid, signal.SIGKILL)
            status = self.forker.status(life.pid, wait=True)
        life.ended = time.time()
        life.exit = int(status.split()[1])
        life.journal_after = read_journal(self.journal)
        life.facts = self._facts(life)
        self.say(f"  night {self.night_now():7.1f} s: daemon {life.index} {life.how}; active in the journal:"
                 f" {', '.join(a['condition'] for a in life.journal_after['active']) or '-'}")

    def _wait_active(self, condition: str, until_s: float) -> float | None:
        """The wall time the subscriber first saw `condition` active (its onset, an update, or in
        the current daemon's snapshot) while the daemon that is alive now runs."""
        life = self.lives[-1]
        while self.night_now() < until_s:
            if life.snapshot is not None and any(a["condition"] == condition for a in life.snapshot["alerts"]):
                return life.snapshot_at
            cleared = set()
            for at, m in self.listener.alerts():
                if at < life.started:
                    continue
                if m["event"] == "clear":
                    cleared.add(m["id"])
                elif m["condition"] == condition and m["id"] not in cleared:
                    return at
            time.sleep(0.05)
        return None

    def _facts(self, life: Life) -> dict:
        facts: dict = {}
        path = life.log.with_suffix(".facts")
        if path.exists():
            for line in path.read_text(encoding="utf-8").splitlines():
                facts.update(json.loads(line))
        return facts

    def _finish(self) -> None:
        """After the scripted night: wait until nothing is active, then SIGTERM."""
        from respmon.publish.zmq_pub import request_snapshot

        life = self.lives[-1]
        self._sleep_until(self.cycles * CYCLE_S)
        deadline = self.wall_at(self.cycles * CYCLE_S + TAIL_S - 30.0)
        snap = None
        while time.time() < deadline:
            snap = request_snapshot(self.endpoints["snapshot_endpoint"], 2.0, security=self.security)
            if snap is not None and not snap["alerts"]:
                break
            time.sleep(0.25)
        self.final_snapshot = snap
        time.sleep(0.5)  # the last messages reach the subscriber
        os.kill(life.pid, signal.SIGTERM)
        status = self.forker.status(life.pid, wait=True)
        life.ended, life.exit, life.how = time.time(), int(status.split()[1]), "SIGTERM at the end"
        life.kill_night_s = self.night_now()
        time.sleep(0.5)
        life.facts = self._facts(life)
        self.final_journal = life.journal_after = read_journal(self.journal)
        self.say(f"  night {self.night_now():7.1f} s: daemon {life.index} stopped (SIGTERM), exit {life.exit}")


# --- what the night must show --------------------------------------------------------------------


def _key(message: dict) -> tuple:
    """What makes one event: re-sent after a kill, it is the same event in another envelope."""
    return (message["id"], message["event"], message["t"])


def check(night: Night) -> tuple[list[str], dict]:
    """The problems (empty: the criterion holds) and the figures of the night."""
    problems: list[str] = []
    lives = night.lives
    journal = night.final_journal
    events = journal["events"]
    publisher_of = {l.facts.get("publisher"): l.index for l in lives if l.facts.get("publisher")}
    received = [(at, m) for at, m in night.listener.alerts()]
    unknown = [m for _, m in received if m["publisher"] not in publisher_of]
    if unknown:
        problems.append(f"{len(unknown)} alert(s) from a publisher no daemon had: {unknown[:2]}")
    # The subscriber's stream, daemon by daemon, each in its own order.
    stream = sorted(((publisher_of.get(m["publisher"], -1), m["seq"], at, m) for at, m in received),
                    key=lambda x: (x[0], x[1]))

    # Each process ended as planned.
    for life in lives[:-1]:
        if life.exit != -signal.SIGKILL:
            problems.append(f"daemon {life.index} ({life.how}) exited {life.exit}, not by SIGKILL (see {life.log})")
    if lives[-1].exit != 0:
        problems.append(f"the last daemon exited {lives[-1].exit} on SIGTERM (see {lives[-1].log})")

    # --- once: the journal -----------------------------------------------------------------------
    onsets: dict[str, dict] = {}
    clears: dict[str, dict] = {}
    active_by_condition: dict[str, str] = {}
    for e in events:
        if e["event"] == "onset":
            if e["id"] in onsets:
                problems.append(f"journal: {e['condition']} {e['id']} has two onsets")
            onsets[e["id"]] = e
            other = active_by_condition.get(e["condition"])
            if other is not None:
                problems.append(f"journal: {e['condition']} onset {e['id']} while {other} was active")
            active_by_condition[e["condition"]] = e["id"]
        else:
            if e["id"] in clears:
                problems.append(f"journal: {e['condition']} {e['id']} cleared twice")
            if e["id"] not in onsets:
                problems.append(f"journal: {e['condition']} {e['id']} cleared without an onset")
            clears[e["id"]] = e
            if active_by_condition.get(e["condition"]) == e["id"]:
                del active_by_condition[e["condition"]]
    for id_, e in onsets.items():
        if id_ not in clears:
            problems.append(f"journal: {e['condition']} {id_} (onset night of daemon run {e['run']}) never cleared")
    if journal["active"]:
        problems.append(f"journal: still active at the end: {[a['condition'] for a in journal['active']]}")
    if not journal["runs"] or not journal["runs"][-1]["clean"]:
        problems.append("journal: the last run did not stop cleanly")
    unpublished = [e for e in events if not e["published"]]
    if unpublished:
        problems.append(f"journal: {len(unpublished)} event(s) never marked sent: {unpublished[:2]}")
    # Every run after an unclean one raised monitoring_restarted.
    runs = journal["runs"]
    for before, run in zip(runs, runs[1:]):
        mine = [e for e in events if e["run"] == run["id"]]
        if not before["clean"] and not any(e["event"] == "onset" and e["condition"] == "monitoring_restarted"
                                           for e in mine) and (mine or run["clean"]):
            # (a run killed between its start and the onset's commit journaled nothing: the next says it)
            problems.append(f"journal: run {run['id']} followed an unclean stop and raised no monitoring_restarted")

    # --- once: what the subscriber received ------------------------------------------------------
    got: dict[tuple, int] = {}
    for *_, m in stream:
        if m["event"] in ("onset", "clear"):
            got[_key(m)] = got.get(_key(m), 0) + 1
    for e in events:
        if got.get(_key(e), 0) == 0:
            problems.append(f"subscriber: never received the {e['event']} of {e['condition']} {e['id']} "
                            f"(t {e['t']}, journaled by run {e['run']})")
    journaled = {_key(e) for e in events}
    for key in got:
        if key not in journaled:
            problems.append(f"subscriber: received an {key[1]} of {key[0]} (t {key[2]}) the journal does not hold")
    resent = sum(n - 1 for n in got.values() if n > 1)
    cleared: set[str] = set()
    active_seen: dict[str, str] = {}
    for *_, m in stream:
        if m["id"] in cleared:
            if _key(m) not in journaled:  # a copy of the onset or the clear, re-sent, is the same event
                problems.append(f"subscriber: {m['event']} of {m['condition']} {m['id']} after its clear")
            continue
        if m["event"] == "clear":
            cleared.add(m["id"])
            if active_seen.get(m["condition"]) == m["id"]:
                del active_seen[m["condition"]]
        elif m["event"] == "onset":
            other = active_seen.get(m["condition"])
            if other is not None and other != m["id"]:
                problems.append(f"subscriber: {m['condition']} onset {m['id']} while {other} was active")
            active_seen[m["condition"]] = m["id"]

    # --- restore: each restart -------------------------------------------------------------------
    kills_with: dict[str, int] = {c: 0 for c in CONDITIONS}
    restored_n = snapshots = 0
    for life, nxt in zip(lives, lives[1:]):
        at_kill = {a["id"]: a for a in life.journal_after["active"]}
        for a in at_kill.values():
            kills_with[a["condition"]] += 1
        # What the subscriber knew active when it died (a console following docs/messages.md).
        known = _known_before_kill(stream, lives, life.index)
        cleared_before = {e["id"] for e in life.journal_after["events"] if e["event"] == "clear"}
        for id_, m in known.items():
            if id_ not in at_kill and id_ not in cleared_before:
                problems.append(f"daemon {life.index}: the subscriber knew {m['condition']} {id_} active, "
                                "the journal neither active nor cleared")
        snap = nxt.snapshot
        if snap is None:
            continue  # the next one died before it answered: the one after is held to it
        snapshots += 1
        in_snap = {a["id"]: a for a in snap["alerts"]}
        cleared_by_then = {e["id"] for e in events if e["event"] == "clear" and e["wall_s"] <= nxt.snapshot_at}
        expected = {**known, **at_kill}
        for id_, a in expected.items():
            if a["condition"] == "monitoring_restarted":
                continue  # cleared at the next start ("restarted again"), a new one raised
            if id_ in cleared_by_then:
                continue  # its clear was journaled (and must have reached the subscriber: above)
            got_a = in_snap.get(id_)
            if got_a is None:
                problems.append(f"daemon {nxt.index}: its first snapshot lacks {a['condition']} {id_}, "
                                f"active when daemon {life.index} died")
                continue
            restored_n += 1
            for key in ("condition", "onset", "onset_t"):
                if got_a[key] != a[key]:
                    problems.append(f"daemon {nxt.index}: restored {a['condition']} {id_} with {key} "
                                    f"{got_a[key]!r}, was {a[key]!r}")
        fresh = [a for a in snap["alerts"] if a["condition"] == "monitoring_restarted" and a["id"] not in at_kill]
        if not fresh:
            problems.append(f"daemon {nxt.index}: no new monitoring_restarted in its first snapshot")

    # The alerts a restart sends at once (the re-sent unpublished ones, monitoring_restarted): did
    # the subscriber, reconnecting, receive them live?
    start_live = start_total = gaps = 0
    for life in lives:
        seqs = sorted({m["seq"] for idx, _s, _a, m in stream if idx == life.index})
        if seqs:
            gaps += seqs[-1] - len(seqs)  # alerts it sent that did not come (1..last received)
            if life.index > 0:
                start_total += 1
                start_live += seqs[0] == 1
    restart_s = [nxt.snapshot_at - life.ended for life, nxt in zip(lives, lives[1:]) if nxt.snapshot_at]

    figures = {
        "kills": len(lives) - 1,
        "restarts whose first alert reached the subscriber live": f"{start_live}/{start_total}",
        "alerts sent and not received (seq gaps)": gaps,
        "kill to the next daemon's first snapshot (wall s, min-max)":
            f"{min(restart_s):.2f}-{max(restart_s):.2f}" if restart_s else "-",
        "daemons": len(lives),
        "first snapshots": snapshots,
        "alarms restored (in a first snapshot)": restored_n,
        "onsets": len(onsets),
        "clears": len(clears),
        "onsets by condition": {c: sum(e["condition"] == c for e in onsets.values())
                                for c in CONDITIONS if any(e["condition"] == c for e in onsets.values())},
        "kills with the condition active": {c: n for c, n in kills_with.items() if n},
        "re-sent copies received": resent,
        "messages received": len(received),
        "skipped": night.skipped,
    }
    return problems, figures


def _known_before_kill(stream, lives: list[Life], index: int) -> dict[str, dict]:
    """The alarms a console following docs/messages.md knew active when daemon `index` died: each
    daemon's first snapshot replaces what it knew, then that daemon's alerts after it."""
    known: dict[str, dict] = {}
    for life in lives[: index + 1]:
        if life.snapshot is not None:
            known = {a["id"]: a for a in life.snapshot["alerts"]}
            after = life.snapshot["seq"].get("alert", 0)
        else:
            after = 0
        for idx, seq, _at, m in stream:
            if idx != life.index or seq <= after:
                continue
            if m["event"] == "clear":
                known.pop(m["id"], None)
            else:
                known[m["id"]] = m
    return known


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command")
    serve_args = sub.add_parser("serve")
    serve_args.add_argument("--config", required=True)
    serve_args.add_argument("--speed", type=float, required=True)
    serve_args.add_argument("--cycles", type=int, required=True)
    serve_args.add_argument("--seed", type=int, required=True)
    parser.add_argument("--kills", type=int, default=50)
    parser.add_argument("--seed", type=int, default=9100)
    parser.add_argument("--speed", type=float, default=16.0)
    parser.add_argument("--cycles", type=int, default=8)
    parser.add_argument("--plain", action="store_true", help="publish.insecure on loopback instead of CURVE")
    parser.add_argument("--keep", type=Path, default=None, help="keep the logs and the journal in this folder")
    args = parser.parse_args(argv)
    if args.command == "serve":
        return serve(args)
    folder = args.keep or Path(tempfile.mkdtemp(prefix="crash-night-"))
    folder.mkdir(parents=True, exist_ok=True)
    kills = random_kills(args.kills, args.seed, args.cycles)
    print(f"{args.kills} kills over {args.cycles} x {CYCLE_S:g} s of night at {args.speed:g}x "
          f"(seed {args.seed}, {'plain' if args.plain else 'CURVE'}); files in {folder}")
    began = time.monotonic()
    night = Night(folder, kills, args.speed, args.cycles, args.seed, curve=not args.plain).run()
    problems, figures = check(night)
    print(f"\nwall time {time.monotonic() - began:.0f} s")
    for key, value in figures.items():
        print(f"{key}: {value}")
    print("\n| daemon | ended | night s | active when it ended (journal) | first snapshot |")
    print("| --- | --- | --- | --- | --- |")
    for life in night.lives:
        active = ", ".join(a["condition"] for a in (life.journal_after or {}).get("active", [])) or "-"
        snap = "-" if life.snapshot is None else (", ".join(a["condition"] for a in life.snapshot["alerts"]) or "none")
        print(f"| {life.index} | {life.how} | {life.kill_night_s or 0:.0f} | {active} | {snap} |")
    print(f"\n{len(problems)} problem(s)")
    for problem in problems:
        print("  " + problem)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
