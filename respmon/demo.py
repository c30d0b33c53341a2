"""`respmon demo`: the embedded default job.

Generates the configured synthetic recording (`simulation.demo` in config.yaml) in a temporary
folder and replays it through the monitoring path exactly as `respmon replay` does, printing one
JSON line per second. Each line also carries what the recording's truth says for that second,
so a person can see at a glance whether respmon got it right.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path

from respmon.config import load_config
from respmon.errors import UsageError
from respmon.daemon.bedside import Bedside
from respmon.logs import setup_logging
from respmon.replay import load_classifier, replay_recording, with_alerts
from respmon.sim.script import parse_script


def truth_at(segments: list[dict], t_s: float) -> dict:
    """The truth segment under source time t_s (the last one past the end)."""
    for segment in segments:
        if segment["start_s"] <= t_s < segment["end_s"]:
            return segment
    return segments[-1]


def run(args) -> int:
    from respmon.sim.recording import truth_path_for, write_synthetic_recording

    config = load_config(args.config)
    setup_logging(config.log.level)
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
        print(f"generated {path.name}: {result.frames_written} frames in {result.wall_s:.1f} s; replaying",
              file=sys.stderr)
        truth = json.loads(truth_path_for(path).read_text(encoding="utf-8"))
        classifier = load_classifier(config)
        bedside = Bedside(config, classifier.version)
        for line in with_alerts(replay_recording(path, config, classifier=classifier), bedside):
            if line["type"] == "window":
                segment = truth_at(truth["segments"], line["t"] - 0.5)
                line["truth"] = {"pattern": segment["pattern"], "rate_bpm": segment["rate_bpm"]}
            print(json.dumps(line), flush=True)
    finally:
        if args.keep is None:
            shutil.rmtree(folder, ignore_errors=True)
    return 0
