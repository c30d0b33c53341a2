"""How well any detector could tell a scene's apnea from a hypopnea, on the signal the pipeline
extracted: the physics bound behind the matrix's far apneas.

Run: .venv/bin/python bench/apnea_detectability.py RESULTS.json [--markdown] [--plot PNG]
     (RESULTS.json: a bench/eval_matrix.py run; its scenes keep the 10 Hz chest signal)

A central apnea must be alerted and a hypopnea (breaths at 30-50 % of the depth before it, the
matrix's breathing scenes) must not. Both are judged on the same signal: the chest's motion in
the effort band around the breathing frequency, where the heartbeat and the depth noise leave
power of their own. For every apnea scene this measures, on the signal the Monitor fed the
classifier (nothing of the detector's own state):

- the breathing's power in the effort band over the 30 s before the apnea, less the band's power
  during the apnea (what the chest shows when there is no effort: noise, drift, heartbeat);
- the band's power during the apnea (its first 2 s left out: the band-pass rings on the last
  breath), and the apnea's power spectral density S(f0) at the breathing frequency;

and from them, for a 30 % hypopnea of power P_h against that noise over the time the alarm may
take (T, the delay), the deflection d' of the best detector there is: a matched filter that knows
the breathing's frequency and phase (d'^2 = 2 P_h T / S(f0); it holds for coloured noise such as
the heartbeat too, and its statistic is Gaussian with the same spread under both hypotheses, so
d' sets both error rates). A detector that misses at most 2 % of apneas and raises at
most 2 % false apneas in a hypopnea needs d' >= 2 * 2.054 = 4.1 per decision. Where even the
ideal one has d' < 4.1, no signal-stage change can meet both of issue 10's apnea criteria: the
monitor can only say that it cannot see an apnea there (`low_signal_quality`).

No pause detector knows the phase: a hypopnea's breaths are not in step with the breaths before
the apnea (the breath period varies by 5-20 % from breath to breath, so the phase is lost within
a few breaths). The best detector that knows the frequency but not the phase measures the
energy at that frequency (both quadratures), whose statistic is chi-squared with 2 degrees of
freedom under noise alone and non-central with the matched filter's d'^2 as non-centrality
under a hypopnea: for 2 % / 2 % it needs d' >= 4.7 (REQUIRED_DPRIME_PHASE_UNKNOWN). A real
detector, which knows the frequency only roughly and decides once a second, needs more still.
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from respmon.signal import rate as rsp
from respmon.signal.pauses import HYPOPNEA_FRACTION, effort_band_hz

ERROR_RATE = 0.02  # misses of apneas and false apneas in a hypopnea, each, per decision
# d' a single decision needs for at most 2 % misses and 2 % false alarms (two one-sided 2.054 sigma).
REQUIRED_DPRIME = 2.0 * 2.054


def required_dprime_phase_unknown(error_rate: float = ERROR_RATE) -> float:
    """The matched filter's d' at which the energy at the breathing frequency (phase unknown)
    tells a hypopnea from noise with error_rate both ways: the non-centrality lambda = d'^2 at
    which the non-central chi-squared (2 degrees of freedom) has error_rate below the central
    one's 1 - error_rate quantile."""
    from scipy import optimize, stats

    level = stats.chi2.ppf(1.0 - error_rate, 2)
    lam = optimize.brentq(lambda lam: stats.ncx2.ppf(error_rate, 2, lam) - level, 1e-6, 1e4)
    return float(np.sqrt(lam))


REQUIRED_DPRIME_PHASE_UNKNOWN = required_dprime_phase_unknown()  # 4.71
BREATHING_BEFORE_S = 30.0  # the breathing the apnea is measured against
RING_S = 2.0  # the effort band's ringing on the last breath, left out of the apnea's noise
MIN_APNEA_NOISE_S = 8.0  # apneas shorter than this (after the ringing) give no noise figure
MARK_TOLERANCE = 3  # samples: window marks a second apart land 10 +- 1 samples apart (resampling)


@dataclass(frozen=True)
class Detectability:
    breath_power_mm2: float  # the breathing's power in the effort band, noise removed
    noise_power_mm2: float  # the effort band's power while there is no effort
    noise_psd_mm2_per_hz: float  # the no-effort signal's power spectral density at the breathing frequency
    band_hz: tuple[float, float]
    snr_hypopnea: float  # a HYPOPNEA_FRACTION hypopnea's power over the band noise's
    dprime_ideal: float  # the matched filter's over decision_s

    @property
    def decidable(self) -> bool:
        """By the ideal detector, which knows the breathing's frequency and phase."""
        return self.dprime_ideal >= REQUIRED_DPRIME

    @property
    def decidable_without_phase(self) -> bool:
        """By the best detector that knows the breathing's frequency but not its phase."""
        return self.dprime_ideal >= REQUIRED_DPRIME_PHASE_UNKNOWN


