"""Soak benchmark of `respmon run` (issue 11: "24 h of source time (looped recording, accelerated)
with 50 subscribers, 10 of them never reading: RSS growth <= 5 MB over the run, no gaps in `seq`
for readers that keep up").

Run: nice .venv/bin/python bench/soak.py [--hours 24] [--subscribers 50 --idle 10]
     [--width 212 --height 120 --fps 6] [--script ...] [--insecure] [--out bench/results/soak]

What it does:

- renders a short synthetic recording (`respmon simulate recording`, default 180 s at 212x120,
  6 fps: breathing, a 30 s central apnea, breathing, repositioning, an empty bed) into a temporary
  folder, so that every loop raises and clears `central_apnea` and `nobody_in_bed`;
- makes the CURVE keys (`respmon keys create bed-1`, and one allowed key pair per subscriber,
  `respmon.publish.security.create_key_pair(..., authorize=True)`) and a config with
  source.kind recording, source.loop true, source.realtime false (as fast as the machine allows),
  publish on two loopback ports with CURVE (the default; --insecure for plain text), the alarm
  journal in the temporary folder;
- starts the real daemon, `respmon run --config CFG`, as a subprocess (stderr to FOLDER/daemon.log);
- connects 50 CURVE subscribers (SUB sockets of one ZeroMQ context in this process, subscribed to
  everything): 40 are read by one thread, which checks that `seq` per (publisher, type) has no gap
  and counts messages (the first reader also holds every message to docs/messages.md, as
  `respmon watch` does); 10 are connected and subscribed and never read. A snapshot is requested
  every 30 s of wall time (one REQ, CURVE);
- once a second samples the daemon's VmRSS, open file descriptors, threads and CPU time from
  /proc/PID against the daemon's source time (the latest `t` of its vitals), prints progress every
  10 s, and stops the daemon with SIGTERM once --hours of source time have been published.

Reports (and writes OUT.json, OUT.png: RSS against source time): source hours, wall time, speed,
RSS after the warm-up (the first 10 min of source time) and at the end, growth, maximum, the slope
of a straight line through the samples after warm-up (MB per source hour), RSS per source hour,
seq gaps and messages per reader, what the idle subscribers hold. RSS swings by 10-20 MB within
each loop of the recording (a region search's arrays, the allocator), so one sample against another
says little: the growth that is judged is the median of the last 30 min of source time less the
median of the first 30 min after warm-up. Exit status 1 when that grew by more than 5 MB or a
reader saw a gap (the issue's criterion), 2 when the daemon failed.

Measured on this project's 2-core machine (AMD EPYC, shared with other work), the defaults (CURVE,
50 subscribers of which 10 never read, 212x120 at 6 fps, 180 s recording looped 483 times):

    nice .venv/bin/python bench/soak.py            # --hours 24; bench/results/soak.json, soak.png

- 24.00 h of source time in 28.9 min of wall time: 50x real time (daemon CPU 1,869 s, one core).
  Short runs at 424x240 gave 36x at 6 fps and 29x at 15 fps (with the ~5 s start): 24 h would
  take about 40 and 50 min.
- RSS: 329.5 MB at the first vitals, 345.4 MB after 10 min of source time, 356.8 MB at the last
  sample (each sample anywhere in 346-369 MB after warm-up); median of the first 30 min after
  warm-up 354.5 MB, of the last 30 min 352.2 MB: growth -2.4 MB (limit 5); max 368.8 MB; slope
  +0.05 MB per source hour; the lowest sample of each hour rose from 346.0 MB (hour 1) to 347.6 MB
  (hour 23). Of that, about 1.1 MB is the alarm journal's SQLite page cache, which grows with the
  file (1.16 MB after 24 h: 1,930 onsets and clears) up to SQLite's default 2 MB cache and stops
  there (the journal alone, 2,900 such loops: +1.14 MB at 483, +1.98 MB from 1,200 on). An earlier
  run of this benchmark (same settings): growth +3.5 MB, slope +0.10 MB per source hour.
- 40 readers: 0 seq gaps, 0 out of order, 0 malformed; each received the same 92,383 messages
  (86,418 vitals, 4,342 alerts: 965 onsets and clears of central_apnea and nobody_in_bed, and
  their updates; 1,623 heartbeats, the longest wait for one 1.26 s). 58 of 58 snapshot requests
  answered. Open fds 74 -> 64, threads 13: the 10 idle subscribers filled their queues (10,385-10,434
  messages each, their RCVHWM of 10,000 and TCP buffers) after 2.8 h of source time, and the
  daemon dropped them on ZeroMQ's heartbeat timeout (15 s) once its own queue for them was full;
  they were not reconnected (their side stopped reading the socket, so never saw it close).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import zmq  # noqa: E402

from respmon.publish.schema import MalformedMessage, decode  # noqa: E402
from respmon.publish.security import (ClientSecurity, create_key_pair, load_key_pair,  # noqa: E402
                                      load_public_key)
from respmon.publish.zmq_pub import request_snapshot, subscriber  # noqa: E402

SCRIPT = "eupnea@14:60,central_apnea:30,eupnea@14:60,motion:4,absent:26"  # 180 s
BED = "bed-1"
RESULTS = REPO / "bench" / "results"
GROWTH_LIMIT_MB = 5.0
WINDOW_S = 1800.0  # source seconds at each end of the run that the growth compares (10 loops)
SAMPLE_S = 0.5  # wall seconds between samples (RSS swings a few MB within each loop of the recording)
PROGRESS_S = 10.0
SNAPSHOT_EVERY_S = 30.0
PAGE_KB = os.sysconf("SC_PAGE_SIZE") / 1024
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def respmon(*argv: str) -> None:
    done = subprocess.run([sys.executable, "-m", "respmon.cli", *argv], cwd=REPO, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"respmon {' '.join(argv)} failed ({done.returncode}): {done.stderr.strip()[-2000:]}")


# --- the daemon's process ---------------------------------------------------------------------

def proc_sample(pid: int) -> dict | None:
    """VmRSS (MB), open fds, threads and CPU seconds of a process; None once it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        stat = Path(f"/proc/{pid}/stat").read_text()
        fds = len(os.listdir(f"/proc/{pid}/fd"))
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    after_name = stat.rsplit(")", 1)[1].split()
    cpu_s = (int(after_name[11]) + int(after_name[12])) / CLOCK_TICKS  # utime + stime
    return {"rss_mb": int(fields["VmRSS"].split()[0]) / 1024, "hwm_mb": int(fields["VmHWM"].split()[0]) / 1024,
            "fds": fds, "threads": int(fields["Threads"]), "cpu_s": cpu_s}


