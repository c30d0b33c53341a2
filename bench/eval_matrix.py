"""The robustness matrix: hundreds of random scenes (sim/matrix.py) through the monitoring path
(Monitor -> classifier -> alert engine, as the daemon and `respmon replay` run them), scored
against their truth.

Run: .venv/bin/python bench/eval_matrix.py --split dev [--count 60] [--jobs 2] [--plot dev.png]
     .venv/bin/python bench/eval_matrix.py --split heldout --count 240    # report only
     .venv/bin/python bench/eval_matrix.py --split heldout --from bench/results/matrix-heldout.json --plot x.png
     .venv/bin/python bench/eval_matrix.py --split heldout --rescore RESULTS.json --set classifier.model=C.pt

Every scene's result keeps its window lines and the 10 Hz signal the classifier read, so --rescore
can classify them again with another model and rerun the alert engine in minutes: the stages
before the classifier never read its answers, so that is what a full run with the model gives
(tests/test_matrix_rescore.py).

Seeds were split once, before any development: DEV_SEEDS for working on the signal stage and the
classifier, HELDOUT_SEEDS run only to report. The unit tests use seeds outside both.

Scenes are rendered in the daemon's default depth mode (config.yaml `camera`: 848x480 at 30 fps,
about 70 s a scene per core here) unless --size / --fps say otherwise; the results file records
the mode. --kind and --distance pick scenes of the split by kind and camera distance.

The matrix runs the alert engine with `alerts.apnea_delay_s = 15` (MATRIX_APNEA_DELAY_S; in the
range monitors offer), so that every apnea of >= 15 s is one it must alert; everything else is the
shipped default configuration.
"""

from __future__ import annotations

import argparse
import base64
import json
import logging
import multiprocessing
import statistics
import sys
from pathlib import Path

import numpy as np

from respmon.classify.data import RATE_HZ, WINDOW_N
from respmon.config import default_config
from respmon.daemon.bedside import Bedside
from respmon.monitor import Monitor
from respmon.progress import Progress
from respmon.replay import load_classifier
from respmon.sim.matrix import FPS, HEIGHT, WIDTH, build_scene, draw_scene, frames
from respmon.sim.truth import window_pattern

sys.path.insert(0, str(Path(__file__).parent))
from eval_alerts import _override  # noqa: E402

DEV_SEEDS = range(100_000, 100_400)
HELDOUT_SEEDS = range(500_000, 500_400)
MATRIX_APNEA_DELAY_S = 15.0
ONSET_SLACK_S = 2.0  # the criterion: onset <= delay + 2 s after the chest stops
ONSET_LIMIT_S = 5.0  # ... and never later than delay + 5 s
MIN_ALERTED_APNEA_S = 15.0
RATE_SETTLE_S = 40.0  # rate windows count from this long after a breathing segment starts
RATE_CELLS_BPM = (6, 8, 10, 12, 15, 20, 25, 30, 35, 40, 45.01)
RATE_CELL_MAX_DISTANCE_M = 2.0
DISTANCE_BANDS_M = ((0.8, 1.25), (1.25, 1.75), (1.75, 2.51))
CLASSIFIER_WINDOW_S = 60
PATTERN_ALERTS = ("biots", "cheyne_stokes", "central_apnea")
RESULTS = Path(__file__).parent / "results"
# What a scene's result keeps of each Monitor window line: all the alert engine reads, and
# "classified_to" (where the classifier's window ended in the stream), for --rescore.
LINE_FIELDS = ("t", "state", "rr_bpm", "quality", "present", "seconds_since_breath", "pattern", "confidence", "probs")

_state: dict = {}


def _init(overrides: list[str], mode: tuple[int, int, float] = (WIDTH, HEIGHT, FPS)) -> None:
    import torch

    torch.set_num_threads(1)
    logging.getLogger("respmon.alerts").setLevel(logging.ERROR)
    config = default_config()
    config.alerts.apnea_delay_s = MATRIX_APNEA_DELAY_S
    for assignment in overrides:
        _override(config, assignment)
    _state["config"] = config
    _state["classifier"] = load_classifier(config)
    _state["mode"] = mode


