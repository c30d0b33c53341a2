"""Synthetic depth recordings: a script becomes a timeline, frames, a `.db3` and its truth.

The timeline (pure, array in, array out) says for every frame the chest displacement, whether
somebody is in bed and the body's pose. The scene renders it, pyrealsense2 records it, and the
recording is then played back through respmon's own recording source so that the truth file
describes exactly the frames a reader gets.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from respmon.progress import Progress
from respmon.sim.rsm_physiological import DEPTH_RANGE_MM, physiological_signal
from respmon.sim.script import HYPOPNEA, Segment

TRUTH_SCHEMA_VERSION = 1
BLEND_TIME_S = 1.0  # joins segments without a step the scene would render as motion
MIN_PHYSIO_DURATION_S = 10.0
# Repositioning: how far the body shifts (mm; bed axes: x across the bed, y toward the feet,
# z up). Chosen: a roll or a slide up the bed moves the torso by a few centimetres.
MOTION_SHIFT_MM = ((30.0, 80.0), (10.0, 50.0), (0.0, 20.0))
HYPOPNEA_DEPTH_SHARE = (0.3, 0.5)  # of the breathing before: the project's definition (AASM: >= 30 % drop)


@dataclass
class Timeline:
    fps: int
    displacement_mm: np.ndarray  # (n,) chest displacement toward the camera
    present: np.ndarray  # (n,) bool
    pose_mm: np.ndarray  # (n, 3) rigid shift of the body
    segments: list[dict]  # pattern, start_s, end_s, rate_bpm (null where no rate is defined)

    @property
    def frame_count(self) -> int:
        return len(self.displacement_mm)


def _smoothstep(n: int) -> np.ndarray:
    x = np.linspace(0.0, 1.0, n) if n > 1 else np.ones(1)
    return x * x * (3.0 - 2.0 * x)


def _breathing(segment: Segment, n: int, fps: int, rng: np.random.Generator,
               depth_before_mm: float | None) -> tuple[np.ndarray, float | None]:
    if segment.name == "central_apnea":
        return np.zeros(n), None
    duration_s = max(segment.duration_s, MIN_PHYSIO_DURATION_S)
    pattern, depth_mm = segment.name, None
    if segment.name == HYPOPNEA:
        pattern = "eupnea"
        base_mm = depth_before_mm if depth_before_mm else rng.uniform(*DEPTH_RANGE_MM)
        depth_mm = base_mm * rng.uniform(*HYPOPNEA_DEPTH_SHARE)
    signal = physiological_signal(
        pattern, rng, duration_s=duration_s, rate_hz=float(fps),
        rate_bpm=segment.rate_bpm, depth_mm=depth_mm, artefacts=False,
    )
    samples = np.asarray(signal.displacement_mm, dtype=float)
    if len(samples) < n:
        samples = np.pad(samples, (0, n - len(samples)), mode="edge")
    return samples[:n], signal.mean_rate_bpm


def build_timeline(segments: list[Segment], fps: int, rng: np.random.Generator) -> Timeline:
    """Per-frame displacement, presence and pose for a parsed script."""
    total_s = sum(s.duration_s for s in segments)
    n_total = int(round(total_s * fps))
    displacement = np.zeros(n_total)
    present = np.ones(n_total, dtype=bool)
    pose = np.zeros((n_total, 3))
    truth_segments = []
    start_s = 0.0
    current_pose = np.zeros(3)
    last_value = 0.0
    depth_before_mm: float | None = None  # peak-to-peak depth of the last breathing segment
    blend = np.exp(-np.arange(n_total) / (BLEND_TIME_S * fps))
    for segment in segments:
        end_s = start_s + segment.duration_s
        i0, i1 = int(round(start_s * fps)), int(round(end_s * fps))
        n = i1 - i0
        rate_bpm = None
        if segment.name == "absent":
            present[i0:i1] = False
            values = np.zeros(n)
        elif segment.name == "motion":
            shift = [rng.uniform(lo, hi) * rng.choice((-1.0, 1.0)) for lo, hi in MOTION_SHIFT_MM]
            target = current_pose + np.asarray(shift)
            pose[i0:i1] = current_pose + _smoothstep(n)[:, None] * (target - current_pose)
            current_pose = target
            values = np.zeros(n)
        else:
            values, rate_bpm = _breathing(segment, n, fps, rng, depth_before_mm)
            if segment.name not in ("central_apnea", HYPOPNEA) and n:
                depth_before_mm = float(np.percentile(values, 95) - np.percentile(values, 5))
        if segment.name != "motion":
            pose[i0:i1] = current_pose
        if n:
            values = values + (last_value - values[0]) * blend[:n]
            displacement[i0:i1] = values
            last_value = float(values[-1])
        truth_segments.append({
            "pattern": segment.name,
            "start_s": round(start_s, 6),
            "end_s": round(end_s, 6),
            "rate_bpm": None if rate_bpm is None else round(float(rate_bpm), 3),
        })
        start_s = end_s
    return Timeline(fps, displacement, present, pose, truth_segments)


def truth_frames(timeline: Timeline, played_numbers: list[int], first_number: int) -> dict:
    """The truth of exactly the frames that playback returned, matched by frame number.

    A reader may not get every recorded frame (librealsense can drop frames at the start of a
    software-device recording), so the truth is keyed by the frame numbers that came back and
    never by position.
    """
    indices = np.asarray(played_numbers, dtype=np.int64) - first_number
    if len(indices) and (indices.min() < 0 or indices.max() >= timeline.frame_count):
        raise ValueError("playback returned frame numbers outside the recording")
    if len(indices) > 1 and np.any(np.diff(indices) <= 0):
        raise ValueError("playback returned frames out of order or twice")
    return {
        "frame_number": [int(n) for n in played_numbers],
        "t_s": [round(float(i) / timeline.fps, 6) for i in indices],
        "displacement_mm": [round(float(v), 4) for v in timeline.displacement_mm[indices]],
        "present": [bool(v) for v in timeline.present[indices]],
    }


@dataclass
class RecordingResult:
    path: Path
    truth_path: Path
    frames_written: int
    frames_played: int
    wall_s: float


def truth_path_for(path: Path) -> Path:
    return path.with_name(path.name[: -len(path.suffix)] + ".truth.json")


def write_synthetic_recording(
    path: Path,
    segments: list[Segment],
    *,
    width: int,
    height: int,
    fps: int,
    distance_m: float,
    tilt_deg: float = 0.0,
    seed: int = 0,
    script: str = "",
) -> RecordingResult:
    """Render, write as a librealsense .db3 (sim/db3_writer.py), play back, and write FILE.truth.json beside it."""
    import time

    from respmon.sources.recording import read_depth_recording
    from respmon.sim.db3_writer import FIRST_FRAME_NUMBER, write_depth_recording
    from respmon.sim.scene import BedScene

    started = time.monotonic()
    rng = np.random.default_rng(seed)
    timeline = build_timeline(segments, fps, rng)
    scene = BedScene(width, height, distance_m=distance_m, tilt_deg=tilt_deg, seed=seed)
    progress = Progress(f"rendering {path.name}", timeline.frame_count)

    def frames():
        for i in range(timeline.frame_count):
            if i % 16 == 0:
                progress.update(i)
            yield scene.render(
                float(timeline.displacement_mm[i]),
                present=bool(timeline.present[i]),
                pose_mm=tuple(timeline.pose_mm[i]),
                t_s=i / fps,
            )
        progress.close()

    written = write_depth_recording(path, frames(), scene.intrinsics, fps)
    played_numbers = [frame.frame_number for frame in read_depth_recording(path)]
    frames_truth = truth_frames(timeline, played_numbers, FIRST_FRAME_NUMBER)

    ys, xs = np.nonzero(scene.chest_mask)
    truth = {
        "schema_version": TRUTH_SCHEMA_VERSION,
        "recording": path.name,
        "script": script,
        "seed": seed,
        "width": width,
        "height": height,
        "fps": fps,
        "distance_m": distance_m,
        "tilt_deg": tilt_deg,
        "depth_units_m": 0.001,
        "chest_box_px": [int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1],
        "segments": timeline.segments,
        "frames_written": written,
        "frames_played": len(played_numbers),
        "frames": frames_truth,
    }
    truth_path = truth_path_for(path)
    tmp = truth_path.with_name(truth_path.name + ".tmp")
    tmp.write_text(json.dumps(truth, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, truth_path)
    return RecordingResult(path, truth_path, written, len(played_numbers), time.monotonic() - started)
