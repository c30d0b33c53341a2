"""Speed of the streaming path on ONE core: per-frame cost of `Monitor.frame`, and `respmon replay`
throughput next to bare pyrealsense2 playback of the same recording.

Run: .venv/bin/python bench/bench_pipeline.py

The script confines itself: it sets OMP_NUM_THREADS and the other BLAS/torch thread variables to 1
before numpy is imported, and pins itself (and with it librealsense's playback threads) to one CPU
with os.sched_setaffinity, so no `taskset` or `env` is needed. The synthetic recordings it measures
are generated first, in a temporary folder, by `respmon simulate recording` in child processes that
get the machine's normal CPUs and environment back (generation is not what is measured).

1. Monitor.frame (with the shipped classifier) at 424x240, 640x480 and 848x480: a 120 s recording per resolution at 15 fps, all
   frames decoded into memory first, then every frame timed (region searches included: every 2 s
   until the chest is found, every 60 s after). Mean, p99 and max ms per frame, and the mean in the
   steady state (source time ≥ 20 s).
2. Throughput on the 424x240 and 848x480 files, best of 3, frames per second of wall time from
   opening the file to the end of playback:
   - pyrealsense2 alone: pipeline, enable_device_from_file(repeat_playback=False), set_real_time(False)
     before start, try_wait_for_frames until the playback reports stopped; no numpy copy;
   - read_depth_recording: respmon's reader (its own .db3 reader, respmon.sources.rosbag2);
   - replay_recording: everything `respmon replay` does (the shipped classifier included, once a
     second), minus printing the JSON lines;
   - the same through librealsense's playback (respmon's reader before it read .db3 itself): what
     respmon's own processing costs on top of librealsense's decoding.
"""

from __future__ import annotations

import os
import sys

THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS",
                    "VECLIB_MAXIMUM_THREADS", "BLIS_NUM_THREADS")
CHILD_ENV = dict(os.environ)  # for the generator processes: the environment as it came
for _name in THREAD_VARIABLES:  # before numpy (and its BLAS) is loaded, or it has no effect
    os.environ[_name] = "1"
ALL_CPUS = os.sched_getaffinity(0)
BENCH_CPU = 0 if 0 in ALL_CPUS else min(ALL_CPUS)

import platform  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pyrealsense2 as rs  # noqa: E402

from respmon.config import default_config  # noqa: E402
from respmon.monitor import Monitor  # noqa: E402
from respmon.replay import load_classifier, replay_recording  # noqa: E402
from respmon.sources import recording  # noqa: E402
from respmon.sources.recording import read_depth_recording  # noqa: E402

FPS = 15
SCRIPT = "eupnea@15:120"  # long enough for the classifier to run every second for a minute
TRUTH_BPM = 15.0
RESOLUTIONS = ((424, 240), (640, 480), (848, 480))
THROUGHPUT_RESOLUTIONS = ((424, 240), (848, 480))
STEADY_AFTER_S = 20.0
REPEATS = 3
WAIT_MS = 100


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def generate(folder: Path, width: int, height: int) -> Path:
    path = folder / f"eupnea-{width}x{height}.db3"
    argv = [sys.executable, "-c", "import sys; from respmon.cli import main; sys.exit(main())",
            "simulate", "recording", "--script", SCRIPT, "--out", str(path), "--width", str(width),
            "--height", str(height), "--fps", str(FPS), "--seed", "1"]
    subprocess.run(argv, env=CHILD_ENV, check=True, stdout=subprocess.DEVNULL,
                   preexec_fn=lambda: os.sched_setaffinity(0, ALL_CPUS))
    return path


def frame_costs(path: Path, width: int) -> dict:
    frames = [(f.timestamp_ms / 1000.0, f.depth_raw, f.mm_per_unit) for f in read_depth_recording(path)]
    monitor = Monitor(default_config(), fps=float(FPS), width=width, classifier=shipped_classifier())
    costs_ns = np.empty(len(frames), dtype=np.int64)
    rates = []
    clock = time.perf_counter_ns
    for i, (t_s, depth_raw, mm_per_unit) in enumerate(frames):
        started = clock()
        lines = monitor.frame(t_s, depth_raw, mm_per_unit)
        costs_ns[i] = clock() - started
        rates += [line["rr_bpm"] for line in lines if line["rr_bpm"] is not None]
    ms = costs_ns / 1e6
    t_rel = np.array([t for t, _, _ in frames]) - frames[0][0]
    steady = ms[t_rel >= STEADY_AFTER_S]
    return {"frames": len(frames), "mean": ms.mean(), "p99": np.percentile(ms, 99), "max": ms.max(),
            "max_at": float(t_rel[np.argmax(ms)]),
            "steady": steady.mean(), "over_budget": int(np.sum(ms > 1000.0 / FPS)),
            "median_rr": float(np.median(rates)) if rates else None}


