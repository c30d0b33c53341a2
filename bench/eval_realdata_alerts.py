"""Alerts on real breathing: every real recording in ../shared/data replayed through the daemon's
path (Monitor -> classifier -> alert engine, `respmon replay` with the default config), and every
physiological alert it raised set against what the reference calls for.

Run: .venv/bin/python bench/eval_realdata_alerts.py [--set classifier.model=CANDIDATE.pt]

Recordings: the 48 rr-realsense D435 chest-depth files (8 subjects sitting, paced at 10 or 15 bpm,
1-3 m; reference: the belt's rate for the same subject and condition) and the three NeuroKit2 belt
recordings (RSP at 100 Hz, quiet adults; no reference rate). What the reference calls for: a
bradypnea alert where the belt's rate is below alerts.bradypnea_below_bpm, a tachypnea alert where
it is above alerts.tachypnea_above_bpm, in a recording long enough to raise one (the classifier's
60 s window and alerts.rate_validation_s; the rr-realsense files, about 70 s, are not); nothing
else. Without a reference rate (NeuroKit2) no alert is called for, and a rate alert is listed with
the median rate respmon measured so that the reader can judge it. The data is read, never tuned on; without it the script says so and exits 0.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from respmon.config import default_config
from respmon.daemon.bedside import Bedside
from respmon.replay import load_classifier, replay_waveform, with_alerts
from respmon.signal.analyzer import CLASSIFIER_WINDOW_S

sys.path.insert(0, str(Path(__file__).parent))
from eval_alerts import _override  # noqa: E402
from eval_realdata import DATA, DISPLACEMENT, RR_DIR, belt_rates  # noqa: E402

PHYSIOLOGICAL = ("central_apnea", "tachypnea", "bradypnea", "biots", "cheyne_stokes")
NEUROKIT = (("bio_resting_5min_100hz.csv", "RSP"), ("bio_resting_8min_100hz.csv", "RSP"),
            ("bio_eventrelated_100hz.csv", "RSP"))


def replay_alerts(path: Path, column: str, rate_hz: float | None, config, classifier
                  ) -> tuple[list[dict], float | None, float]:
    """(physiological onsets, median rate, seconds) of one waveform through the daemon's path."""
    bedside = Bedside(config, classifier.version)
    onsets, median, seconds = [], None, 0.0
    for line in with_alerts(replay_waveform(path, config, column, rate_hz, classifier=classifier), bedside):
        if line["type"] == "alert" and line["event"] == "onset" and line["condition"] in PHYSIOLOGICAL:
            onsets.append({"condition": line["condition"], "t": line["t"], "rr_bpm": line["rr_bpm"]})
        elif line["type"] == "window":
            seconds = float(line["t"])
        elif line["type"] == "summary":
            median = line["median_rr_bpm"]
    bedside.close()
    return onsets, median, seconds


def called_for(condition: str, reference_bpm: float | None, alerts_cfg, seconds: float) -> bool:
    if reference_bpm is None or seconds < CLASSIFIER_WINDOW_S + alerts_cfg.rate_validation_s:
        return False
    if condition == "bradypnea":
        return reference_bpm < alerts_cfg.bradypnea_below_bpm
    if condition == "tachypnea":
        return reference_bpm > alerts_cfg.tachypnea_above_bpm
    return False


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE")
    args = parser.parse_args()
    if not DATA.exists():
        print(f"note: {DATA} not found: nothing to evaluate", file=sys.stderr)
        return 0
    logging.getLogger("respmon.alerts").setLevel(logging.ERROR)
    config = default_config()
    for assignment in args.set:
        _override(config, assignment)
    classifier = load_classifier(config)
    belt = belt_rates(RR_DIR)
    recordings = []
    for path in sorted(RR_DIR.glob("*_C.csv")):
        match = DISPLACEMENT.match(path.name)
        if match:
            bpm, metres, subject = (int(g) for g in match.groups())
            recordings.append((path, "displacement", None, belt.get((bpm, metres, subject))))
    for name, column in NEUROKIT:
        if (DATA / "neurokit" / name).exists():
            recordings.append((DATA / "neurokit" / name, column, 100.0, None))
    unexpected, expected, missed_rate_alerts = [], 0, 0
    print(f"model {classifier.version}; {len(recordings)} recordings\n")
    print("| recording | reference bpm | respmon median bpm | physiological alerts (onset s) | called for |")
    print("| --- | --- | --- | --- | --- |")
    for path, column, rate_hz, reference in recordings:
        onsets, median, seconds = replay_alerts(path, column, rate_hz, config, classifier)
        verdicts = [called_for(o["condition"], reference, config.alerts, seconds) for o in onsets]
        expected += sum(verdicts)
        unexpected += [(path.name, o) for o, ok in zip(onsets, verdicts) if not ok]
        wants = [c for c in ("bradypnea", "tachypnea") if called_for(c, reference, config.alerts, seconds)]
        missed_rate_alerts += sum(1 for c in wants if not any(o["condition"] == c for o in onsets))
        listed = ", ".join(f"{o['condition']} ({o['t']})" for o in onsets) or "none"
        ref = "—" if reference is None else f"{reference:.1f}"
        print(f"| {path.name} | {ref} | {median if median is not None else '—'} | {listed} | "
              f"{', '.join(wants) or 'nothing'} |")
    print(f"\nphysiological alerts the reference calls for and raised: {expected}; "
          f"called for and not raised: {missed_rate_alerts}; not called for: {len(unexpected)}")
    for name, onset in unexpected:
        print(f"  not called for: {name}: {onset['condition']} at {onset['t']} s (rate {onset['rr_bpm']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
