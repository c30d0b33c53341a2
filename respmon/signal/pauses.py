"""The pause judgement: how long since the last breath, and whether that is still breathing.

A pure function of the analysed window and what the analyzer has learnt of the breathing so far
(its reference breath amplitude and typical interval); BreathingAnalyzer calls it once a second.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from respmon.signal import rate as rsp
from respmon.signal.chi2 import chi2_ppf_over_dof

PAUSE_INTERVALS = 1.5  # a pause longer than this many breath intervals is not slow breathing
# A breath during a pause is a swing of at least this share of the reference amplitude in the
# effort band. Hypopnea breaths are 30-50 % of normal depth and count; what a flat chest still
# shows in that band (heartbeat leaking in, sensor noise) must not.
EFFORT_FRACTION = 0.2
# A pause is judged only when the noise in the effort band leaves hypopnea breaths (this share
# of the reference) visible; otherwise missing breaths could be the noise hiding them.
HYPOPNEA_FRACTION = 0.3
# The effort band, as multiples of the typical breathing frequency: breathing effort resumes at
# about the rate it had; the heartbeat (45-120 /min) and most sensor noise lie above it.
EFFORT_BAND = (0.5, 1.8)
EFFORT_MIN_HIGH_HZ = 0.4  # 24 /min; the heartbeat (45 /min and up) stays above
# Noise sigmas a breath must clear in the effort band. The sigma is white noise's share of that
# band; real depth noise has more power at the slow end (drift, 1/f), where slow breathing's band
# lies, so the margin is wider than the rate stage's three.
EFFORT_NOISE_MARGIN = 4.0
# The breaths time a pause unless the energy puts the last effort more than this many breath
# intervals from them: its quiet span starts up to 0.55 of an interval after the last breath
# (the effort band ringing on the chest settling at end-expiration, measured at 6-30 /min), and a
# breath the breaths missed (a hypopnea's, lost in the noise) ends it nearly an interval later.
AGREE_INTERVALS = 0.75
ENERGY_WINDOW_S = 8.0  # the shortest span the energy judgement looks at
ENERGY_FALSE_RATE = 1e-3  # chance that noise alone fills one span with "effort"
# The weakest effort the energy judgement counts, as a share of the reference. Lower than
# EFFORT_FRACTION: it judges signals too noisy for single breaths, where the reference (the rate
# stage's peak to trough over the whole breathing band) carries noise and harmonics the effort
# band does not, and a 32 % hypopnea came out at 20 % of it in the effort band (1.1 m, 6 fps).
ENERGY_EFFORT_FRACTION = 0.15


@dataclass(frozen=True)
class PauseJudgement:
    seconds_since_breath: float | None  # unrounded; None when no pause can be judged
    breathing: bool | None  # False: a pause longer than a breath interval allows (apnea); None: not judged


NOT_JUDGED = PauseJudgement(None, None)


def effort_band_hz(typical_interval_s: float, rate_hz: float) -> tuple[float, float]:
    f0_hz = 1.0 / typical_interval_s
    low = max(rsp.BAND_HZ[0], EFFORT_BAND[0] * f0_hz)
    # Never below EFFORT_MIN_HIGH_HZ: a breath interval learnt wrong (too slow) must not shut
    # real breaths out of the band and make a pause of them.
    high = min(0.45 * rate_hz, max(EFFORT_BAND[1] * f0_hz, EFFORT_MIN_HIGH_HZ))
    return low, high


def effort_signal(x: np.ndarray, rate_hz: float, band_hz: tuple[float, float]) -> np.ndarray:
    """The signal in the effort band (zero phase): breaths at about the rate they had."""
    # Mirrored at the ends, not turned about the last sample (scipy's default "odd" padding): that
    # sample's own noise, doubled into the padding, swung the newest effort past the level as a
    # breath "under way" several times a minute during a flat pause at 0.5 mm of noise.
    return rsp.band_pass(x, rate_hz, *band_hz, padtype="even")


def effort_noise_sigma(sensor_sigma: float, rate_hz: float, band_hz: tuple[float, float]) -> float:
    """The part of the signal's white noise (rsp.noise_sigma) that passes the effort band."""
    return float(sensor_sigma * np.sqrt((band_hz[1] - band_hz[0]) / (rate_hz / 2.0)))


