"""The edge box's figures, each command in its own process as systemd runs it: peak resident memory
of `respmon replay` and `respmon run`, time from start to systemd READY, and `respmon replay`'s
wall time against bare pyrealsense2 playback of the same file (whole process, import included).
Each with the classifier on ONNX Runtime (what respmon runs now) and on torch (a .pt with no .onnx
beside it, classifier.model: what respmon ran before; the same figures then).

respmon reads a .db3 itself (respmon.sources.rosbag2), faster than librealsense's playback does, so
`respmon replay` can beat bare playback. To show what respmon's own processing costs, the replay
is also timed reading through librealsense's playback as before (`replay_onnx_via_librealsense`),
and the native reader alone (`reader_s`, decoding every frame and nothing else).

Run: .venv/bin/python bench/bench_edge.py     (about 3 minutes; writes bench/results/edge.json)

60 s recordings (eupnea at 15 bpm) at 424x240 and 848x480, 15 fps, made first by `respmon simulate
recording`. Every measured process is pinned to one CPU with OMP/MKL threads at 1. Times are the
best of 3 runs. Peak memory is the child's ru_maxrss (os.wait4). READY: a unix datagram socket as
NOTIFY_SOCKET, the daemon on the 424x240 recording in real time; the time from spawn to READY=1
(sent on the first frame), then SIGTERM.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RESPMON = [sys.executable, "-m", "respmon.cli"]
CPU = min(os.sched_getaffinity(0))
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
REPEATS = 3
BARE = """
import sys, pyrealsense2 as rs
pipeline, config = rs.pipeline(), rs.config()
config.enable_device_from_file(sys.argv[1], repeat_playback=False)
config.enable_stream(rs.stream.depth)
device = config.resolve(pipeline).get_device().as_playback()
device.set_real_time(False)
pipeline.start(config)
count, stopped = 0, False
while True:
    ok, frames = pipeline.try_wait_for_frames(100)
    if ok:
        stopped = False
        count += bool(frames.get_depth_frame())
        continue
    if device.current_status() == rs.playback_status.stopped:
        if stopped:
            break
        stopped = True