class RecordingClassifier:
    """The classifier as the Monitor calls it, noting where in the scene's signal stream (every
    10 Hz sample the analyzer was fed, in order) each window it classified ends. The Monitor never
    reads the classifier's answer back, so a scene's windows can later be classified again by
    another model (rescore) and come out as a full run with that model would have."""

    def __init__(self, inner, stream: list[float]):
        self.inner, self.stream, self.version = inner, stream, inner.version
        self.ends: list[int] = []  # one per call, oldest first; a frame may close several windows

    def classify_signal(self, samples: np.ndarray, rate_hz: float) -> np.ndarray:
        n = len(self.stream)
        if rate_hz != RATE_HZ or len(samples) != WINDOW_N or not np.array_equal(
                np.asarray(samples, dtype=np.float32), np.asarray(self.stream[n - len(samples):n], dtype=np.float32)):
            raise RuntimeError("the classifier's window is not the end of the recorded stream")
        self.ends.append(n)
        return self.inner.classify_signal(samples, rate_hz)


def run_scene(seed: int) -> dict:
    """One scene through the monitoring path; what the bench needs of its output and its truth."""
    config, classifier = _state["config"], _state["classifier"]
    spec = draw_scene(seed)
    width, height, fps = _state.get("mode", (WIDTH, HEIGHT, FPS))
    scene = build_scene(spec, fps)
    stream: list[float] = []
    recorder = RecordingClassifier(classifier, stream)
    monitor = Monitor(config, fps=float(fps), width=width, classifier=recorder,
                      on_sample=lambda _t, v: stream.append(float(np.float32(v))))
    lines = []

    def take(new_lines):
        for line in new_lines:
            ends = recorder.ends.pop(0) if line.get("probs") is not None else None
            lines.append({**{k: line.get(k) for k in LINE_FIELDS}, "classified_to": ends})
        if recorder.ends:
            raise RuntimeError("a classified window without its line")

    t_end = 0.0
    for t_s, depth in frames(scene, width, height):
        take(monitor.frame(t_s, depth, 1.0))  # depth in mm
        t_end = t_s
    take(monitor.finish(t_end + 1.0 / fps))
    result = {"spec": spec.as_dict(), "segments": scene.timeline.segments, "events": scene.events,
              "duration_s": scene.timeline.frame_count / fps, "lines": lines,
              "stream_f32": base64.b64encode(np.asarray(stream, dtype="<f4").tobytes()).decode("ascii")}
    return {**result, **alerts_of(config, classifier.version, lines)}


def alerts_of(config, model_version: str, lines: list[dict]) -> dict:
    """The bedside's alert engine over a scene's window lines: the windows as scored, onsets, clears."""
    bedside = Bedside(config, model_version)
    windows, onsets, clears = [], [], []
    for line in lines:
        window = {"type": "window", **{k: v for k, v in line.items() if k != "classified_to"}}
        windows.append([line["t"], line["state"], line["rr_bpm"], line.get("pattern")])
        for e in bedside.window(window):
            if e["event"] in ("onset", "clear"):
                (onsets if e["event"] == "onset" else clears).append([e["condition"], e["t"]])
    return {"windows": windows, "onsets": onsets, "clears": clears}


def rescore_scene(result: dict, config, classifier) -> dict:
    """A scene's stored windows classified by `classifier` and through the alert engine again:
    what a full run with that classifier gives (the stages before it do not depend on it)."""
    from respmon.classify.infer import describe

    stream = np.frombuffer(base64.b64decode(result["stream_f32"]), dtype="<f4").astype(float)
    lines = [dict(line) for line in result["lines"]]
    for line in lines:
        end = line["classified_to"]
        if end is not None:
            # One window a call, as the Monitor makes it: a batch's float rounding differs from
            # batch-1 in the fifth decimal, which moved stored probabilities (23 of 160 scenes).
            line.update(describe(classifier.classify_signal(stream[end - WINDOW_N:end], RATE_HZ)))
    return {**result, "lines": lines, **alerts_of(config, classifier.version, lines)}


# --- scoring (pure: scene results in, figures out) -------------------------------------------------

def _segment(result: dict, name: str) -> dict | None:
    return next((s for s in result["segments"] if s["pattern"] == name), None)


def _breathing_s(result: dict) -> float:
    """Seconds of the scene outside its central apnea (all of it if it has none)."""
    seg = _segment(result, "central_apnea")
    return result["duration_s"] - (0.0 if seg is None else seg["end_s"] - seg["start_s"])


