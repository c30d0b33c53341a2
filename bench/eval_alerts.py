"""Alert timing and false alerts on synthetic depth recordings, through the replay path that
`respmon replay --publish` and the daemon share (Monitor -> classifier -> alert engine).

Run: .venv/bin/python bench/eval_alerts.py [--seeds 5] [--first-seed 1] [--set alerts.KEY=VALUE ...]

For each scenario and seed a 212x120, 6 fps recording is generated, replayed, and its alert
events compared with the truth: onset latency from the pattern's start (for Biot's and
Cheyne-Stokes also in cycles, the cycle measured from the truth's pauses), whether the apnea
cleared after breathing resumed, and every alert that should not have been raised.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import tempfile
from pathlib import Path

from respmon.config import check_value, default_config, SCHEMA
from respmon.daemon.bedside import Bedside
from respmon.progress import Progress
from respmon.replay import load_classifier, replay_recording, with_alerts
from respmon.sim.recording import write_synthetic_recording
from respmon.sim.script import parse_script
from respmon.sim.truth import cycle_s, pauses_s

PATTERN_START_S = 90.0
# A central_apnea onset is right when the truth has a pause at least this long under it (the
# alert times from the last breath's peak, a second or two before the chest goes still).
APNEA_SLACK_S = 3.0
SCENARIOS = {
    # name: (script, the alert it must raise or None)
    "eupnea+motion 10 min": ("eupnea:120,motion:4,eupnea:120,motion:4,eupnea:120,motion:4,eupnea:120,motion:4,"
                             "eupnea:104", None),
    "central apnea 30 s": ("eupnea:90,central_apnea:30,eupnea:60", "central_apnea"),
    "tachypnea": ("eupnea:90,tachypnea:180", "tachypnea"),
    "bradypnea": ("eupnea:90,bradypnea:180", "bradypnea"),
    "cheyne_stokes": ("eupnea:90,cheyne_stokes:300", "cheyne_stokes"),
    "biots": ("eupnea:90,biots:240", "biots"),
}


def run_once(folder: Path, name: str, script: str, seed: int, config, classifier) -> tuple[list[dict], dict]:
    path = folder / f"{name.replace(' ', '_').replace('+', '_')}-{seed}.db3"
    write_synthetic_recording(path, parse_script(script), width=212, height=120, fps=6, distance_m=1.2,
                              seed=seed, script=script)
    truth = json.loads(path.with_name(path.stem + ".truth.json").read_text())
    bedside = Bedside(config, classifier.version)
    events = [e for e in with_alerts(replay_recording(path, config, classifier=classifier), bedside)
              if e["type"] == "alert"]
    path.unlink()
    return events, truth


def _justified(onset: dict, truth: dict, config) -> bool:
    """A central_apnea onset over a real pause of the truth (periodic breathing has them)."""
    if onset["condition"] != "central_apnea":
        return False
    need_s = config.alerts.apnea_delay_s - APNEA_SLACK_S
    return any(start - APNEA_SLACK_S <= onset["t"] <= end + APNEA_SLACK_S and end - start >= need_s
               for start, end in pauses_s(truth, 0.0, need_s))


def _override(config, assignment: str) -> None:
    key, _, text = assignment.partition("=")
    *sections, leaf = key.split(".")
    node, schema = config, SCHEMA
    for section in sections:
        node, schema = getattr(node, section), schema[section]
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        value = text  # a bare string, such as a model's path
    setattr(node, leaf, check_value(schema[leaf], value, key))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--first-seed", type=int, default=1)
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE")
    parser.add_argument("--only", action="append", default=None, metavar="SCENARIO",
                        help=f"run only these scenarios: {', '.join(SCENARIOS)}")
    args = parser.parse_args()
    scenarios = {k: v for k, v in SCENARIOS.items() if args.only is None or k in args.only}
    logging.getLogger("respmon.alerts").setLevel(logging.ERROR)  # the table says it all
    config = default_config()
    for assignment in args.set:
        _override(config, assignment)
    classifier = load_classifier(config)
    rows = []
    bar = Progress("alert scenarios", len(scenarios) * args.seeds)
    done = 0
    with tempfile.TemporaryDirectory() as tmp:
        for name, (script, expected) in scenarios.items():
            for seed in range(args.first_seed, args.first_seed + args.seeds):
                events, truth = run_once(Path(tmp), name, script, seed, config, classifier)
                onsets = [e for e in events if e["event"] == "onset"]
                hit = next((e for e in onsets if e["condition"] == expected), None)
                latency = None if hit is None else hit["t"] - PATTERN_START_S
                cycle = cycle_s(truth, PATTERN_START_S) if expected in ("biots", "cheyne_stokes") else None
                cleared = None
                if expected == "central_apnea" and hit is not None:
                    clear = next((e for e in events if e["event"] == "clear" and e["id"] == hit["id"]), None)
                    cleared = None if clear is None else clear["t"] - (PATTERN_START_S + 30)
                wrong = sorted({e["condition"] for e in onsets if not _justified(e, truth, config)} - {expected})
                rows.append((name, seed, latency, cycle, cleared, wrong))
                done += 1
                bar.update(done)
    bar.close()
    print("| scenario | seed | onset after start (s) | cycle (s) | onset (cycles) | clear after breathing resumed (s) | other alerts |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name, seed, latency, cycle, cleared, wrong in rows:
        cycles = f"{latency / cycle:.2f}" if latency is not None and cycle else ""
        print(f"| {name} | {seed} | {'' if latency is None else f'{latency:.0f}'} | {'' if cycle is None else f'{cycle:.0f}'}"
              f" | {cycles} | {'' if cleared is None else f'{cleared:.0f}'} | {', '.join(wrong) or '-'} |")
    print()
    for name, (_, expected) in scenarios.items():
        mine = [r for r in rows if r[0] == name]
        hits = [r[2] for r in mine if r[2] is not None]
        false = sum(1 for r in mine if r[5])
        summary = f"{name}: {false}/{len(mine)} runs with an unexpected alert"
        if expected:
            summary += f"; raised in {len(hits)}/{len(mine)}"
            if hits:
                summary += f", onset median {statistics.median(hits):.0f} s after the start (max {max(hits):.0f})"
            in_cycles = [r[2] / r[3] for r in mine if r[2] is not None and r[3]]
            if in_cycles:
                summary += f", max {max(in_cycles):.2f} cycles"
        print(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
