"""Where the pause judgement stands against the best detector there is, on signals whose
detectability is known: how soon it declares an apnea, and how often a hypopnea passes for one.

Run: .venv/bin/python bench/pause_tradeoff.py [--seeds 20] [--sigma 0.4 0.7 1.0]

Each trial feeds the BreathingAnalyzer (as the Monitor does, one judgement a second) 60 s of
breathing 3.8 mm deep every 4.2 s, breath periods varying by 10 % from breath to breath, then
either a central apnea (the chest still) or a hypopnea (breaths at 35 % or 45 % of the depth,
the same rhythm), all under white noise of sigma mm per 10 Hz sample. For each noise level it
prints the matched filter's d' for a 30 % hypopnea over 15 s (apnea_detectability's measure:
d' >= 4.7 decides 2 % / 2 % without knowing the phase), the seconds from the apnea's start to
the first "apnea" judgement (the pause limit is 10 s), and the hypopnea trials with a false pause
and with one that lasted 15 s or 20 s (what an alert delay of that length would turn into a false
central_apnea). Seeds 8000 and up: no unit test or tuning used them.
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from respmon.progress import Progress
from respmon.signal.analyzer import BreathingAnalyzer

RATE_HZ = 10.0
DEPTH_MM, INTERVAL_S, PERIOD_CV = 3.8, 4.2, 0.1
BREATHING_S, TOTAL_S = 60.0, 130.0
APNEA_MIN_S = 10.0
HYPOPNEA_SHARES = (0.35, 0.45)
DECISION_S = 15.0
FIRST_SEED = 8000


def breathing_then(share: float, sigma_mm: float, seed: int) -> np.ndarray:
    """BREATHING_S of breathing, then `share` of its depth (0: an apnea), plus white noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(0.0, TOTAL_S, 1.0 / RATE_HZ)
    edges = [-rng.uniform(0.0, INTERVAL_S)]
    while len(edges) < 2 or edges[-1] <= TOTAL_S:
        edges.append(edges[-1] + INTERVAL_S * max(0.5, 1.0 + PERIOD_CV * rng.standard_normal()))
    edges = np.array(edges)
    k = np.searchsorted(edges, t, side="right") - 1
    phase = 2.0 * np.pi * (t - edges[k]) / (edges[k + 1] - edges[k])
    depth = np.where(t < BREATHING_S, 1.0, share)
    return DEPTH_MM / 2.0 * depth * np.sin(phase) + rng.normal(0.0, sigma_mm, len(t))


def judgements(x: np.ndarray) -> list:
    """The analyzer's judgement at the end of every second of x."""
    analyzer = BreathingAnalyzer(RATE_HZ, 30.0, 60.0, 0.5, APNEA_MIN_S)
    out = []
    for i, value in enumerate(x):
        analyzer.add(float(value))
        if (i + 1) % int(RATE_HZ) == 0:
            out.append(analyzer.analyze())
    return out


def dprime_hypopnea(sigma_mm: float) -> float:
    """The matched filter's d' for a 30 % hypopnea over DECISION_S in this white noise."""
    hypopnea_power = 0.3**2 * (DEPTH_MM / 2.0) ** 2 / 2.0
    psd = 2.0 * sigma_mm**2 / RATE_HZ  # one-sided
    return float(np.sqrt(2.0 * hypopnea_power * DECISION_S / psd))


def trial(share: float, sigma_mm: float, seed: int) -> dict:
    after = judgements(breathing_then(share, sigma_mm, seed))[int(BREATHING_S):]
    declared = next((i + 1 for i, a in enumerate(after) if a.breathing is False), None)
    longest = max((a.seconds_since_breath for a in after if a.breathing is False), default=0.0)
    return {"declared_s": declared, "longest_false_pause_s": longest}


def level(sigma_mm: float, seeds: int, tick) -> dict:
    apneas = []
    for seed in range(FIRST_SEED, FIRST_SEED + seeds):
        apneas.append(trial(0.0, sigma_mm, seed)["declared_s"])
        tick()
    declared = sorted(d for d in apneas if d is not None)
    row = {"sigma_mm": sigma_mm, "dprime_30pct_hypopnea_15s": round(dprime_hypopnea(sigma_mm), 2),
           "apnea_declared_s": {"median": float(np.median(declared)) if declared else None,
                                "max": max(declared, default=None), "never": len(apneas) - len(declared)}}
    for share in HYPOPNEA_SHARES:
        longest = []
        for seed in range(FIRST_SEED, FIRST_SEED + seeds):
            longest.append(trial(share, sigma_mm, seed)["longest_false_pause_s"])
            tick()
        row[f"hypopnea_{round(share * 100)}pct"] = {
            "trials": seeds, "with_a_false_pause": sum(s > 0 for s in longest),
            "false_pause_15s_or_more": sum(s >= 15.0 for s in longest),
            "false_pause_20s_or_more": sum(s >= 20.0 for s in longest)}
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20, help="trials per condition (1-1000)")
    parser.add_argument("--sigma", type=float, nargs="+", default=[0.4, 0.7, 1.0],
                        help="white noise, mm per 10 Hz sample (0.01-5)")
    args = parser.parse_args()
    if not 1 <= args.seeds <= 1000 or not all(0.01 <= s <= 5.0 for s in args.sigma):
        parser.error("--seeds must be 1-1000 and every --sigma 0.01-5 mm")
    progress = Progress("trials", len(args.sigma) * args.seeds * (1 + len(HYPOPNEA_SHARES)))
    done = [0]

    def tick():
        done[0] += 1
        progress.update(done[0])

    rows = [level(sigma, args.seeds, tick) for sigma in args.sigma]
    progress.close()
    print(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