def score_apnea(result: dict, delay_s: float) -> dict | None:
    """Onset latency of the scene's apnea (from the chest going still), None if not an apnea scene."""
    seg = _segment(result, "central_apnea")
    if seg is None or result["spec"]["kind"] != "apnea":
        return None
    start, end = seg["start_s"], seg["end_s"]
    hits = [t for c, t in result["onsets"] if c == "central_apnea" and start <= t <= end + ONSET_LIMIT_S]
    return {"apnea_s": end - start, "latency_s": (min(hits) - start) if hits else None,
            "must_alert": end - start >= MIN_ALERTED_APNEA_S, "delay_s": delay_s,
            "distance_m": result["spec"]["distance_m"],
            "said_cannot_monitor": said_it_cannot_monitor(result, start, end)}


def said_it_cannot_monitor(result: dict, start_s: float, end_s: float) -> bool:
    """Whether a technical alert (low_signal_quality, camera_lost) was active at some time in
    [start_s, end_s]: a missed apnea then was not a silent one."""
    for condition in ("low_signal_quality", "camera_lost"):
        ons = sorted(t for c, t in result["onsets"] if c == condition)
        offs = sorted(t for c, t in result.get("clears", []) if c == condition)
        for on in ons:
            off = next((t for t in offs if t >= on), float("inf"))
            if on <= end_s and off >= start_s:
                return True
    return False


def false_apnea_onsets(result: dict) -> list[float]:
    """central_apnea onsets where the truth has no apnea (breathing, hypopnea, sighs, swallows)."""
    seg = _segment(result, "central_apnea")
    kind = result["spec"]["kind"]
    if kind in ("biots", "cheyne_stokes"):
        return []  # their pauses are apneas; judged by the pattern scores instead
    out = []
    for c, t in result["onsets"]:
        if c != "central_apnea":
            continue
        if seg is not None and seg["start_s"] <= t <= seg["end_s"] + ONSET_LIMIT_S:
            continue
        out.append(t)
    return out


def rate_errors(result: dict) -> tuple[float, list[float], int]:
    """(truth rate, errors of the windows with a rate, windows that should have had one)."""
    spec = result["spec"]
    if spec["kind"] not in ("apnea", "breathing"):
        return 0.0, [], 0
    errors, expected = [], 0
    truth = None
    for seg in result["segments"]:
        if seg["pattern"] in ("central_apnea", "hypopnea") or seg["rate_bpm"] is None:
            continue
        truth = seg["rate_bpm"]
        lo, hi = seg["start_s"] + RATE_SETTLE_S, seg["end_s"]
        for t, state, rr, _ in result["windows"]:
            if lo <= t <= hi:
                expected += 1
                if rr is not None:
                    errors.append(rr - seg["rate_bpm"])
        break  # the first breathing segment only: after an apnea the rate restarts
    return truth or 0.0, errors, expected


def pattern_hits(result: dict) -> tuple[int, int]:
    """(right, judged) pattern windows whose 60 s show one pattern by the scene's truth
    (sim.truth.window_pattern, the rule that labels the classifier's scene training windows);
    windows closing on a central apnea are the apnea scores' business, not counted here."""
    right = judged = 0
    for t, _, _, pattern in result["windows"]:
        truth = window_pattern(result["segments"], float(t), CLASSIFIER_WINDOW_S)
        if truth is not None and truth != "central_apnea" and pattern is not None:
            judged += 1
            right += pattern == truth
    return right, judged