def apnea_detectability(x: np.ndarray, rate_hz: float, breathing_bpm: float, breathing: slice, apnea: slice,
                        decision_s: float) -> Detectability | None:
    """The detectability of the apnea x[apnea] against a hypopnea of the breathing x[breathing].

    x: the chest signal (mm) at rate_hz, with the breathing before the apnea and the apnea in it;
    breathing_bpm: the breathing's true rate (the effort band is centred on it, as the pause
    judgement centres its band on the rate it learnt); decision_s: the time the alarm may take.
    None where the apnea leaves too little signal to measure its noise.
    """
    band = effort_band_hz(60.0 / breathing_bpm, rate_hz)
    ring = int(round(RING_S * rate_hz))
    if apnea.stop - apnea.start - ring < MIN_APNEA_NOISE_S * rate_hz or breathing.stop - breathing.start < 4 * rate_hz:
        return None
    x = np.asarray(x, dtype=float)
    # Each part filtered on its own: over the whole signal, the band-pass would ring the last
    # breaths into the apnea's noise (for tens of seconds at slow rates).
    quiet = x[apnea.start + ring:apnea.stop]
    noise = float(np.mean(rsp.band_pass(quiet, rate_hz, *band, padtype="even") ** 2))
    breath = max(0.0, float(np.mean(rsp.band_pass(x[breathing], rate_hz, *band, padtype="even") ** 2)) - noise)
    hypopnea = HYPOPNEA_FRACTION**2 * breath
    psd = psd_at(quiet, rate_hz, breathing_bpm / 60.0)
    snr = hypopnea / noise if noise > 0 else float("inf")
    return Detectability(breath, noise, psd, band, snr,
                         float(np.sqrt(2.0 * hypopnea * decision_s / psd)) if psd > 0 else float("inf"))


def psd_at(x: np.ndarray, rate_hz: float, f0_hz: float) -> float:
    """One-sided power spectral density (mm²/Hz) of x around f0_hz: a multitaper estimate (five
    Slepian tapers, time-bandwidth 3: each frequency is the average over +- 3 / duration) of the
    detrended x, averaged over f0 +- 15 % (a hypopnea's breaths spread that much). About 10
    degrees of freedom: one estimate scatters by 0.5-1.7x. Over a short x the tapers' +- 3 /
    duration is wide, and where the noise falls steeply with frequency (drift) the estimate at a
    slow f0 is then too low, its d' too high: at 6-8 bpm over 13 s, by up to about 2x."""
    from scipy.signal.windows import dpss

    n = len(x)
    t = np.arange(n)
    y = x - np.polyval(np.polyfit(t, x, 1), t)
    tapers = dpss(n, 3.0, 5)  # unit energy each
    spectrum = np.mean(np.abs(np.fft.rfft(tapers * y, 8 * n, axis=1)) ** 2, axis=0) * 2.0 / rate_hz
    f = np.fft.rfftfreq(8 * n, 1.0 / rate_hz)
    half_hz = 0.15 * f0_hz
    near = (f >= f0_hz - half_hz) & (f <= f0_hz + half_hz)
    return float(np.mean(spectrum[near]))


def scene_detectability(result: dict, decision_s: float) -> Detectability | None:
    """apnea_detectability of one eval_matrix scene result (an apnea scene), None otherwise.

    Stream samples are placed in time by the window lines' `classified_to` (the stream's length
    when the window ending at second t was classified): the stream restarts and backfills after
    motion, so its index is not a clock. The marks within the measured span must agree on one
    offset; before the classifier's first mark (it needs 60 s of signal) the stream is taken to
    run on at 10 Hz, which holds unless it restarted in between (its backfill then stands for
    the seconds before the restart, so the error is a few seconds at most).
    """
    seg = next((s for s in result["segments"] if s["pattern"] == "central_apnea"), None)
    rate_bpm = result["spec"].get("rate_bpm")
    if seg is None or rate_bpm is None:
        return None
    stream = np.frombuffer(base64.b64decode(result["stream_f32"]), dtype="<f4").astype(float)
    rate_hz = 10.0
    t_first, t_last = seg["start_s"] - BREATHING_BEFORE_S, seg["end_s"]
    marks = [(line["t"], line["classified_to"]) for line in result["lines"] if line.get("classified_to")]
    span = [(t, n) for t, n in marks if t_first - 1.0 <= t <= t_last + 1.0]
    if not span:
        return None
    offsets = [n - t * rate_hz for t, n in span]
    if max(offsets) - min(offsets) > MARK_TOLERANCE:
        return None  # the signal restarted (motion, a new region) inside the span: no one clock
    offset = float(np.median(offsets))
    b0, a0, a1 = (int(round(t * rate_hz + offset)) for t in (t_first, seg["start_s"], t_last))
    if b0 < 0 or a1 > len(stream):
        return None
    return apnea_detectability(stream, rate_hz, rate_bpm, slice(b0, a0), slice(a0, a1), decision_s)


