"""Time generating a 3-minute 424x240 15 fps synthetic recording, pyrealsense2 write included."""

from __future__ import annotations

import math
import sys
import tempfile
import time
from pathlib import Path

from sim.rs_writer import write_depth_recording
from sim.scene import BedScene

WIDTH, HEIGHT, FPS, DURATION_S = 424, 240, 15, 180.0
BREATH_RATE_HZ, AMPLITUDE_MM = 0.25, 3.0  # 15 breaths/min, 6 mm peak to peak


def main() -> int:
    n_frames = int(DURATION_S * FPS)
    t0 = time.perf_counter()
    scene = BedScene(WIDTH, HEIGHT, distance_m=1.2, seed=1)
    frames = (
        scene.render(AMPLITUDE_MM * math.sin(2 * math.pi * BREATH_RATE_HZ * i / FPS), t_s=i / FPS)
        for i in range(n_frames)
    )
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.db3"
        written = write_depth_recording(path, frames, scene.intrinsics, FPS)
        wall_s = time.perf_counter() - t0
        size_mb = path.stat().st_size / 1e6
    print(f"{written} frames {WIDTH}x{HEIGHT} @ {FPS} fps ({DURATION_S:.0f} s): {wall_s:.1f} s wall, {size_mb:.1f} MB"
          f" ({size_mb / (DURATION_S / 60):.1f} MB/min)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