def summarise(results: list[dict], delay_s: float) -> dict:
    apneas = [a for a in (score_apnea(r, delay_s) for r in results) if a is not None]
    must = [a for a in apneas if a["must_alert"]]
    alerted = [a for a in must if a["latency_s"] is not None]
    latencies = [a["latency_s"] for a in alerted]
    no_apnea_scenes = [r for r in results if r["spec"]["kind"] in ("apnea", "breathing")]
    breathing = [r for r in results if r["spec"]["kind"] == "breathing"]
    false_scenes = [r for r in breathing if false_apnea_onsets(r)]
    breathing_h = sum(r["duration_s"] for r in breathing) / 3600.0
    false_pattern = sum(1 for r in breathing for c, _ in r["onsets"] if c in PATTERN_ALERTS)
    false_apnea_all = sum(len(false_apnea_onsets(r)) for r in no_apnea_scenes)
    breathing_all_h = sum(_breathing_s(r) for r in no_apnea_scenes) / 3600.0
    right = judged = 0
    for r in results:
        a, b = pattern_hits(r)
        right, judged = right + a, judged + b
    cells = {}
    for r in results:
        truth, errors, expected = rate_errors(r)
        if not expected or r["spec"]["distance_m"] > RATE_CELL_MAX_DISTANCE_M:
            continue
        k = int(np.searchsorted(RATE_CELLS_BPM, truth, side="right")) - 1
        cell = cells.setdefault(k, {"errors": [], "expected": 0, "scenes": 0})
        cell["errors"] += errors
        cell["expected"] += expected
        cell["scenes"] += 1
    rate_table = []
    for k in sorted(cells):
        c = cells[k]
        e = np.asarray(c["errors"])
        rate_table.append({
            "cell_bpm": [RATE_CELLS_BPM[k], round(RATE_CELLS_BPM[k + 1])], "scenes": c["scenes"],
            "coverage": round(len(e) / c["expected"], 3) if c["expected"] else 0.0,
            "median_abs_error_bpm": round(float(np.median(np.abs(e))), 2) if len(e) else None,
            "bias_bpm": round(float(np.median(e)), 2) if len(e) else None,
        })
    patterns = {}
    for kind in ("biots", "cheyne_stokes"):
        mine = [r for r in results if r["spec"]["kind"] == kind]
        hits = [min(t for c, t in r["onsets"] if c == kind) - 90.0 for r in mine
                if any(c == kind for c, _ in r["onsets"])]
        patterns[kind] = {"scenes": len(mine), "alerted": len(hits),
                          "median_onset_s": round(statistics.median(hits), 1) if hits else None}
    by_distance = {}
    for lo, hi in DISTANCE_BANDS_M:
        mine = [a for a in must if lo <= a["distance_m"] < hi]
        by_distance[f"{lo:g}-{hi:g} m"] = {
            "apneas": len(mine),
            "alerted": sum(a["latency_s"] is not None for a in mine),
            "on_time": sum(a["latency_s"] is not None and a["latency_s"] <= delay_s + ONSET_SLACK_S for a in mine),
            "missed_with_technical_alert": sum(a["latency_s"] is None and a["said_cannot_monitor"] for a in mine),
        }
    silent = [a for a in must if a["latency_s"] is None and not a["said_cannot_monitor"]]
    return {
        "scenes": len(results),
        "apnea_by_distance": by_distance,
        "silent_missed_apneas": len(silent),
        "apnea_scenes": len(apneas),
        "apneas_to_alert": len(must),
        "apnea_sensitivity": round(len(alerted) / len(must), 4) if must else None,
        "onset_within_delay_plus_2": round(sum(x <= delay_s + ONSET_SLACK_S for x in latencies) / len(must), 4) if must else None,
        "onset_max_s": round(max(latencies), 1) if latencies else None,
        "onset_median_s": round(statistics.median(latencies), 1) if latencies else None,
        "onset_later_than_delay_plus_5": sum(x > delay_s + ONSET_LIMIT_S for x in latencies),
        "breathing_scenes": len(breathing),
        "breathing_scenes_without_false_apnea": round(1 - len(false_scenes) / len(breathing), 4) if breathing else None,
        "false_apnea_per_h_of_breathing": round(false_apnea_all / breathing_all_h, 3) if breathing_all_h else None,
        "breathing_hours": round(breathing_h, 2),
        "false_pattern_alerts_in_breathing": false_pattern,
        "false_pattern_alerts_per_8h": round(8 * false_pattern / breathing_h, 2) if breathing_h else None,
        "pattern_accuracy": round(right / judged, 4) if judged else None,
        "pattern_windows": judged,
        "rate_cells": rate_table,
        "patterns": patterns,
        "missed_apneas": [r["spec"]["seed"] for r in results
                          if (a := score_apnea(r, delay_s)) and a["must_alert"] and a["latency_s"] is None],
        "false_apnea_seeds": [r["spec"]["seed"] for r in no_apnea_scenes if false_apnea_onsets(r)],
        "false_pattern_seeds": [r["spec"]["seed"] for r in breathing if any(c in PATTERN_ALERTS for c, _ in r["onsets"])],
    }