def table(results: list[dict], score_apnea: Callable[[dict, float], dict | None], delay_s: float, slack_s: float,
          limit_s: float) -> dict:
    """Outcomes of the apneas to alert, split by whether the ideal detector could decide them.

    score_apnea: bench/eval_matrix.py's, which says which apneas must be alerted and when they were.
    """
    rows = []
    for r in results:
        score = score_apnea(r, delay_s)
        if score is None or not score["must_alert"]:
            continue
        det = scene_detectability(r, delay_s)
        latency = score["latency_s"]
        rows.append({"seed": r["spec"]["seed"], "distance_m": r["spec"]["distance_m"],
                     "rate_bpm": r["spec"]["rate_bpm"], "latency_s": latency,
                     "on_time": latency is not None and latency <= delay_s + slack_s,
                     "dprime_ideal": None if det is None else round(det.dprime_ideal, 2),
                     "snr_hypopnea": None if det is None else round(det.snr_hypopnea, 3),
                     "decidable": None if det is None else det.decidable,
                     "decidable_without_phase": None if det is None else det.decidable_without_phase})
    groups = {}
    for name, keep in (("decidable without the phase", lambda r: r["decidable_without_phase"] is True),
                       ("decidable with the phase only", lambda r: r["decidable"] is True
                        and r["decidable_without_phase"] is False),
                       ("not decidable", lambda r: r["decidable"] is False),
                       ("not measured", lambda r: r["decidable"] is None)):
        mine = [r for r in rows if keep(r)]
        groups[name] = {"apneas": len(mine), "alerted": sum(r["latency_s"] is not None for r in mine),
                        "on_time": sum(r["on_time"] for r in mine),
                        "later_than_delay_plus_5": sum(r["latency_s"] is not None and r["latency_s"] > delay_s + limit_s
                                                       for r in mine)}
    return {"required_dprime": REQUIRED_DPRIME, "required_dprime_phase_unknown": REQUIRED_DPRIME_PHASE_UNKNOWN,
            "decision_s": delay_s, "groups": groups, "scenes": rows}


def markdown(t: dict) -> str:
    out = ["| apneas >= 15 s | scenes | alerted | on time (<= delay + 2 s) | later than delay + 5 s |",
           "| --- | --- | --- | --- | --- |"]
    coherent, phase_unknown = t["required_dprime"], t["required_dprime_phase_unknown"]
    labels = {"decidable without the phase": f"d' >= {phase_unknown:.1f}: decidable without the phase",
              "decidable with the phase only": f"{coherent:.1f} <= d' < {phase_unknown:.1f}: only with the phase",
              "not decidable": f"d' < {coherent:.1f}: not decidable", "not measured": "not measured"}
    for name, g in t["groups"].items():
        if g["apneas"]:
            out.append(f"| {labels[name]} | {g['apneas']} | {g['alerted']} ({100 * g['alerted'] / g['apneas']:.0f} %) "
                        f"| {g['on_time']} ({100 * g['on_time'] / g['apneas']:.0f} %) | {g['later_than_delay_plus_5']} |")
    return "\n".join(out)


def plot(t: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in t["scenes"] if r["dprime_ideal"] is not None]
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for label, keep, style in (("on time", lambda r: r["on_time"], dict(c="tab:green", marker="o")),
                               ("late", lambda r: r["latency_s"] is not None and not r["on_time"],
                                dict(c="tab:orange", marker="s")),
                               ("missed", lambda r: r["latency_s"] is None, dict(c="tab:red", marker="x"))):
        mine = [r for r in rows if keep(r)]
        ax.scatter([r["distance_m"] for r in mine], [r["dprime_ideal"] for r in mine], label=f"{label} ({len(mine)})",
                   s=22, **style)
    ax.axhline(t["required_dprime"], color="k", lw=0.8, ls="--")
    ax.text(0.82, t["required_dprime"] * 0.86, "2 % / 2 %, phase known", fontsize=8)
    ax.axhline(t["required_dprime_phase_unknown"], color="k", lw=0.8, ls=":")
    ax.text(0.82, t["required_dprime_phase_unknown"] * 1.06, "2 % / 2 %, phase unknown", fontsize=8)
    ax.set_yscale("log")
    ax.set_xlabel("camera distance (m)")
    ax.set_ylabel("ideal detector's d', 30 % hypopnea vs apnea")
    ax.set_title(f"Apnea detectability over {t['decision_s']:g} s, per held-out scene")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> int:
    sys.path.insert(0, str(Path(__file__).parent))
    from eval_matrix import MATRIX_APNEA_DELAY_S, ONSET_LIMIT_S, ONSET_SLACK_S, score_apnea

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path, help="a bench/eval_matrix.py results file")
    parser.add_argument("--markdown", action="store_true")
    parser.add_argument("--plot", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=None, help="write the per-scene table (JSON)")
    args = parser.parse_args()
    try:
        results = json.loads(args.results.read_text())["scenes"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        print(f"apnea_detectability: cannot read {args.results}: {e}", file=sys.stderr)
        return 2
    t = table(results, score_apnea, MATRIX_APNEA_DELAY_S, ONSET_SLACK_S, ONSET_LIMIT_S)
    if args.out:
        args.out.write_text(json.dumps(t, indent=1) + "\n")
    print(json.dumps(t["groups"], indent=1))
    if args.markdown:
        print(markdown(t))
    if args.plot:
        plot(t, args.plot)
    return 0


if __name__ == "__main__":
    sys.exit(main())
