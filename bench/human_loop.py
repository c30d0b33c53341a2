"""The human in the loop on a simulated ward (issue 13): nights through the monitoring path, the
alarms they raise into a station journal, operators' verdicts, and false alarms per hour scored
for any model on the same nights.

A night runs through the Monitor once (its signal stage does not depend on the classifier), with a
stand-in that keeps every 60 s window the classifier would have seen; any model then scores those
windows in batches, and the alert engine runs over the windows with that model's patterns. The
engine's numbers are what the daemon's would be: its pattern fields come from the same
`describe` of the same probabilities. Each onset carries its 60 s as the daemon's does (the
window the classifier saw that second).

The ward is configured as some sites would: `cheyne_stokes_sustain_s` of WARD_CS_SUSTAIN_S (the
shipped default is 60 s, which already holds back most of the misreads: README, "From operators' verdicts to a better model").
Used by tests/test_human_loop.py.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Callable

import numpy as np

from respmon.alerts.engine import PHYSIOLOGICAL, AlertEngine
from respmon.classify.infer import describe
from respmon.monitor import Monitor

RATE_HZ = 10.0
WARD_CS_SUSTAIN_S = 20.0
_UNIFORM = np.full(7, 1.0 / 7.0)


class _KeepWindows:
    """Stands in for the classifier inside the Monitor: keeps what it is shown."""

    version = "none"

    def __init__(self):
        self.inputs: list[np.ndarray] = []

    def classify_signal(self, samples: np.ndarray, rate_hz: float) -> np.ndarray:
        assert rate_hz == RATE_HZ and len(samples) == 600
        self.inputs.append(np.asarray(samples, dtype=np.float32).copy())
        return _UNIFORM


@dataclass
class Night:
    bed: str
    truth: str  # the breathing style the bed simulates (what an operator would see)
    windows: list[dict]  # the Monitor's per-second windows, pattern fields not yet scored
    classified: np.ndarray  # indices into windows of the seconds the classifier was asked about
    inputs: np.ndarray  # (len(classified), 600): what it would have seen, in order
    signal_mm: np.ndarray  # the night's signal as fed, 10 Hz

    @property
    def hours(self) -> float:
        return len(self.windows) / 3600.0


def night_through_monitor(bed: str, truth: str, signal_mm: np.ndarray, config: SimpleNamespace) -> Night:
    keep = _KeepWindows()
    monitor = Monitor(config, classifier=keep)
    windows: list[dict] = []
    for i, value in enumerate(signal_mm):
        windows += [w for w in monitor.sample(i / RATE_HZ, float(value)) if w["type"] == "window"]
    windows += [w for w in monitor.finish(len(signal_mm) / RATE_HZ) if w["type"] == "window"]
    classified = np.array([i for i, w in enumerate(windows) if w.get("probs") is not None], dtype=int)
    assert len(classified) == len(keep.inputs)
    inputs = np.stack(keep.inputs) if keep.inputs else np.zeros((0, 600), np.float32)
    return Night(bed, truth, windows, classified, inputs, np.asarray(signal_mm, dtype=float))


def simulated_night(bed: str, truth: str, seed: int, duration_s: float, config: SimpleNamespace) -> Night:
    """A bed's night: REM-sleep breathing (sim/sleep_styles.py) when truth is eupnea, else the
    physiological RSM's `truth` pattern throughout; through the Monitor."""
    from respmon.sim.rsm_physiological import physiological_signal
    from respmon.sim.sleep_styles import rem_sleep_breathing

    rng = np.random.default_rng(seed)
    x = (rem_sleep_breathing(rng, duration_s) if truth == "eupnea"
         else physiological_signal(truth, rng, duration_s=duration_s)).displacement_mm
    return night_through_monitor(bed, truth, x, config)


def simulated_nights(specs: list[tuple[str, str, int, float]], config: SimpleNamespace, workers: int = 2,
                     done: Callable[[int], None] | None = None) -> list[Night]:
    """simulated_night for each (bed, truth, seed, duration_s), in that order, `workers` at a time
    (fresh processes: a night does not depend on which worker ran it)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [pool.submit(simulated_night, *spec, config) for spec in specs]
        nights = []
        for future in futures:
            nights.append(future.result())
            if done is not None:
                done(len(nights))
    return nights


def scored(night: Night, classifier, batch: int = 512) -> list[dict]:
    """The night's windows with `classifier`'s pattern, confidence and probabilities."""
    probs = np.concatenate([classifier.probabilities(night.inputs[i:i + batch])
                            for i in range(0, len(night.inputs), batch)] or [np.zeros((0, 7))])
    windows = copy.deepcopy(night.windows)
    for index, p in zip(night.classified, probs):
        windows[index].update(describe(p))
    return windows


def onsets(night: Night, windows: list[dict], alerts_config: SimpleNamespace, version: str,
           start_wall: float) -> list[dict]:
    """The alert engine's onsets over the scored night, each with its 60 s signal and wall time."""
    signal_at = {int(i): x for i, x in zip(night.classified, night.inputs)}
    clock = {"t": 0.0}
    counter = iter(range(1_000_000))
    engine = AlertEngine(alerts_config, night.bed, version, wall_clock=lambda: start_wall + clock["t"],
                         new_id=lambda: f"{night.bed}-{next(counter):04d}")
    found = []
    for index, window in enumerate(windows):
        clock["t"] = float(window["t"])
        for event in engine.observe(window):
            if event["event"] != "onset":
                continue
            # the window the classifier saw; before there was one, the under-a-minute there was
            end = int(round(float(window["t"]) * RATE_HZ))
            x = signal_at.get(index, night.signal_mm[max(0, end - 600):end])
            event["signal"] = {"rate_hz": RATE_HZ, "end_t": float(window["t"]),
                               "mm": [round(float(v), 2) for v in x]}
            found.append(event)
    return found