# --- subscribers -------------------------------------------------------------------------------

class Reader:
    """One subscriber that keeps up: counts messages and checks seq per (publisher, type)."""

    def __init__(self, socket: zmq.Socket, checked: bool):
        self.socket = socket
        self.checked = checked  # held to docs/messages.md (respmon.publish.schema.decode)
        self.last_seq: dict[tuple[str, str], int] = {}
        self.counts: dict[str, int] = {}
        self.gaps = 0  # messages missing between two received ones
        self.gap_examples: list[str] = []
        self.backwards = 0  # a seq at or below the last one (duplicate or out of order)
        self.malformed = 0
        self.latest_t: float | None = None
        self.last_heartbeat: float | None = None
        self.heartbeat_gap_max_s = 0.0  # wall time between two heartbeats as received

    def take(self, frames: list[bytes]) -> None:
        try:
            if self.checked:
                _, message = decode(frames)
            else:
                message = json.loads(frames[1])
        except (MalformedMessage, IndexError, ValueError, UnicodeDecodeError):
            self.malformed += 1
            return
        kind = message.get("type")
        self.counts[kind] = self.counts.get(kind, 0) + 1
        key = (message.get("publisher"), kind)
        seq = message.get("seq")
        last = self.last_seq.get(key)
        if last is not None:
            if seq > last + 1:
                self.gaps += seq - last - 1
                if len(self.gap_examples) < 5:
                    self.gap_examples.append(f"{kind} {last} -> {seq}")
            elif seq <= last:
                self.backwards += 1
        self.last_seq[key] = max(seq, last or 0)
        if kind == "vitals" and isinstance(message.get("t"), (int, float)):
            self.latest_t = message["t"]
        elif kind == "heartbeat":
            now = time.monotonic()
            if self.last_heartbeat is not None:
                self.heartbeat_gap_max_s = max(self.heartbeat_gap_max_s, now - self.last_heartbeat)
            self.last_heartbeat = now

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def read_loop(readers: list[Reader], stop: threading.Event, lock: threading.Lock) -> None:
    poller = zmq.Poller()
    by_socket = {}
    for reader in readers:
        poller.register(reader.socket, zmq.POLLIN)
        by_socket[reader.socket] = reader
    while not stop.is_set():
        for sock, _ in poller.poll(100):
            reader = by_socket[sock]
            with lock:
                for _ in range(1000):  # drain, a bounded batch per socket per round
                    try:
                        frames = sock.recv_multipart(zmq.NOBLOCK)
                    except zmq.Again:
                        break
                    reader.take(frames)


