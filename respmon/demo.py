"""`respmon demo`: the embedded default job.

Generates the configured synthetic recording (`simulation.demo` in config.yaml) and plays it
back through the recording source, printing one JSON line per second of recording. Until the
signal stage exists (issue 3) each line reports what the source delivers: frames, valid pixels
and the depth of the chest box given by the recording's truth, beside the truth itself.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

from respmon.config import load_config
from respmon.errors import UsageError
from sim.script import parse_script


def _segment_at(segments: list[dict], t_s: float) -> str:
    for segment in segments:
        if segment["start_s"] <= t_s < segment["end_s"]:
            return segment["pattern"]
    return segments[-1]["pattern"]


def replay_lines(recording: Path, truth: dict):
    """Per-second summaries of a played-back recording (dicts, ready for JSON)."""
    from respmon.sources.recording import read_depth_recording

    x0, y0, x1, y1 = truth["chest_box_px"]
    fps = truth["fps"]
    first_number = None
    second, frames, valid, chest_mm = 0, 0, [], []
    chest_series = []
    for frame in read_depth_recording(recording):
        if first_number is None:
            first_number = frame.frame_number
        t_s = (frame.frame_number - first_number) / fps
        while t_s >= second + 1:
            if frames:
                yield _window(second, frames, valid, chest_mm, truth)
            second, frames, valid, chest_mm = second + 1, 0, [], []
        box = np.asarray(frame.depth_mm[y0:y1, x0:x1], dtype=np.float32)
        ok = box > 0
        frames += 1
        valid.append(float(ok.mean()))
        level = float(box[ok].mean()) if ok.any() else float("nan")
        chest_mm.append(level)
        chest_series.append(level)
    if frames:
        yield _window(second, frames, valid, chest_mm, truth)
    truth_mm = np.asarray(truth["frames"]["displacement_mm"], dtype=float)
    t_s = np.asarray(truth["frames"]["t_s"], dtype=float)
    still = np.array([_segment_at(truth["segments"], t) not in ("motion", "absent") for t in t_s], dtype=bool)
    series = np.asarray(chest_series, dtype=float)
    usable = still & np.isfinite(series)
    corr = None
    if usable.sum() > 2 and np.std(series[usable]) > 0 and np.std(truth_mm[usable]) > 0:
        corr = float(np.corrcoef(-series[usable], truth_mm[usable])[0, 1])
    yield {"type": "summary", "frames_played": len(series), "frames_written": truth["frames_written"],
           "still_chest_depth_vs_truth_corr": None if corr is None else round(corr, 3)}


def _window(second: int, frames: int, valid: list, chest_mm: list, truth: dict) -> dict:
    finite = [v for v in chest_mm if np.isfinite(v)]
    return {
        "type": "window",
        "t": second,
        "frames": frames,
        "valid_fraction": round(float(np.mean(valid)), 3),
        "chest_depth_mm": round(float(np.mean(finite)), 2) if finite else None,
        "truth_pattern": _segment_at(truth["segments"], second + 0.5),
    }


def run(args) -> int:
    from sim.recording import truth_path_for, write_synthetic_recording

    config = load_config(args.config)
    demo, rec = config.simulation.demo, config.simulation.recording
    segments = parse_script(demo.script)  # already checked when the config loaded
    if args.keep is not None and not args.keep.is_dir():
        raise UsageError(f"--keep: {args.keep} is not an existing folder")
    folder = Path(args.keep) if args.keep is not None else Path(tempfile.mkdtemp(prefix="respmon-demo-"))
    try:
        path = folder / "demo.db3"
        result = write_synthetic_recording(
            path, segments, width=rec.width, height=rec.height, fps=rec.fps,
            distance_m=rec.distance_m, tilt_deg=rec.tilt_deg, seed=demo.seed, script=demo.script,
        )
        print(f"generated {path.name}: {result.frames_written} frames in {result.wall_s:.1f} s",
              file=sys.stderr)
        truth = json.loads(truth_path_for(path).read_text(encoding="utf-8"))
        for line in replay_lines(path, truth):
            print(json.dumps(line), flush=True)
    finally:
        if args.keep is None:
            shutil.rmtree(folder, ignore_errors=True)
    return 0