def false_alarms(night: Night, events: list[dict]) -> list[dict]:
    """The physiological alarms an operator who knows the bed's breathing would call false."""
    return [e for e in events if e["condition"] in PHYSIOLOGICAL and not _true(night.truth, e["condition"])]


def _true(truth: str, condition: str) -> bool:
    if truth == "cheyne_stokes":  # its apneas are apneas too
        return condition in ("cheyne_stokes", "central_apnea")
    return truth == condition


def verdict_for(night: Night, event: dict) -> dict:
    """What the scripted operator says of an alarm on this bed, as docs/labels.md advises: the
    label is the pattern the 60 s show. An apnea alarm on a bed in Cheyne-Stokes respiration is
    right, but its window shows Cheyne-Stokes (a central_apnea label would teach the model to call
    Cheyne-Stokes central apnea): other_pattern cheyne_stokes."""
    if night.truth == "cheyne_stokes" and event["condition"] == "central_apnea":
        return {"verdict": "other_pattern", "pattern": "cheyne_stokes", "note": "the apnea of a Cheyne-Stokes cycle"}
    if _true(night.truth, event["condition"]):
        return {"verdict": "confirmed", "pattern": None, "note": ""}
    if night.truth == "eupnea":
        return {"verdict": "false_alarm", "pattern": None, "note": "irregular sleep breathing, no pauses"}
    return {"verdict": "other_pattern", "pattern": night.truth, "note": ""}


def journal_night(journal, night: Night, events: list[dict], start_wall: float) -> None:
    """What the station would have journaled of this night: the onsets and 1 s vitals."""
    for event in events:
        wall = start_wall + float(event["t"])
        journal.record_alert(night.bed, event, wall, wall + 0.05)
    journal.add_vitals([(night.bed, start_wall + float(w["t"]), w.get("rr_bpm"), w["state"], w.get("quality"))
                        for w in night.windows])


def judge(journal, night: Night, events: list[dict], start_wall: float, operator: str = "nurse") -> int:
    """The scripted operator's verdicts, a minute after each onset; how many were given."""
    for event in events:
        if event["condition"] not in PHYSIOLOGICAL:
            continue
        journal.record_action(start_wall + float(event["t"]) + 60.0, operator, "verdict", night.bed, event["id"],
                              verdict_for(night, event))
    return sum(e["condition"] in PHYSIOLOGICAL for e in events)


# ---- the bench: `.venv/bin/python bench/human_loop.py` -----------------------------------------------------
# Seeds: the ward's training nights 610000+, the unseen nights 650000+ (neither range is used
# anywhere else); the fine-tune's seed is classifier.seed's default.
TRAIN_SEED, UNSEEN_SEED = 610000, 650000


def wrong_pattern_share(night: Night, windows: list[dict]) -> float:
    """Share of the night's classified seconds whose published pattern is not the bed's breathing."""
    patterns = [windows[i].get("pattern") for i in night.classified]
    return sum(p != night.truth for p in patterns) / max(1, len(patterns))