def judge_pause(x: np.ndarray, rate_hz: float, reference_amplitude: float | None, typical_interval_s: float | None,
                apnea_min_s: float, source_hz: float | None = None,
                sensor_sigma: float | None = None) -> PauseJudgement:
    """Seconds since the last breath at the end of `x`, and whether the breathing goes on.

    x: the signal, oldest first, at rate_hz;
    reference_amplitude: peak to trough of recent confident breathing, None if never learnt;
    typical_interval_s: the recent breath interval, None if not known;
    source_hz: the rate the signal was measured at, if slower than rate_hz (rsp.noise_sigma);
    sensor_sigma: the signal's sensor noise, where the caller knows it better than x does.
    A pause is breathing no more once it lasts over apnea_min_s and PAUSE_INTERVALS breath
    intervals. A central apnea is the absence of effort, so breaths are looked for in the effort
    band (around the breathing frequency), as swings of EFFORT_FRACTION of the reference clear of
    the noise measured in that band: the heartbeat and sensor noise are not effort. The band's
    energy over the span since the last breath is judged too (since_effort_tail): breaths of a
    hypopnea that drown in the noise one by one still fill it, and where single breaths cannot
    be told at all it is the only judgement; NOT_JUDGED when even that cannot tell a pause from
    no signal.
    """
    if reference_amplitude is None or typical_interval_s is None or len(x) < 4 * rate_hz:
        # Breaths were never told apart on this signal: a pause cannot be told from no signal.
        return NOT_JUDGED
    band = effort_band_hz(typical_interval_s, rate_hz)
    if sensor_sigma is None:
        sensor_sigma = rsp.noise_sigma(x, rate_hz, source_hz)
    sigma = effort_noise_sigma(sensor_sigma, rate_hz, band)
    effort = effort_signal(x, rate_hz, band)
    limit_s = pause_limit_s(apnea_min_s, typical_interval_s)
    # Effort shows either way: as single breaths, where the noise leaves a hypopnea's breaths
    # clear of the level, or as the effort band's energy over a span, which a hypopnea's breaths
    # too weak to be told one by one still fill.
    by_energy = since_effort_tail(effort, rate_hz, sigma, band, reference_amplitude,
                                  2.0 * typical_interval_s, limit_s)
    if EFFORT_NOISE_MARGIN * sigma >= HYPOPNEA_FRACTION * reference_amplitude / 2:
        since = by_energy
    else:
        level = max(EFFORT_FRACTION * reference_amplitude / 2.0, EFFORT_NOISE_MARGIN * sigma)
        since = since_effort(effort, rate_hz, level)
        # The breaths time the pause; the energy, a later witness (AGREE_INTERVALS), overrules
        # them where a breath was missed or a swing of noise passed for one.
        if by_energy is not None and abs(by_energy - since) > AGREE_INTERVALS * typical_interval_s:
            since = by_energy
    return NOT_JUDGED if since is None else PauseJudgement(since, bool(since <= limit_s))


def pause_limit_s(apnea_min_s: float, typical_interval_s: float) -> float:
    """The longest a pause between breaths may last and still be breathing."""
    return max(apnea_min_s, PAUSE_INTERVALS * typical_interval_s)


def since_effort(effort: np.ndarray, rate_hz: float, level: float) -> float:
    """Seconds since the last breath of the effort signal (a rise past +level then a fall past
    -level, or a rise still under way at the end); the whole window if none."""
    last = rsp.rsp_peaks(effort, rate_hz, level).last_effort_s
    end_s = len(effort) / rate_hz
    return end_s if last is None else max(0.0, end_s - last)


def since_effort_tail(effort: np.ndarray, rate_hz: float, sigma: float, band_hz: tuple[float, float],
                      reference_amplitude: float, min_judged_s: float, limit_s: float) -> float | None:
    """Seconds since the last breathing effort: the longest span at the end of the effort signal
    whose mean square stays that of noise, for signals too noisy to tell breaths one by one.

    A span of d seconds holds no effort while its mean square stays under both the noise's
    (sigma², with a 0.1 % chance of noise alone reaching it over the span's degrees of freedom)
    and the noise plus the weakest breathing that counts (ENERGY_EFFORT_FRACTION of the reference).
    Spans are judged from ENERGY_WINDOW_S up (a shorter one can fall between two slow breaths, or
    on a quiet stretch of noise); the answer grows as long as every longer span stays quiet, so
    it follows the last effort back in time and breaths too weak to be told one by one (a
    hypopnea) still end it.
    The answer stands only where a hypopnea (HYPOPNEA_FRACTION) over the quiet span, the pause
    limit and min_judged_s (two breath intervals: a whole breath or more), whichever is longest,
    would have beaten the noise; otherwise None: the pause cannot be told from breaths lost in
    the noise. A far, noisy chest whose pause cannot be judged over the pause limit is so judged
    a few seconds later, over the longer quiet span, rather than never; its shorter quiet spans
    stay unjudged (the "effort" that ends them may be noise the white-noise sigma understates).
    """
    n_min = int(round(ENERGY_WINDOW_S * rate_hz))
    if len(effort) < max(int(round(limit_s * rate_hz)), n_min):
        return None
    width_hz = band_hz[1] - band_hz[0]

    def noise_quantile(n, q):
        dof = np.maximum(1.0, 2.0 * width_hz * np.asarray(n, dtype=float) / rate_hz)
        return sigma**2 * chi2_ppf_over_dof(dof, q)

    breath_ms = (reference_amplitude / 2.0) ** 2 / 2.0
    spans = np.arange(n_min, len(effort) + 1)
    tail_ms = np.cumsum(effort[::-1] ** 2)[spans - 1] / spans
    threshold = np.maximum(noise_quantile(spans, 1.0 - ENERGY_FALSE_RATE),
                           sigma**2 + ENERGY_EFFORT_FRACTION**2 * breath_ms)
    loud = np.flatnonzero(tail_ms >= threshold)
    if len(loud) == 0:
        quiet_s = len(effort) / rate_hz
    elif loud[0] > 0:
        quiet_s = float(spans[loud[0] - 1]) / rate_hz
    else:
        # Effort within the shortest span: placed in it by how much of a hypopnea's mean square it
        # holds (0 s if all of it).
        share = min(1.0, max(0.0, (float(tail_ms[0]) - sigma**2) / max(breath_ms * HYPOPNEA_FRACTION**2, 1e-12)))
        quiet_s = (1.0 - share) * n_min / rate_hz
    n_judged = int(round(max(quiet_s, limit_s, min_judged_s) * rate_hz))
    hypopnea_low = HYPOPNEA_FRACTION**2 * breath_ms + float(noise_quantile(n_judged, ENERGY_FALSE_RATE))
    return quiet_s if hypopnea_low > float(noise_quantile(n_judged, 1.0 - ENERGY_FALSE_RATE)) else None