def markdown(summary: dict, split: str) -> str:
    s = summary
    lines = [
        f"Robustness matrix, {split} split: {s['scenes']} scenes "
        f"({s['apnea_scenes']} with an apnea, {s['breathing_scenes']} breathing only; apnea delay {MATRIX_APNEA_DELAY_S:g} s).",
        "",
        "| measure | value |",
        "| --- | --- |",
        f"| apneas >= {MIN_ALERTED_APNEA_S:g} s alerted | {s['apnea_sensitivity']} of {s['apneas_to_alert']} |",
        f"| onset <= delay + 2 s | {s['onset_within_delay_plus_2']} (median {s['onset_median_s']} s, max {s['onset_max_s']} s; "
        f"{s['onset_later_than_delay_plus_5']} later than delay + 5 s) |",
        f"| breathing scenes (hypopnea included) without a central_apnea alert | {s['breathing_scenes_without_false_apnea']} |",
        f"| false central_apnea alerts per hour of breathing | {s['false_apnea_per_h_of_breathing']} |",
        f"| false Biot's / Cheyne-Stokes / central apnea alerts in {s['breathing_hours']} h of regular breathing "
        f"| {s['false_pattern_alerts_in_breathing']} ({s['false_pattern_alerts_per_8h']} per 8 h) |",
        f"| pattern right ({s['pattern_windows']} windows) | {s['pattern_accuracy']} |",
    ]
    lines.append(f"| apneas missed without a technical alert saying the signal could not show them | "
                 f"{s['silent_missed_apneas']} of {s['apneas_to_alert']} |")
    for kind, p in s["patterns"].items():
        lines.append(f"| {kind} scenes alerted | {p['alerted']} of {p['scenes']} (median onset {p['median_onset_s']} s after it starts) |")
    lines += ["", "Apneas >= 15 s by distance:", "",
              "| distance | apneas | alerted | on time (<= delay + 2 s) | missed, with low_signal_quality raised |",
              "| --- | --- | --- | --- | --- |"]
    for band, b in s["apnea_by_distance"].items():
        lines.append(f"| {band} | {b['apneas']} | {b['alerted']} | {b['on_time']} | {b['missed_with_technical_alert']} |")
    lines += ["", f"Rate error per cell, scenes up to {RATE_CELL_MAX_DISTANCE_M:g} m (windows from {RATE_SETTLE_S:g} s into steady breathing):",
              "", "| true rate (bpm) | scenes | windows with a rate | median abs error (bpm) | bias (bpm) |",
              "| --- | --- | --- | --- | --- |"]
    for c in s["rate_cells"]:
        lines.append(f"| {c['cell_bpm'][0]}-{c['cell_bpm'][1]} | {c['scenes']} | {c['coverage']} | "
                     f"{c['median_abs_error_bpm']} | {c['bias_bpm']} |")
    return "\n".join(lines)


