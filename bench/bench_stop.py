"""How long `respmon run` takes to honour SIGTERM, and whether its last messages still reach a
subscriber (issue 11: "SIGTERM honoured within 1 s"; measured before as 0.87-1.17 s).

Run: .venv/bin/python bench/bench_stop.py [--runs 10] [--kind recording|camera-gone] [--curve]

Each run starts the daemon on a short synthetic recording (source.kind recording, realtime, as in
the issue's probes; generated once into a temporary folder), with a real SUB subscriber connected,
waits until vitals flow, then sends SIGTERM after a random extra 0-2 s and measures the wall time
from the signal to the process's exit, and from the signal to the daemon's "stopped" log line
(the end of Daemon.run; the rest is the interpreter's own exit). It also reports whether the
subscriber received the daemon's last heartbeat (the one Daemon.run sends as it stops, state
"stopping"), read for 1 s after the exit.

--kind camera-gone: source.kind camera with no camera connected (the reader sits in its reconnect
wait): the stop path without a recording. --curve: the shipped default, CURVE on both sockets with
keys made by `respmon keys create` (the publisher then has its own ZeroMQ context, terminated at
close); without it, publish.insecure on loopback.

Measured on this project's 2-core machine (SIGTERM to exit; min-max, median):

| stop path | recording, plain (10 runs) | recording, CURVE (8) | camera-gone, plain (6) |
| --- | --- | --- | --- |
| before (reader joined for up to 3 s, then the publisher; no last heartbeat) | 668-872 ms, 818 | 666-768 ms, 744 | 666-770 ms, 742 |
| after (last heartbeat, publisher, reader for what is left of 0.5 s; gc.freeze at start) | 267-416 ms, 366 | 215-416 ms, 315 | 315-472 ms, 418 |

Where the time went before: ~350 ms of the interpreter's exit was the cyclic GC walking the
~200,000 objects that torch, the classifier and scipy leave (a full collection takes 75-90 ms
with them loaded; `gc.freeze()` after startup takes them out of its way); up to 100 ms is the main
loop's tick before it sees the signal; up to 200 ms the snapshot thread's poll (SNAPSHOT_POLL_MS)
that Publisher.close() joins; about 120 ms is the rest of the exit (library teardown). The
reader's join was ~0 ms here (a recording, or a reconnect wait), but could take up to its 3 s
timeout with a camera stuck in its driver. ZeroMQ's LINGER (500 ms) only applies where the
context is terminated (CURVE: the publisher's own context) and only to messages still queued:
none were here, the subscriber reading. The last heartbeat reached the subscriber in every run.
"""

from __future__ import annotations

import argparse
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from respmon.publish.zmq_pub import receive, subscriber  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def client_keys(config: Path, folder: Path):
    """CURVE keys for bed-9 and an allowed console, made once in folder/keys."""
    from respmon.config import load_config
    from respmon.publish.security import client_security

    if not (folder / "keys" / "bed-9.key_secret").exists():
        for name, extra in (("bed-9", ()), ("watch", ("--authorize",))):
            subprocess.run([sys.executable, "-m", "respmon.cli", "keys", "create", name, *extra, "--config",
                            str(config)], cwd=REPO, check=True, capture_output=True)
    return client_security(load_config(config), config, "bed-9", [])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--kind", choices=("recording", "camera-gone"), default="recording")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--curve", action="store_true")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        recording = folder / "bed.db3"
        if args.kind == "recording":
            subprocess.run([sys.executable, "-m", "respmon.cli", "simulate", "recording", "--script", "eupnea:40",
                            "--out", str(recording), "--width", "212", "--height", "120", "--fps", "6",
                            "--seed", "1"], cwd=REPO, check=True, capture_output=True)
        to_exit, got_last = [], 0
        for run in range(args.runs):
            pub, snap = f"tcp://127.0.0.1:{free_port()}", f"tcp://127.0.0.1:{free_port()}"
            source = (f'  kind: recording\n  recording: "{recording}"\n  loop: true\n'
                      if args.kind == "recording" else "  kind: camera\n")
            config = folder / "respmon.yaml"
            config.write_text(f'bed:\n  name: "bed-9"\nsource:\n{source}'
                              f'publish:\n  endpoint: "{pub}"\n  snapshot_endpoint: "{snap}"\n'
                              f'  insecure: {"false" if args.curve else "true"}\n', encoding="utf-8")
            sub = subscriber(pub, [""], security=client_keys(config, folder) if args.curve else None)
            process = subprocess.Popen([sys.executable, "-m", "respmon.cli", "run", "--config", str(config)],
                                       cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            wanted = "vitals" if args.kind == "recording" else "heartbeat"
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                got = receive(sub, 200)
                if got is not None and got[1].get("type") == wanted:
                    break
            else:
                process.kill()
                raise SystemExit(f"run {run}: no {wanted} within 60 s; daemon: {process.poll()}\n"
                                 + process.communicate()[1][-3000:])
            end = time.monotonic() + rng.uniform(0.0, 2.0)
            while time.monotonic() < end:
                receive(sub, 50)
            sent, sent_wall = time.monotonic(), time.time()
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)
            exited = time.monotonic()
            stderr = process.stderr.read()
            last = None
            while (got := receive(sub, 1000)) is not None:
                last = got[1]
            sub.close(linger=0)
            stopped = [line for line in stderr.splitlines() if "daemon.stop" in line]
            to_exit.append(exited - sent)
            logged = None
            if stopped and stopped[-1].startswith("ts="):
                ts = datetime.strptime(stopped[-1].split()[0][3:], "%Y-%m-%dT%H:%M:%S.%fZ")
                logged = ts.replace(tzinfo=timezone.utc).timestamp() - sent_wall
            if last is not None and last.get("type") == "heartbeat" and last.get("state") == "stopping":
                got_last += 1
            print(f"run {run}: exit {process.returncode}, {1000 * (exited - sent):.0f} ms from SIGTERM to exit"
                  + ("" if logged is None else f" ({1000 * logged:.0f} ms to the end of Daemon.run)") + ";"
                  f" last message received: {None if last is None else (last.get('type'), last.get('state'))}"
                  + ("" if stopped else "; no daemon.stop line"), flush=True)
        print(f"SIGTERM to exit over {args.runs} runs ({args.kind}): median {1000 * statistics.median(to_exit):.0f} ms,"
              f" max {1000 * max(to_exit):.0f} ms, min {1000 * min(to_exit):.0f} ms;"
              f" final 'stopping' heartbeat received in {got_last}/{args.runs}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