def main(argv=None) -> int:
    import argparse
    import json
    import sys
    import tempfile
    from datetime import datetime
    from pathlib import Path

    from respmon.classify.infer import PatternClassifier
    from respmon.classify.model_io import DEFAULT_MODEL
    from respmon.cli import main as respmon
    from respmon.config import load_config
    from respmon.progress import Progress
    from respmon.station.journal import open_journal
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--beds", type=int, default=6, help="REM-sleep beds in the ward and in the unseen set")
    parser.add_argument("--hours", type=float, default=1.0, help="each REM bed's night")
    parser.add_argument("--cs-beds", type=int, default=2, help="Cheyne-Stokes beds in each set (30 min each)")
    parser.add_argument("--epochs", type=int, default=None, help="respmon train --finetune's (default: its own)")
    parser.add_argument("--rsm-per-class", type=int, default=None, help="respmon train --finetune's (default: its own)")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "human_loop")
    args = parser.parse_args(argv)

    def ward(seed0, prefix):
        specs = [(f"{prefix}rem-{i + 1}", "eupnea", seed0 + i, args.hours * 3600) for i in range(args.beds)]
        specs += [(f"{prefix}cs-{i + 1}", "cheyne_stokes", seed0 + 100 + i, 1800.0) for i in range(args.cs_beds)]
        bar = Progress(f"{prefix or 'ward '}nights", len(specs))
        out = simulated_nights(specs, config, done=bar.update)
        bar.close()
        return out

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        config_path = tmp / "ward.yaml"
        config_path.write_text(f"alerts:\n  cheyne_stokes_sustain_s: {WARD_CS_SUSTAIN_S}\n", encoding="utf-8")
        config, shipped_config = load_config(config_path), load_config(None)
        shipped = PatternClassifier(None)
        start_wall = datetime.now().timestamp() - 2 * 3600 - args.hours * 3600
        journal = open_journal(f"sqlite:///{tmp / 'station.db'}")
        train = ward(TRAIN_SEED, "")
        judged = 0
        for n in train:
            events = onsets(n, scored(n, shipped), config.alerts, shipped.version, start_wall)
            journal_night(journal, n, events, start_wall)
            judged += judge(journal, n, events, start_wall)
        journal.close()
        labels, candidate = tmp / "labels.csv", tmp / "candidate.pt"
        steps = [["labels", "export", "--journal", str(tmp / "station.db"), "--since", "48h", "--out", str(labels)],
                 ["train", "--finetune", str(labels), "--from", str(DEFAULT_MODEL), "--out", str(candidate),
                  *(["--epochs", str(args.epochs)] if args.epochs else []),
                  *(["--rsm-per-class", str(args.rsm_per_class)] if args.rsm_per_class else [])],
                 ["evaluate", "--compare", str(DEFAULT_MODEL), str(candidate), "--data", str(labels)]]
        codes = []
        for step in steps:
            print("$ respmon " + " ".join(step), file=sys.stderr, flush=True)
            codes.append(respmon(step))
        if codes[:2] != [0, 0]:
            print(f"the loop stopped: exit codes {codes}", file=sys.stderr)
            return 1
        tuned = PatternClassifier(candidate)
        unseen = ward(UNSEEN_SEED, "unseen-")
        rem = [n for n in unseen if n.truth == "eupnea"]
        result = {"beds": args.beds, "hours_per_bed": args.hours, "cs_beds": args.cs_beds,
                  "finetune": {"epochs": args.epochs or "default", "rsm_per_class": args.rsm_per_class or "default"},
                  "alarms_judged": judged, "gate_exit": codes[2],
                  "models": {"shipped": shipped.version, "fine_tuned": tuned.version}}
        for name, cfg in (("ward", config), ("shipped_defaults", shipped_config)):
            row = {}
            for label, model in (("shipped", shipped), ("fine_tuned", tuned)):
                events = {n.bed: onsets(n, scored(n, model), cfg.alerts, model.version, start_wall) for n in unseen}
                hours = sum(n.hours for n in rem)
                row[label] = {
                    "false_alarms_per_hour": round(sum(len(false_alarms(n, events[n.bed])) for n in rem) / hours, 2),
                    "cheyne_stokes_beds_alarmed": sum(any(e["condition"] == "cheyne_stokes" for e in events[n.bed])
                                                      for n in unseen if n.truth == "cheyne_stokes"),
                    "rem_wrong_pattern_share": round(float(np.mean([wrong_pattern_share(n, scored(n, model))
                                                                    for n in rem])), 3)}
            result[f"cheyne_stokes_sustain_{cfg.alerts.cheyne_stokes_sustain_s:g}s"] = row
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))
    _plot(result, args.out.with_suffix(".png"))
    return 0


def _plot(result: dict, path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = [k for k in result if k.startswith("cheyne_stokes_sustain_")]
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    for ax, what, title in ((axes[0], "false_alarms_per_hour", "false alarms per hour, unseen REM nights"),
                            (axes[1], "rem_wrong_pattern_share", "seconds with a wrong pattern, unseen REM")):
        for j, model in enumerate(("shipped", "fine_tuned")):
            ax.bar(np.arange(len(keys)) + 0.38 * j, [result[k][model][what] for k in keys], 0.38,
                   label=model.replace("_", "-"))
        ax.set_xticks(np.arange(len(keys)) + 0.19, [k.replace("cheyne_stokes_sustain_", "CS sustain ") for k in keys])
        ax.set_title(title, fontsize=9)
    axes[0].legend(fontsize=8)
    settings = result.get("finetune", {})
    fig.suptitle(f"fine-tune epochs {settings.get('epochs', 'default')}, RSM per class "
                 f"{settings.get('rsm_per_class', 'default')}: the gate "
                 f"{'accepted' if result['gate_exit'] == 0 else 'refused'} the candidate", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    raise SystemExit(main())
