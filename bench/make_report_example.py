"""The example night report docs/station-report.png, from a synthetic night (deterministic).

Run: .venv/bin/python bench/make_report_example.py [--out docs/station-report.png]

The night is 12 h of one bed, 19:00 to 07:00 Europe/Paris (the report prints local time: TZ is
set here so that the picture is the same on any machine), in a throwaway SQLite journal: 1 s
vitals (compacted to 1 min means when older than keep_1s_s: the station's journal.keep_1s_h, 24 h
by default, keeps them all here) and the alarms the script below raises, with the nurses'
acknowledgements and verdicts.
tests/test_station_report.py fills its journals with fill_night() too.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from respmon.alerts.engine import CONDITIONS, iso_utc  # noqa: E402

TZ = "Europe/Paris"
NIGHT_S = 12 * 3600
KEEP_1S_S = 24 * 3600  # the station's default (journal.keep_1s_h): a night's report is all 1 s rows
SEED = 20270115
BATCH = 5000

# The night, in seconds from its start: (start_s, end_s, state, rate_bpm or None)
SCRIPT = [
    (0, 1500, "absent", None),  # 19:00 the bed is empty
    (1500, 1560, "motion", None),
    (1560, 9000, "breathing", 16.0),  # awake, then asleep
    (9000, 10200, "absent", None),  # 21:30 out of bed
    (10200, 14400, "breathing", 14.0),
    (14400, 15000, "lost", None),  # 23:00 camera lost
    (15000, 39600, "breathing", 13.0),  # apneas, a tachypnea, a silent bed scripted over it below
    (39600, 39780, "searching", None),  # 06:00 poor signal
    (39780, NIGHT_S, "breathing", 15.0),
]
APNEAS = [(22000, 24), (22600, 31), (23300, 42), (24100, 18), (25900, 27), (27400, 36), (31000, 22)]
TACHYPNEA = (30000, 31500, 27.0)
SILENT = (33000, 33900)  # no vitals reached the station

# (condition, start_s, end_s or None, acknowledgements [(operator, after_s)], verdict or None)
ALARMS = [
    ("nobody_in_bed", 9060, 10200, [("m.dubois", 95)], None),
    ("camera_lost", 14410, 15000, [("m.dubois", 40)],
     ("confirmed", None, "Camera knocked by the cleaning trolley; remounted and checked the view.")),
    ("central_apnea", 22600 + 20, 22600 + 31, [("a.martin", 14)], ("confirmed", None, "")),
    ("central_apnea", 23300 + 20, 23300 + 42, [("a.martin", 9), ("m.dubois", 30)],
     ("confirmed", None, "Desaturation to 88 % on the ward oximeter; patient repositioned, "
                         "physician informed at 01:35.")),
    ("central_apnea", 25900 + 20, 25900 + 27, [("a.martin", 21)],
     ("false_alarm", None, "Patient turned onto the side, chest out of view; breathing normally.")),
    ("central_apnea", 27400 + 20, 27400 + 36, [], None),
    ("tachypnea", 30060, 31500, [("a.martin", 180)], ("other_pattern", "cheyne_stokes", "Waxing and waning.")),
    ("bed_silent", 33000 + 5, 33900, [("m.dubois", 60)],
     ("confirmed", None, "Network switch restarted by IT (ticket 4711).")),
    ("low_signal_quality", 39620, 39780, [], None),
]


def night_start(end_wall: float) -> float:
    return end_wall - NIGHT_S


def vitals_rows(bed: str, start_wall: float, seed: int = SEED) -> list[tuple]:
    rng = np.random.default_rng(seed)
    seconds = np.arange(NIGHT_S)
    state = np.empty(NIGHT_S, dtype=object)
    rate = np.full(NIGHT_S, np.nan)
    for start_s, end_s, name, bpm in SCRIPT:
        state[start_s:end_s] = name
        if bpm is not None:
            rate[start_s:end_s] = bpm
    drift = 1.5 * np.sin(seconds / 2400.0) + np.cumsum(rng.normal(0, 0.02, NIGHT_S)).clip(-2, 2)
    rate = rate + drift + rng.normal(0, 0.6, NIGHT_S)
    start_s, end_s, bpm = TACHYPNEA
    rate[start_s:end_s] = bpm + rng.normal(0, 1.2, end_s - start_s)
    for s in rng.choice(np.arange(2000, NIGHT_S - 600), 40, replace=False):  # turning over
        state[s:s + 25] = np.where(state[s:s + 25] == "breathing", "motion", state[s:s + 25])
        rate[s:s + 25] = np.nan
    for start_s, length_s in APNEAS:
        state[start_s:start_s + length_s] = "breathing"
        state[start_s + 10:start_s + length_s] = "apnea"  # the state says so after the pause limit
        rate[start_s:start_s + length_s + 20] = np.nan  # and a rate again once breaths are counted
    keep = np.ones(NIGHT_S, dtype=bool)
    keep[SILENT[0]:SILENT[1]] = False
    jitter = rng.uniform(0.2, 0.35, NIGHT_S)
    return [(bed, float(start_wall + s + jitter[s]), None if np.isnan(rate[s]) else round(float(rate[s]), 1),
             str(state[s]), None if np.isnan(rate[s]) else 0.9) for s in seconds[keep]]


def alarm_events(bed: str, start_wall: float, number: int, condition: str, start_s: float,
                 end_s: float | None) -> list[tuple[dict, float]]:
    kind, priority = CONDITIONS.get(condition, ("technical", "medium"))
    alarm_id = f"{bed}-{number:04d}"
    onset_wall = start_wall + start_s
    onset = {"type": "alert", "event": "onset", "id": alarm_id, "bed": bed, "condition": condition,
             "kind": kind, "priority": priority, "t": start_s, "onset_t": start_s, "onset": iso_utc(onset_wall),
             "confidence": 1.0, "rr_bpm": None}
    events = [(onset, onset_wall)]
    if end_s is not None:
        events.append(({**onset, "event": "clear", "t": end_s, "duration_s": end_s - start_s},
                       start_wall + end_s))
    return events


def fill_night(journal, bed: str, end_wall: float, seed: int = SEED, keep_1s_s: float = KEEP_1S_S) -> None:
    """A 12 h night of `bed` ending at end_wall: vitals (1 s rows older than keep_1s_s compacted
    to 1 min means), alarms, acknowledgements and verdicts."""
    start_wall = night_start(end_wall)
    rows = vitals_rows(bed, start_wall, seed)
    for i in range(0, len(rows), BATCH):
        journal.add_vitals(rows[i:i + BATCH])
    for number, (condition, start_s, end_s, acks, verdict) in enumerate(ALARMS, start=1):
        add_alarm(journal, bed, start_wall, number, condition, start_s, end_s, acks, verdict)
    journal.compact(end_wall, keep_1s_s, 365 * 86400)


def add_alarm(journal, bed: str, start_wall: float, number: int, condition: str, start_s: float,
              end_s: float | None, acks=(), verdict=None) -> None:
    for event, t_wall in alarm_events(bed, start_wall, number, condition, start_s, end_s):
        journal.record_alert(bed, event, t_wall, t_wall + 0.05)
    alarm_id = f"{bed}-{number:04d}"
    last_s = start_s
    for operator, after_s in acks:
        last_s = start_s + after_s
        journal.record_action(start_wall + last_s, operator, "acknowledge", bed, alarm_id, {"audio_pause_s": 120})
    if verdict is not None:
        name, pattern, note = verdict
        operator = acks[-1][0] if acks else "a.martin"
        journal.record_action(start_wall + last_s + 300, operator, "verdict", bed, alarm_id,
                              {"verdict": name, "pattern": pattern, "note": note})


def example_end_wall() -> float:
    """07:00 local time on 15 January 2027 (TZ set first)."""
    return datetime(2027, 1, 15, 7, 0).timestamp()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "station-report.png")
    args = parser.parse_args(argv)
    os.environ["TZ"] = TZ
    time.tzset()
    from respmon.station.journal import open_journal
    from respmon.station.report import render_report

    end_wall = example_end_wall()
    with tempfile.TemporaryDirectory() as folder:
        journal = open_journal(f"sqlite:///{folder}/station.db")
        try:
            fill_night(journal, "bed-3", end_wall)
            started = time.perf_counter()
            fmt = args.out.suffix.lstrip(".").lower() or "png"
            data = render_report(journal, "bed-3", night_start(end_wall), end_wall, fmt, generated_wall=end_wall + 312)
            took_s = time.perf_counter() - started
        finally:
            journal.close()
    args.out.write_bytes(data)
    print(f"{args.out}: {len(data)} bytes, rendered in {took_s:.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