# --- setup ------------------------------------------------------------------------------------

def make_setup(folder: Path, args) -> tuple[Path, list[ClientSecurity], dict]:
    recording = folder / "soak.db3"
    if args.recording:
        recording = Path(args.recording).resolve()
    else:
        started = time.monotonic()
        respmon("simulate", "recording", "--script", args.script, "--out", str(recording), "--width",
                str(args.width), "--height", str(args.height), "--fps", str(args.fps), "--seed", str(args.seed))
        print(f"recording: {args.script} at {args.width}x{args.height}, {args.fps} fps "
              f"({recording.stat().st_size / 1e6:.0f} MB) in {time.monotonic() - started:.1f} s", flush=True)
    ports = {"publish": free_port(), "snapshot": free_port()}
    config = folder / "soak.yaml"
    config.write_text(
        f'bed:\n  name: "{BED}"\n'
        f'source:\n  kind: recording\n  recording: "{recording}"\n  loop: true\n  realtime: false\n'
        f'publish:\n  endpoint: "tcp://127.0.0.1:{ports["publish"]}"\n'
        f'  snapshot_endpoint: "tcp://127.0.0.1:{ports["snapshot"]}"\n'
        f'  insecure: {"true" if args.insecure else "false"}\n'
        f'keys:\n  dir: "keys"\n'
        f'journal:\n  path: "{folder / "journal.sqlite"}"\n', encoding="utf-8")
    clients: list[ClientSecurity | None] = [None] * args.subscribers
    if not args.insecure:
        respmon("keys", "create", BED, "--config", str(config))
        keys = folder / "keys"
        server_public = load_public_key(keys / f"{BED}.key")
        clients = []
        for i in range(args.subscribers):
            name = f"console-{i:02d}"
            create_key_pair(keys, name, authorize=True)
            clients.append(ClientSecurity(load_key_pair(keys / f"{name}.key_secret"), server_public))
    endpoints = {name: f"tcp://127.0.0.1:{port}" for name, port in ports.items()}
    return config, clients, endpoints


# --- report -----------------------------------------------------------------------------------