def plot(summary: dict, path: Path, split: str) -> None:
    """Apneas by distance and rate error per cell, one figure."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    bands = list(summary["apnea_by_distance"])
    rows = [summary["apnea_by_distance"][b] for b in bands]
    x = np.arange(len(bands))
    total = np.array([r["apneas"] for r in rows], dtype=float)
    for offset, key, label in ((-0.25, "on_time", "alerted on time"), (0.0, "alerted", "alerted"),
                               (0.25, "missed_with_technical_alert", "missed, low_signal_quality raised")):
        left.bar(x + offset, [r[key] for r in rows] / np.maximum(total, 1), width=0.25, label=label)
    left.set_xticks(x, [f"{b}\n({int(n)} apneas)" for b, n in zip(bands, total)])
    left.set_ylim(0, 1)
    left.set_ylabel("share of apneas >= 15 s")
    left.set_title(f"apneas by distance ({split})")
    left.legend(fontsize=8)
    cells = summary["rate_cells"]
    labels = [f"{c['cell_bpm'][0]}-{c['cell_bpm'][1]}" for c in cells]
    xs = np.arange(len(cells))
    right.bar(xs - 0.2, [c["median_abs_error_bpm"] or 0 for c in cells], width=0.4, label="median abs error")
    right.bar(xs + 0.2, [c["bias_bpm"] or 0 for c in cells], width=0.4, label="bias")
    right.axhline(0.5, color="grey", lw=0.8, ls="--")
    right.axhline(0.3, color="grey", lw=0.8, ls=":")
    right.axhline(-0.3, color="grey", lw=0.8, ls=":")
    right.set_xticks(xs, labels, rotation=45)
    right.set_xlabel("true rate (bpm), scenes up to 2 m")
    right.set_ylabel("bpm")
    right.set_title("rate error per cell")
    right.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def rescore(args) -> int:
    try:
        stored = json.loads(args.rescore.read_text())
        scenes = stored["scenes"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        print(f"--rescore: {args.rescore}: not a matrix results file ({type(exc).__name__})", file=sys.stderr)
        return 2
    if stored.get("overrides"):
        print(f"--rescore: {args.rescore} was run with --set {stored['overrides']}; its windows are "
              "rescored with this run's --set only", file=sys.stderr)
    _init(args.set)
    config, classifier = _state["config"], _state["classifier"]
    if any("lines" not in r for r in scenes):
        print(f"--rescore: {args.rescore} has no stored windows (written before --rescore existed)", file=sys.stderr)
        return 2
    bar = Progress("rescoring", len(scenes))
    results = []
    for r in scenes:
        results.append(rescore_scene(r, config, classifier))
        bar.update(len(results))
    bar.close()
    summary = summarise(results, MATRIX_APNEA_DELAY_S)
    out = args.out or args.rescore.with_name(args.rescore.stem + "-rescored.json")
    out.write_text(json.dumps({"summary": summary, "overrides": args.set, "mode": stored.get("mode"),
                               "rescored_from": str(args.rescore), "model": classifier.version,
                               "scenes": results}) + "\n")
    print(json.dumps({k: v for k, v in summary.items() if k != "rate_cells"}, indent=1))
    if args.markdown:
        print(markdown(summary, args.split))
    if args.plot is not None:
        plot(summary, args.plot, args.split)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", choices=("dev", "heldout"), required=True)
    parser.add_argument("--count", type=int, default=None, help="the first N scenes of the split")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE")
    parser.add_argument("--kind", action="append", default=None, help="only scenes of these kinds")
    parser.add_argument("--distance", default=None, metavar="LO-HI",
                        help="only scenes with the camera LO to HI metres from the chest")
    parser.add_argument("--out", type=Path, default=None, help="scene results (JSON); default bench/results/")
    parser.add_argument("--markdown", action="store_true", help="print the README table")
    camera = default_config().camera
    parser.add_argument("--size", default=f"{camera.width}x{camera.height}",
                        help="depth mode WIDTHxHEIGHT (default: the daemon's, %(default)s)")
    parser.add_argument("--fps", type=float, default=float(camera.fps),
                        help="frame rate (default: the daemon's, %(default)g)")
    parser.add_argument("--plot", type=Path, default=None, help="also draw the figures (.png)")
    parser.add_argument("--from", dest="from_json", type=Path, default=None,
                        help="score and plot the scene results of an earlier run instead of running")
    parser.add_argument("--rescore", type=Path, default=None, metavar="RESULTS.json",
                        help="classify the stored windows of an earlier run again with the classifier --set "
                             "names (classifier.model=PATH) and rerun the alert engine: minutes, not hours")
    args = parser.parse_args()
    if args.rescore is not None:
        return rescore(args)
    if args.from_json is not None:
        results = json.loads(args.from_json.read_text())["scenes"]
        summary = summarise(results, MATRIX_APNEA_DELAY_S)
        print(markdown(summary, args.split))
        if args.plot is not None:
            plot(summary, args.plot, args.split)
        return 0
    seeds = list(DEV_SEEDS if args.split == "dev" else HELDOUT_SEEDS)
    if args.kind:
        seeds = [s for s in seeds if draw_scene(s).kind in args.kind]
    if args.distance:
        try:
            lo_m, hi_m = (float(v) for v in args.distance.split("-"))
        except ValueError:
            parser.error(f"--distance: expected LO-HI in metres (e.g. 1.75-2.5), got {args.distance!r}")
        seeds = [s for s in seeds if lo_m <= draw_scene(s).distance_m <= hi_m]
    seeds = seeds[: args.count] if args.count else seeds
    bar = Progress(f"matrix {args.split}", len(seeds))
    results = []
    width, height = (int(v) for v in args.size.lower().split("x"))
    mode = (width, height, args.fps)
    with multiprocessing.get_context("fork").Pool(args.jobs, _init, (args.set, mode)) as pool:
        for result in pool.imap_unordered(run_scene, seeds):
            results.append(result)
            bar.update(len(results))
    bar.close()
    results.sort(key=lambda r: r["spec"]["seed"])
    summary = summarise(results, MATRIX_APNEA_DELAY_S)
    out = args.out or RESULTS / f"matrix-{args.split}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"summary": summary, "overrides": args.set, "mode": f"{width}x{height}@{args.fps:g}",
                               "scenes": results}) + "\n")
    print(json.dumps({k: v for k, v in summary.items() if k != "rate_cells"}, indent=1))
    print(markdown(summary, args.split))
    if args.plot is not None:
        plot(summary, args.plot, args.split)
    return 0


if __name__ == "__main__":
    sys.exit(main())