pipeline.stop()
print(count)
"""


VIA_LIBREALSENSE = """
import sys
from respmon.sources import recording
recording._open = lambda path: (recording._check_file(path), recording._Playback(path))[1]
from respmon.cli import main
sys.exit(main(["replay", sys.argv[1]]))
"""
READER = """
import sys
from respmon.sources.recording import read_depth_recording
print(sum(1 for _ in read_depth_recording(sys.argv[1])))
"""


def pinned() -> None:
    os.sched_setaffinity(0, {CPU})


def run_measured(argv, **kwargs) -> tuple[float, float, str]:
    """(wall s, peak RSS MB, stdout) of one child process."""
    started = time.perf_counter()
    child = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=ENV, cwd=REPO,
                             preexec_fn=pinned, text=True, **kwargs)
    out = child.stdout.read()
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise RuntimeError(f"{argv} exited {child.returncode}")
    return wall, usage.ru_maxrss / 1024.0, out


def best(argv) -> tuple[float, float]:
    runs = [run_measured(argv)[:2] for _ in range(REPEATS)]
    return min(w for w, _ in runs), max(m for _, m in runs)


def daemon_config(folder: Path, recording: Path, model: str, realtime: bool) -> Path:
    path = folder / f"bed-{model or 'onnx'}-{realtime}.yaml".replace("/", "_")
    path.write_text(
        f'bed:\n  name: "bed-1"\nsource:\n  kind: recording\n  recording: "{recording}"\n'
        f'  realtime: {str(realtime).lower()}\n'
        f'publish:\n  endpoint: "ipc://{folder}/pub-{time.monotonic_ns()}"\n'
        f'  snapshot_endpoint: "ipc://{folder}/snap-{time.monotonic_ns()}"\n  insecure: true\n'
        f'journal:\n  path: "{folder / "bed-1.alarms.sqlite"}"\n'
        f'classifier:\n  model: "{model}"\n', encoding="utf-8")
    return path


def run_daemon(config: Path, notify: Path | None, until_s: float) -> tuple[float | None, float]:
    """(seconds from spawn to READY=1 or None, peak RSS MB) of `respmon run` stopped after until_s."""
    harness = None
    env = dict(ENV)
    if notify is not None:
        notify.unlink(missing_ok=True)
        harness = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        harness.bind(str(notify))
        harness.settimeout(0.05)
        env["NOTIFY_SOCKET"] = str(notify)
    started = time.perf_counter()
    child = subprocess.Popen([*RESPMON, "run", "--config", str(config)], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, env=env, cwd=REPO, preexec_fn=pinned)
    ready = None
    while time.perf_counter() - started < until_s:
        if harness is not None and ready is None:
            try:
                if b"READY=1" in harness.recv(4096):
                    ready = time.perf_counter() - started
            except socket.timeout:
                pass
        else:
            time.sleep(0.05)
    child.send_signal(signal.SIGTERM)
    _, _, usage = os.wait4(child.pid, 0)
    if harness is not None:
        harness.close()
    return ready, usage.ru_maxrss / 1024.0


def main() -> int:
    results: dict = {"cpu_pinned": CPU, "repeats": REPEATS}
    with tempfile.TemporaryDirectory(prefix="respmon-edge-") as tmp:
        folder = Path(tmp)
        torch_model = folder / "biatgru.pt"  # no .onnx beside it: the classifier runs on torch
        shutil.copyfile(REPO / "models" / "biatgru.pt", torch_model)
        files = {}
        for width, height in ((424, 240), (848, 480)):
            files[width] = folder / f"eupnea-{width}.db3"
            print(f"generating {files[width].name}", file=sys.stderr, flush=True)
            subprocess.run([*RESPMON, "simulate", "recording", "--script", "eupnea@15:60", "--out", str(files[width]),
                            "--width", str(width), "--height", str(height), "--fps", "15", "--seed", "1"],
                           check=True, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        imports = {}
        for name, code in (("respmon.cli", "import respmon.cli"),
                           ("classifier onnx", "from respmon.classify.infer import PatternClassifier as P; P()"),
                           ("classifier torch", f"from respmon.classify.infer import PatternClassifier as P; "
                                                f"P('{torch_model}')")):
            imports[name] = round(best([sys.executable, "-c", code])[0], 3)
        results["import_and_load_s"] = imports
        print(f"import/load: {imports}", file=sys.stderr, flush=True)
        for width, path in files.items():
            print(f"throughput at {width}", file=sys.stderr, flush=True)
            bare_s, bare_mb = best([sys.executable, "-c", BARE, str(path)])
            row = {"bare_s": round(bare_s, 3), "bare_peak_mb": round(bare_mb, 1)}
            row["reader_s"] = round(best([sys.executable, "-c", READER, str(path)])[0], 3)
            via_s, via_mb = best([sys.executable, "-c", VIA_LIBREALSENSE, str(path)])
            row["replay_onnx_via_librealsense_s"] = round(via_s, 3)
            row["replay_onnx_via_librealsense_over_bare_whole"] = round(bare_s / via_s, 3)
            for runtime, extra in (("onnx", []), ("torch", ["--config", str(daemon_config(folder, path,
                                                                                            str(torch_model), False))])):
                wall, mb = best([*RESPMON, "replay", str(path), *extra])
                row[f"replay_{runtime}_s"] = round(wall, 3)
                row[f"replay_{runtime}_peak_mb"] = round(mb, 1)
                row[f"replay_{runtime}_over_bare_whole"] = round(bare_s / wall, 3)
            results[f"{width}"] = row
            print(json.dumps(row), file=sys.stderr, flush=True)
        for runtime, model in (("onnx", ""), ("torch", str(torch_model))):
            print(f"daemon with {runtime}", file=sys.stderr, flush=True)
            readies = []
            for _ in range(REPEATS):
                ready, _ = run_daemon(daemon_config(folder, files[424], model, True), folder / "notify.sock", 6.0)
                readies.append(ready)
            # memory over the whole 60 s file, as fast as it plays
            _, peak = run_daemon(daemon_config(folder, files[424], model, False), None, 20.0)
            results[f"run_{runtime}"] = {"ready_s_best": min(r for r in readies if r is not None),
                                         "ready_s_all": readies, "peak_mb_424x240": round(peak, 1)}
            print(json.dumps(results[f"run_{runtime}"]), file=sys.stderr, flush=True)
    out = REPO / "bench" / "results" / "edge.json"
    out.write_text(json.dumps(results, indent=1) + "\n")
    print(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
