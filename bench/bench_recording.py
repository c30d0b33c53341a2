"""Benchmark of `respmon simulate`: RSM signal generation, 3-minute recording generation, and file
sizes per minute for the supported depth resolutions. Run: .venv/bin/python bench/bench_recording.py

Everything goes through the CLI entry point (render, pyrealsense2 write, playback for the truth),
so the numbers are what a user waits for. Results go in the README.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from respmon.cli import main as respmon

SCRIPT_3_MIN = "eupnea@14:60,central_apnea:25,eupnea:60,motion:4,absent:31"  # 180 s
SIZE_RESOLUTIONS = ((424, 240), (640, 480), (848, 480))
SIZE_SECONDS = 20


def _timed(argv: list[str]) -> float:
    started = time.perf_counter()
    code = respmon(argv)
    if code != 0:
        raise SystemExit(f"respmon {' '.join(argv)} failed with {code}")
    return time.perf_counter() - started


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        signals_s = _timed(["simulate", "signals", "--pattern", "all", "--count", "100", "--seed", "1",
                            "--out", str(folder / "x.csv")])
        print(f"simulate signals --pattern all --count 100 (700 rows): {signals_s:.2f} s")
        path = folder / "three-minutes.db3"
        wall_s = _timed(["simulate", "recording", "--script", SCRIPT_3_MIN, "--out", str(path),
                         "--width", "424", "--height", "240", "--fps", "15", "--seed", "1"])
        print(f"simulate recording, 180 s at 424x240 15 fps: {wall_s:.1f} s wall, "
              f"{path.stat().st_size / 1e6:.0f} MB")
        path.unlink()
        print("\n| resolution | fps | MB per minute |\n| --- | --- | --- |")
        for width, height in SIZE_RESOLUTIONS:
            path = folder / f"size-{width}x{height}.db3"
            _timed(["simulate", "recording", "--script", f"eupnea:{SIZE_SECONDS}", "--out", str(path),
                    "--width", str(width), "--height", str(height), "--fps", "15"])
            per_minute_mb = path.stat().st_size / 1e6 * 60 / SIZE_SECONDS
            print(f"| {width}x{height} | 15 | {per_minute_mb:.0f} |")
            path.unlink()
    return 0


if __name__ == "__main__":
    sys.exit(main())
