"""The ward station under a ward's load: N simulated beds (`respmon simulate beds`, CURVE, real
time) feeding one `respmon station` (its own process, SQLite journal), two pages' event streams
read here. Measured:
- alert-to-browser latency: from the bed's message (its envelope `time`, carried to the page as the
  alarm's `sent`) to the event's arrival on the page's stream, for every onset;
- the station's CPU (utime + stime from /proc, share of one core) and resident memory over the run;
- onsets journaled against onsets that reached the page (none may be missing).

    .venv/bin/python bench/bench_station.py [--beds 64] [--minutes 10] [--out bench/results/station.json]

Figures go to the README ("The ward station"). The plot beside the JSON shows latency and RSS/CPU.
"""

from __future__ import annotations

import argparse
import http.cookiejar
import json
import os
import re
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

import numpy as np

from respmon.publish.security import create_key_pair
from respmon.station.auth import hash_password
from respmon.station.journal import open_journal

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "bench password 1"
TICK_S = os.sysconf("SC_CLK_TCK")


def free_port_base(count: int) -> int:
    import socket
    for base in range(21000, 60000, 2 * count + 10):
        ok = True
        for port in range(base, base + 2 * count):
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", port))
                except OSError:
                    ok = False
                    break
        if ok:
            return base
    raise SystemExit("no free port range")


def write_config(folder: Path, beds: int, base: int) -> Path:
    lines = ["station:\n  name: bench\n  port: 0\njournal:\n  url: \"sqlite:///station.db\"\nbeds:\n"]
    for i in range(beds):
        lines.append(f"  - {{name: bed-{i + 1}, endpoint: \"tcp://127.0.0.1:{base + 2 * i}\", "
                     f"snapshot_endpoint: \"tcp://127.0.0.1:{base + 2 * i + 1}\"}}\n")
    path = folder / "station.yaml"
    path.write_text("".join(lines))
    return path