def bare_pyrealsense2(path: Path) -> int:
    pipeline = rs.pipeline()
    config = rs.config()
    config.enable_device_from_file(str(path), repeat_playback=False)
    config.enable_stream(rs.stream.depth)
    device = config.resolve(pipeline).get_device().as_playback()
    device.set_real_time(False)
    pipeline.start(config)
    count = 0
    stopped_seen = False
    try:
        while True:
            ok, frames = pipeline.try_wait_for_frames(WAIT_MS)
            if ok:
                stopped_seen = False
                if frames.get_depth_frame():
                    count += 1
                continue
            if device.current_status() == rs.playback_status.stopped:
                if stopped_seen:  # one more wait drains a frame still on its way (as respmon's reader does)
                    break
                stopped_seen = True
    finally:
        pipeline.stop()
    return count


def reader_only(path: Path) -> int:
    return sum(1 for _ in read_depth_recording(path))


_CLASSIFIER = []


def shipped_classifier():
    """Loaded once, outside the timed runs (respmon loads it once per process too)."""
    if not _CLASSIFIER:
        _CLASSIFIER.append(load_classifier(default_config()))
    return _CLASSIFIER[0]


def replay_via_librealsense(path: Path) -> int:
    opened = recording._open
    recording._open = lambda p: (recording._check_file(p), recording._Playback(p))[1]
    try:
        return full_replay(path)
    finally:
        recording._open = opened


def full_replay(path: Path) -> int:
    for line in replay_recording(path, default_config(), classifier=shipped_classifier()):
        if line["type"] == "summary":
            return line["frames"]
    raise RuntimeError("replay ended without a summary")


def signal_replay(path: Path) -> int:
    """`respmon replay` without the pattern classifier: the signal and rate path alone."""
    for line in replay_recording(path, default_config()):
        if line["type"] == "summary":
            return line["frames"]
    raise RuntimeError("replay ended without a summary")


def best_fps(run, path: Path) -> tuple[float, int]:
    best = 0.0
    frames = 0
    for _ in range(REPEATS):
        started = time.perf_counter()
        frames = run(path)
        best = max(best, frames / (time.perf_counter() - started))
    return best, frames


def main() -> int:
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="respmon-bench-") as tmp:
        folder = Path(tmp)
        paths = {}
        for width, height in RESOLUTIONS:
            log(f"generating {SCRIPT} at {width}x{height}, {FPS} fps")
            paths[width, height] = generate(folder, width, height)
        os.sched_setaffinity(0, {BENCH_CPU})
        cpu = platform.processor() or platform.machine()
        try:
            with open("/proc/cpuinfo") as handle:
                cpu = next(line.split(":", 1)[1].strip() for line in handle if line.startswith("model name"))
        except (OSError, StopIteration):
            pass
        print(f"One core (CPU {BENCH_CPU} of {len(ALL_CPUS)}: {cpu}), {' '.join(f'{v}=1' for v in THREAD_VARIABLES[:2])} "
              f"etc., Python {platform.python_version()}, numpy {np.__version__}, pyrealsense2 {rs.__version__}")

        print(f"\n## Monitor.frame per frame ({SCRIPT}, {FPS} fps, frames pre-loaded)\n")
        print("| resolution | frames | mean ms | p99 ms | max ms (at t s) | steady-state mean ms (t ≥ 20 s) "
              f"| frames over {1000 / FPS:.1f} ms | median rr_bpm (truth {TRUTH_BPM:g}) |")
        print("| --- | --- | --- | --- | --- | --- | --- | --- |")
        for (width, height), path in paths.items():
            log(f"Monitor.frame at {width}x{height}")
            c = frame_costs(path, width)
            rr = "–" if c["median_rr"] is None else f"{c['median_rr']:.2f}"
            print(f"| {width}x{height} | {c['frames']} | {c['mean']:.2f} | {c['p99']:.2f} | {c['max']:.2f} ({c['max_at']:.1f}) "
                  f"| {c['steady']:.2f} | {c['over_budget']} | {rr} |", flush=True)

        print(f"\n## Replay throughput (frames per second, best of {REPEATS})\n")
        print("| resolution | frames | pyrealsense2 bare loop | read_depth_recording | replay, signal and rate only "
              "| respmon replay (with classifier) | the same via librealsense | signal only / bare "
              "| with classifier / bare | via librealsense / bare |")
        print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
        for width, height in THROUGHPUT_RESOLUTIONS:
            path = paths[width, height]
            results = {}
            for name, run in (("bare", bare_pyrealsense2), ("reader", reader_only), ("signal", signal_replay),
                              ("replay", full_replay), ("via", replay_via_librealsense)):
                log(f"throughput {name} at {width}x{height}")
                results[name] = best_fps(run, path)
            counts = {n for _, n in results.values()}
            frames = str(counts.pop()) if len(counts) == 1 else "/".join(str(n) for _, n in results.values())
            bare, reader, signal, replay, via = (results[n][0] for n in ("bare", "reader", "signal", "replay", "via"))
            print(f"| {width}x{height} | {frames} | {bare:.0f} | {reader:.0f} | {signal:.0f} | {replay:.0f} | {via:.0f} "
                  f"| {signal / bare:.2f} | {replay / bare:.2f} | {via / bare:.2f} |", flush=True)
    log(f"total {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