def median(values: list[float]) -> float | None:
    values = sorted(values)
    n = len(values)
    return None if n == 0 else (values[n // 2] if n % 2 else (values[n // 2 - 1] + values[n // 2]) / 2)


def slope_mb_per_hour(samples: list[dict]) -> float | None:
    if len(samples) < 3:
        return None
    xs = [s["t"] / 3600 for s in samples]
    ys = [s["rss_mb"] for s in samples]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    var = sum((x - mx) ** 2 for x in xs)
    return None if var == 0 else sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / var


def plot(result: dict, samples: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 6), sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    hours = [s["t"] / 3600 for s in samples]
    top.plot(hours, [s["rss_mb"] for s in samples], lw=0.8, label="VmRSS")
    base, last = result["rss_first_window_median_mb"], result["rss_last_window_median_mb"]
    if base is not None and last is not None:
        w, t0, t1 = result["window_s"] / 3600, result["warmup_s"] / 3600, result["source_hours"]
        top.plot([t0, t0 + w], [base, base], color="k", lw=2, label=f"median, first {60 * w:.0f} min ({base:.1f} MB)")
        top.plot([t1 - w, t1], [last, last], color="C3", lw=2, label=f"median, last {60 * w:.0f} min ({last:.1f} MB)")
        top.axhline(base + GROWTH_LIMIT_MB, color="red", lw=0.8, ls="--", label=f"first median +{GROWTH_LIMIT_MB:g} MB")
    top.axvline(result["warmup_s"] / 3600, color="grey", lw=0.8)
    top.set_ylabel("daemon RSS (MB)")
    top.set_title(f"respmon run soak: {result['source_hours']:.2f} h of source time in "
                  f"{result['wall_s'] / 60:.0f} min ({result['speed']:.0f}x), {result['subscribers']} subscribers "
                  f"({result['idle']} never reading), {'plain' if result['insecure'] else 'CURVE'}", fontsize=9)
    top.legend(fontsize=8, loc="lower right")
    bottom.plot(hours, [s["fds"] for s in samples], lw=0.8, color="C1", label="open fds")
    bottom.plot(hours, [s["threads"] for s in samples], lw=0.8, color="C2", label="threads")
    bottom.set_xlabel("source time (h)")
    bottom.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def thin(samples: list[dict], most: int = 3000) -> list[dict]:
    step = max(1, -(-len(samples) // most))
    return samples[::step] + ([samples[-1]] if samples and (len(samples) - 1) % step else [])


# --- main -------------------------------------------------------------------------------------

def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=24.0, help="source time to publish (default 24)")
    parser.add_argument("--subscribers", type=int, default=50)
    parser.add_argument("--idle", type=int, default=10, help="subscribers that never read (default 10)")
    parser.add_argument("--warmup-min", type=float, default=10.0,
                        help="source minutes before the RSS baseline (default 10; at most a sixth of the run)")
    parser.add_argument("--script", default=SCRIPT)
    parser.add_argument("--width", type=int, default=212)
    parser.add_argument("--height", type=int, default=120)
    parser.add_argument("--fps", type=int, default=6)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--recording", help="use this recording instead of rendering one")
    parser.add_argument("--insecure", action="store_true", help="plain text on loopback instead of CURVE")
    parser.add_argument("--out", type=Path, default=RESULTS / "soak",
                        help="OUT.json and OUT.png (default bench/results/soak)")
    parser.add_argument("--keep", type=Path,
                        help="a new or empty folder: keep the recording, config, keys, journal and daemon log there")
    args = parser.parse_args()
    if not 0 <= args.idle < args.subscribers:
        parser.error("--idle must be at least 0 and less than --subscribers (one reader at least)")
    if args.keep is not None and args.keep.exists() and any(args.keep.iterdir()):
        parser.error(f"--keep {args.keep}: not empty (keys and the journal of another run would be reused)")
    target_s = args.hours * 3600
    warmup_s = min(args.warmup_min * 60, target_s / 6)

    holder = tempfile.TemporaryDirectory(prefix="respmon-soak-")
    folder = Path(holder.name)
    if args.keep is not None:
        args.keep.mkdir(parents=True, exist_ok=True)
        folder = args.keep.resolve()
    config, clients, endpoints = make_setup(folder, args)

    context = zmq.Context(io_threads=1)
    sockets = [subscriber(endpoints["publish"], [""], context=context, security=security) for security in clients]
    n_read = args.subscribers - args.idle
    readers = [Reader(sock, checked=(i == 0)) for i, sock in enumerate(sockets[:n_read])]
    idle = sockets[n_read:]
    lock, stop_reading = threading.Lock(), threading.Event()
    thread = threading.Thread(target=read_loop, args=(readers, stop_reading, lock), name="readers", daemon=True)
    thread.start()

    log_path = folder / "daemon.log"
    log = open(log_path, "w", encoding="utf-8")
    wall0 = time.monotonic()
    process = subprocess.Popen([sys.executable, "-m", "respmon.cli", "run", "--config", str(config)], cwd=REPO,
                               stdout=subprocess.DEVNULL, stderr=log)
    print(f"daemon pid {process.pid}, {args.subscribers} subscribers ({args.idle} never reading), "
          f"{'plain text' if args.insecure else 'CURVE'}, target {args.hours:g} h of source time; log {log_path}",
          flush=True)
    samples: list[dict] = []
    snapshots = {"asked": 0, "answered": 0, "with_alerts": 0}
    snapshot_security = clients[0]
    next_progress = next_snapshot = time.monotonic()
    failed = None
    try:
        while True:
            time.sleep(SAMPLE_S)
            now = time.monotonic()
            if process.poll() is not None:
                failed = f"the daemon exited with {process.returncode} before the end"
                break
            sample = proc_sample(process.pid)
            with lock:
                t = readers[0].latest_t if readers else None
            if sample is None:
                continue
            if t is not None:
                samples.append({"t": t, "wall_s": round(now - wall0, 2), **sample})
            elif now - wall0 > 120:
                failed = "no vitals within 120 s of the start"
                break
            if now >= next_snapshot and t is not None:
                next_snapshot = now + SNAPSHOT_EVERY_S
                snapshots["asked"] += 1
                snap = request_snapshot(endpoints["snapshot"], timeout_s=2.0, context=context,
                                        security=snapshot_security)
                if snap is not None:
                    snapshots["answered"] += 1
                    snapshots["with_alerts"] += bool(snap.get("alerts"))
            if now >= next_progress and t is not None:
                next_progress = now + PROGRESS_S
                wall = now - wall0
                base = median([s["rss_mb"] for s in samples if warmup_s <= s["t"] <= warmup_s + WINDOW_S])
                recent = median([s["rss_mb"] for s in samples[-60:]])
                with lock:
                    gaps = sum(r.gaps for r in readers)
                    least = min((r.total for r in readers), default=0)
                print(f"source {t / 3600:6.2f} h ({100 * t / target_s:5.1f} %)  wall {wall / 60:6.1f} min  "
                      f"{t / wall:5.0f}x  RSS {sample['rss_mb']:6.1f} MB, median of the last 30 s {recent:6.1f}"
                      + (f" ({recent - base:+.1f} on the first after warm-up)" if t >= warmup_s + WINDOW_S
                         else " (warming up)")
                      + f"  fds {sample['fds']}  threads {sample['threads']}  gaps {gaps}  msgs/reader >= {least}",
                      flush=True)
            if t is not None and t >= target_s:
                break
    except KeyboardInterrupt:
        print("interrupted: stopping the daemon and reporting what was done", flush=True)
    finally:
        wall_s = time.monotonic() - wall0
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
                failed = failed or "the daemon did not stop within 30 s of SIGTERM"
        log.close()
        time.sleep(1.0)  # the readers take what was still in flight (the last heartbeat)
        stop_reading.set()
        thread.join(timeout=5)

    idle_held = []
    for sock in idle:
        n = 0
        while True:
            try:
                sock.recv_multipart(zmq.NOBLOCK)
                n += 1
            except zmq.Again:
                break
        idle_held.append(n)
    for sock in sockets:
        sock.close(linger=0)
    context.term()

    journal = folder / "journal.sqlite"
    log_text = log_path.read_text(encoding="utf-8", errors="replace")
    levels = {level: log_text.count(f"level={level}") for level in ("warning", "error", "critical")}
    events = {}
    for line in log_text.splitlines():
        for part in line.split():
            if part.startswith("event="):
                events[part[6:]] = events.get(part[6:], 0) + 1
    after = [s for s in samples if s["t"] >= warmup_s]
    t_done = samples[-1]["t"] if samples else 0
    # RSS swings by several MB within each loop of the recording (a region search's arrays, the
    # allocator), so one sample against another says little: the criterion compares the median
    # (and the peak) of the first window_s after warm-up with those of the last window_s.
    window_s = min(WINDOW_S, max(0.0, t_done - warmup_s) / 3)
    first = [s["rss_mb"] for s in after if s["t"] <= warmup_s + window_s]
    last = [s["rss_mb"] for s in after if s["t"] >= t_done - window_s]
    start = after[0] if after else None
    end = samples[-1] if samples else None
    kinds = sorted({k for r in readers for k in r.counts})
    result = {
        "command": "nice .venv/bin/python bench/soak.py " + " ".join(sys.argv[1:]),
        "hours_asked": args.hours, "source_hours": t_done / 3600, "wall_s": round(wall_s, 1),
        "speed": t_done / wall_s if wall_s else 0.0,
        "recording": {"script": args.script, "width": args.width, "height": args.height, "fps": args.fps,
                      "seed": args.seed, "given": args.recording},
        "insecure": args.insecure, "subscribers": args.subscribers, "idle": args.idle, "warmup_s": warmup_s,
        "rss_first_mb": samples[0]["rss_mb"] if samples else None,
        "rss_start_mb": start["rss_mb"] if start else None, "rss_start_t": start["t"] if start else None,
        "rss_end_mb": end["rss_mb"] if end else None,
        "rss_growth_point_mb": (end["rss_mb"] - start["rss_mb"]) if start and end else None,
        "window_s": window_s,
        "rss_first_window_median_mb": median(first), "rss_last_window_median_mb": median(last),
        "rss_growth_mb": (median(last) - median(first)) if first and last else None,
        "rss_first_window_max_mb": max(first, default=None), "rss_last_window_max_mb": max(last, default=None),
        "rss_growth_peak_mb": (max(last) - max(first)) if first and last else None,
        "rss_max_after_warmup_mb": max(s["rss_mb"] for s in after) if after else None,
        "rss_max_mb": max(s["rss_mb"] for s in samples) if samples else None,
        "vm_hwm_mb": end["hwm_mb"] if end else None,
        "rss_slope_mb_per_source_hour": slope_mb_per_hour(after),
        "fds_start_end_max": [start["fds"], end["fds"], max(s["fds"] for s in after)] if start else None,
        "threads_start_end_max": [start["threads"], end["threads"], max(s["threads"] for s in after)] if start else None,
        "daemon_cpu_s": end["cpu_s"] if end else None,
        "daemon_exit": process.returncode,
        "readers": {"count": len(readers), "gaps": [r.gaps for r in readers],
                    "gap_examples": sorted({e for r in readers for e in r.gap_examples})[:10],
                    "backwards": sum(r.backwards for r in readers), "malformed": sum(r.malformed for r in readers),
                    "messages_min": min((r.total for r in readers), default=0),
                    "messages_max": max((r.total for r in readers), default=0),
                    "by_type_min": {k: min(r.counts.get(k, 0) for r in readers) for k in kinds},
                    "by_type_max": {k: max(r.counts.get(k, 0) for r in readers) for k in kinds},
                    "heartbeat_gap_max_s": max((r.heartbeat_gap_max_s for r in readers), default=None)},
        "rss_by_source_hour": [{"hour": h, **{key: round(f(v), 1) for key, f in (("min", min), ("median", median),
                                                                                 ("max", max))}}
                               for h in range(int(t_done // 3600) + 1)
                               if (v := [s["rss_mb"] for s in samples if h * 3600 <= s["t"] < (h + 1) * 3600])],
        "journal_bytes": journal.stat().st_size if journal.exists() else None,
        "idle_held_at_end": {"min": min(idle_held, default=0), "max": max(idle_held, default=0)},
        "snapshots": snapshots, "log_levels": levels, "log_events": events, "failed": failed,
    }
    growth = result["rss_growth_mb"]
    result["pass"] = (failed is None and growth is not None and growth <= GROWTH_LIMIT_MB
                      and not any(result["readers"]["gaps"]) and result["readers"]["backwards"] == 0)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    json_path, png_path = args.out.with_suffix(".json"), args.out.with_suffix(".png")
    columns = ["t", "wall_s", "rss_mb", "fds", "threads", "cpu_s"]
    rows = ",\n  ".join(json.dumps([round(s[c], 2) for c in columns]) for s in thin(samples))
    json_path.write_text(json.dumps(result, indent=1)[:-2] + f',\n "sample_columns": {json.dumps(columns)},\n'
                         f' "samples": [\n  {rows}\n ]\n}}\n', encoding="utf-8")
    if samples:
        plot(result, samples, png_path)

    r = result["readers"]
    fmt = (lambda v: "-" if v is None else f"{v:.1f}")
    print(f"\nsource time: {result['source_hours']:.2f} h of {args.hours:g} asked"
          f"{'' if t_done >= target_s else ' (NOT reached)'}; wall {wall_s / 60:.1f} min; {result['speed']:.0f}x real time"
          f"; daemon CPU {fmt(result['daemon_cpu_s'])} s, exit {process.returncode}")
    print(f"RSS: first sample {fmt(result['rss_first_mb'])} MB; after warm-up ({warmup_s / 60:.0f} min of source "
          f"time) {fmt(result['rss_start_mb'])} MB; last sample {fmt(result['rss_end_mb'])} MB "
          f"({fmt(result['rss_growth_point_mb'])} MB)")
    print(f"RSS median over the first {window_s / 60:.0f} min of source time after warm-up "
          f"{fmt(result['rss_first_window_median_mb'])} MB, over the last {fmt(result['rss_last_window_median_mb'])} MB: "
          f"growth {fmt(growth)} MB (limit {GROWTH_LIMIT_MB:g}); peaks {fmt(result['rss_first_window_max_mb'])} -> "
          f"{fmt(result['rss_last_window_max_mb'])} MB ({fmt(result['rss_growth_peak_mb'])}); "
          f"max after warm-up {fmt(result['rss_max_after_warmup_mb'])} MB, max {fmt(result['rss_max_mb'])} MB; slope "
          + ("-" if result["rss_slope_mb_per_source_hour"] is None else f"{result['rss_slope_mb_per_source_hour']:+.3f}")
          + " MB per source hour")
    if window_s < WINDOW_S:
        print(f"(a short run: windows of {window_s / 60:.0f} min hold a few loops of the recording, and its "
              f"swings of 10-20 MB decide the growth; judge growth on runs of 3 h of source time or more)")
    print(f"fds start/end/max {result['fds_start_end_max']}, threads {result['threads_start_end_max']}")
    print(f"{r['count']} readers: seq gaps {sum(r['gaps'])} (per reader max {max(r['gaps'], default=0)}), "
          f"backwards {r['backwards']}, malformed {r['malformed']}; messages per reader "
          f"{r['messages_min']}-{r['messages_max']} {r['by_type_min']}; longest wait for a heartbeat "
          f"{fmt(r['heartbeat_gap_max_s'])} s")
    print(f"{args.idle} idle subscribers held {result['idle_held_at_end']['min']}-{result['idle_held_at_end']['max']} "
          f"messages each at the end; snapshots {snapshots}")
    print(f"daemon log: {levels}; events {events}; alarm journal {result['journal_bytes']} bytes")
    print(f"wrote {json_path} and {png_path}" + (f"; FAILED: {failed}" if failed else ""))
    print("PASS" if result["pass"] else "FAIL (criterion: growth <= 5 MB, no seq gaps)")
    holder.cleanup()
    if failed:
        return 2
    return 0 if result["pass"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