def proc_sample(pid: int) -> tuple[float, float]:
    """(CPU seconds so far, RSS MB) of a process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu_s = (int(fields[11]) + int(fields[12])) / TICK_S
    rss_mb = int(fields[21]) * os.sysconf("SC_PAGE_SIZE") / 1e6
    return cpu_s, rss_mb


class Page:
    """What a browser does: log in, then read the event stream."""

    def __init__(self, base: str):
        self.base = base
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        page = self.opener.open(base + "login", timeout=30).read().decode()
        token = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
        form = urllib.parse.urlencode({"username": "bench", "password": PASSWORD, "csrf": token}).encode()
        self.opener.open(base + "login", data=form, timeout=30).read()
        self.first_seen: dict[str, tuple[float, float, str]] = {}  # id -> (arrived, sent, condition)
        self.events = 0

    def read(self, stop: threading.Event) -> None:
        response = self.opener.open(self.base + "api/events", timeout=60)
        event = None
        for raw in response:
            if stop.is_set():
                break
            line = raw.decode().rstrip("\n")
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: "):
                arrived = time.time()
                self.events += 1
                if event == "alarm":
                    alarm = json.loads(line[6:])
                    if alarm["id"] not in self.first_seen and alarm["active"] and alarm.get("sent"):
                        self.first_seen[alarm["id"]] = (arrived, alarm["sent"], alarm["condition"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--beds", type=int, default=64)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/station.json")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-station-"))
    keys = folder / "keys"
    create_key_pair(keys, "station", authorize=True)
    base = free_port_base(args.beds)
    config = write_config(folder, args.beds, base)
    journal = open_journal(f"sqlite:///{folder / 'station.db'}")
    journal.add_user("bench", hash_password(PASSWORD), time.time())
    journal.close()
    respmon = [sys.executable, "-m", "respmon.cli"]
    beds = subprocess.Popen(respmon + ["simulate", "beds", "--count", str(args.beds), "--publish",
                                       f"tcp://127.0.0.1:{base}", "--keys-dir", str(keys), "--seed", "3"],
                            stderr=subprocess.DEVNULL)
    time.sleep(3.0)  # the beds' key pairs are made before the station reads them
    station = subprocess.Popen(respmon + ["station", "--config", str(config)], stderr=subprocess.PIPE, text=True)
    url = None
    for line in station.stderr:
        found = re.search(r"url=(http://\S+)", line)
        if found:
            url = found.group(1)
            break
    threading.Thread(target=lambda: [None for _ in station.stderr], daemon=True).start()
    assert url, "the station did not start"
    stop = threading.Event()
    pages = [Page(url), Page(url)]
    for page in pages:
        threading.Thread(target=page.read, args=(stop,), daemon=True).start()
    warmup_s, duration_s = 30.0, args.minutes * 60
    samples = []
    started = time.monotonic()
    next_print = started
    while time.monotonic() - started < warmup_s + duration_s:
        cpu_s, rss_mb = proc_sample(station.pid)
        samples.append((time.monotonic() - started, cpu_s, rss_mb))
        if time.monotonic() >= next_print:
            seen = len(pages[0].first_seen)
            print(f"\r{time.monotonic() - started:5.0f} s  station RSS {rss_mb:6.1f} MB  onsets seen {seen}",
                  end="", file=sys.stderr, flush=True)
            next_print += 10
        time.sleep(2.0)
    print(file=sys.stderr)
    stopped_wall = time.time()
    stop.set()
    station.terminate()
    station_rc = station.wait(30)
    beds.terminate()
    beds.wait(30)

    t = np.array([s[0] for s in samples])
    cpu = np.array([s[1] for s in samples])
    rss = np.array([s[2] for s in samples])
    steady = t >= warmup_s
    cpu_share = (cpu[steady][-1] - cpu[steady][0]) / (t[steady][-1] - t[steady][0])
    con = sqlite3.connect(folder / "station.db")
    journaled = {row[0] for row in con.execute(
        "SELECT alarm_id FROM alert_events WHERE event = 'onset' AND received_wall < ?", (stopped_wall - 2.0,))}
    vitals_rows = con.execute("SELECT COUNT(*) FROM vitals_1s").fetchone()[0]
    con.close()
    latencies = {}
    for i, page in enumerate(pages):
        lat = np.array([arrived - sent for arrived, sent, _ in page.first_seen.values()])
        latencies[f"page{i + 1}"] = {
            "onsets": int(lat.size),
            "p50_ms": round(float(np.percentile(lat, 50)) * 1000, 1) if lat.size else None,
            "p99_ms": round(float(np.percentile(lat, 99)) * 1000, 1) if lat.size else None,
            "max_ms": round(float(lat.max()) * 1000, 1) if lat.size else None,
            "events": page.events,
        }
    missing = sorted(journaled - set(pages[0].first_seen))
    result = {
        "beds": args.beds, "minutes": args.minutes, "warmup_s": warmup_s, "transport": "CURVE",
        "station_cpu_share_of_one_core": round(float(cpu_share), 4),
        "station_rss_mb": {"after_warmup": round(float(rss[steady][0]), 1), "end": round(float(rss[-1]), 1),
                           "max": round(float(rss.max()), 1)},
        "latency": latencies,
        "onsets_journaled": len(journaled), "journaled_not_on_page": missing[:20],
        "vitals_rows_journaled": vitals_rows, "station_exit": station_rc,
        "machine": f"{os.cpu_count()} cores", "date": time.strftime("%Y-%m-%d"),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    plot(args.out.with_suffix(".png"), pages, t, cpu, rss, warmup_s)
    return 0


def plot(path: Path, pages, t, cpu, rss, warmup_s) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(12, 4))
    lat = np.array([arrived - sent for arrived, sent, _ in pages[0].first_seen.values()]) * 1000
    a.hist(lat, bins=40, color="tab:blue")
    if lat.size:
        a.axvline(np.percentile(lat, 99), color="tab:red", label=f"p99 {np.percentile(lat, 99):.0f} ms")
    a.set_xlabel("alert → page event (ms)")
    a.set_ylabel("onsets")
    a.legend()
    b.plot(t / 60, rss, color="tab:green", label="RSS (MB)")
    b.set_xlabel("minutes")
    b.set_ylabel("station RSS (MB)")
    share = np.diff(cpu) / np.diff(t) * 100
    c = b.twinx()
    c.plot(t[1:] / 60, share, color="tab:orange", alpha=0.6, label="CPU % of one core")
    c.set_ylabel("CPU % of one core")
    b.axvline(warmup_s / 60, color="grey", ls=":")
    fig.suptitle(f"respmon station, {len(pages)} pages open")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    sys.exit(main())
