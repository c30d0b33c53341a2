"""Respiratory rate and signal quality from a window of the breathing signal.

One function per step, as NeuroKit2 names them, each taking plain arrays with the sampling rate
explicit: `rsp_clean` → `rsp_peaks` → `rsp_rate`, and `rsp_quality` beside them. Unlike NeuroKit2's
defaults nothing here caps the rate below 60 bpm: the band is 3–72 bpm.

Breaths are found by hysteresis crossings rather than by peak picking: a breath is a rise above
+h followed by a fall below −h around the window's midline, with h tied to the breathing amplitude
and the noise floor. That counts an asymmetric breath with a long end-expiratory pause once, and
never counts noise riding on a flat apnea.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from respmon.signal.filters import butter_bandpass_sections, detrend_linear, filtfilt

BAND_HZ = (0.05, 1.2)  # 3–72 bpm: 60 bpm (1 Hz) still passes at about 75 % amplitude
FILTER_ORDER = 2
# A breath must swing past ±HYSTERESIS_FRACTION of the typical breath half-amplitude...
HYSTERESIS_FRACTION = 0.3
# ...and past NOISE_MARGIN noise sigmas, so sensor noise on a flat signal never counts as breaths.
NOISE_MARGIN = 3.0
OUTLIER_INTERVAL_RATIO = 1.8  # an interval this much longer than the median spans a pause
MIN_BREATHS_FOR_RATE = 3
SNR_ZERO, SNR_FULL = 3.0, 12.0  # breath amplitude / in-band noise sigma: quality 0 … 1
SPECTRUM_POINTS = 4096  # zero-padded FFT: 0.15 bpm bins at 10 Hz
SPECTRUM_BAND_BPM = (4.0, 60.0)
PROMINENCE_ZERO, PROMINENCE_FULL = 12.0, 100.0
ADAPTIVE_HARMONICS = 2.5  # keep the fundamental and its first harmonic, drop the noise above
ADAPTIVE_MIN_HIGH_HZ = 0.35
AGREEMENT_FRACTION = 0.1
MAX_MERGED_BREATHS = 4  # breaths_merged: a hysteresis level up to about four times too high
MERGED_LINE_RATIO = 0.5  # ...and no line at the counted rate within 3 dB of the peak
MIN_SPECTRAL_CYCLES = 4.0  # a spectral rate needs this many cycles in the window: two swings of
# a slow random walk look like two breaths, four rarely do
CONCENTRATION_ZERO, CONCENTRATION_FULL = 0.35, 0.65
LOW_SIDE = (0.45, 0.65)  # the frequencies under a peak (as fractions of it) that it must top...
MIN_LOW_SIDE_RATIO = 3.0  # ...by this factor in power


@dataclass(frozen=True)
class Breaths:
    """Breaths in a window: times in seconds from the window's start."""

    onset_s: np.ndarray  # upward crossing of the midline at the start of each inhalation
    peak_s: np.ndarray  # end of inhalation (maximum between an upward and the next downward crossing)
    amplitude: np.ndarray  # peak to the following trough, in the signal's units
    # Maximum so far of an inhalation that has risen above +h but not yet fallen back at the
    # window's end: a breath under way, which counts for "seconds since the last breath".
    pending_peak_s: float | None = None

    @property
    def last_effort_s(self) -> float | None:
        """Time of the latest breath, complete or under way."""
        times = [t for t in (self.peak_s[-1] if len(self.peak_s) else None, self.pending_peak_s) if t is not None]
        return max(times) if times else None

    def __len__(self) -> int:
        return len(self.onset_s)


@dataclass(frozen=True)
class RateEstimate:
    rate_bpm: float | None
    quality: float
    breaths: Breaths
    noise_sigma: float  # in-band noise left in the cleaned signal
    breath_amplitude: float  # median peak-to-trough of the window's breaths (0 if none)
    from_breaths: bool = True  # False: the rate is the spectrum's, breaths could not be told apart


def band_pass(samples: np.ndarray, rate_hz: float, low_hz: float, high_hz: float, padtype: str = "odd") -> np.ndarray:
    """Detrend, then band-pass low_hz to high_hz with zero phase (at least 8 samples): a
    Butterworth of FILTER_ORDER forward and backward (respmon.signal.filters, which keeps the
    designs: designing costs more than filtering a 30 s window)."""
    x = detrend_linear(samples)
    padlen = min(len(x) - 1, int(3 * rate_hz / low_hz) // 4)
    return filtfilt(butter_bandpass_sections(FILTER_ORDER, low_hz, high_hz, rate_hz), x, padlen, padtype)


def rsp_clean(samples: np.ndarray, rate_hz: float, high_hz: float | None = None) -> np.ndarray:
    """Detrend and band-pass (3–72 bpm unless high_hz lowers the top, zero phase)."""
    x = np.asarray(samples, dtype=float)
    if len(x) < 8:
        return x - np.mean(x) if len(x) else x
    high = min(BAND_HZ[1] if high_hz is None else high_hz, 0.45 * rate_hz)
    return band_pass(x, rate_hz, BAND_HZ[0], round(high, 3))


def noise_sigma(samples: np.ndarray, rate_hz: float, source_hz: float | None = None) -> float:
    """Sensor-noise sigma: the robust spread of what lies above the breathing band, as the sigma
    of white noise at rate_hz with the same power in the band.

    source_hz: the rate the samples were measured at, when slower than rate_hz (a 6 fps camera
    resampled to 10 Hz). Linear interpolation makes neighbouring samples share their noise, so
    second differences of neighbours would see almost none; they are taken across source samples
    instead, and the source's noise, spread over a narrower band, is scaled to rate_hz.
    """
    x = np.asarray(samples, dtype=float)
    lag = 1 if source_hz is None or source_hz >= rate_hz else int(np.ceil(rate_hz / source_hz))
    if len(x) < 2 * lag + 3:
        return 0.0
    # Second differences remove the slow breathing almost entirely and keep white noise
    # (variance 6·sigma² for white noise).
    d2 = x[2 * lag:] - 2.0 * x[lag:-lag] + x[:-2 * lag]
    mad = np.median(np.abs(d2 - np.median(d2)))
    sigma = float(1.4826 * mad / np.sqrt(6.0))
    if lag == 1:
        return sigma
    # An interpolated sample carries (1 - u)² + u² of the source noise variance, 2/3 on average
    # over the fraction u; the source's noise then spreads over source_hz / 2 instead of rate_hz / 2.
    return sigma / float(np.sqrt(2.0 / 3.0)) * float(np.sqrt(rate_hz / source_hz))


def band_noise_sigma(sigma: float, rate_hz: float, high_hz: float | None = None) -> float:
    """The part of white noise of this sigma that passes the breathing band."""
    high = min(BAND_HZ[1] if high_hz is None else high_hz, 0.45 * rate_hz)
    return float(sigma * np.sqrt((high - BAND_HZ[0]) / (rate_hz / 2.0)))


def rsp_peaks(clean: np.ndarray, rate_hz: float, threshold: float) -> Breaths:
    """Breaths by hysteresis around zero: up through +threshold, then down through −threshold."""
    x = np.asarray(clean, dtype=float)
    empty = Breaths(np.empty(0), np.empty(0), np.empty(0))
    if len(x) < 3 or not threshold > 0:
        return empty
    state = 0  # 0: waiting for a rise above +h; 1: risen, waiting for a fall below −h
    pending = None
    onsets, peaks, amplitudes = [], [], []
    rise_start = 0
    last_low = 0
    upper = x > threshold
    lower = x < -threshold
    i, n = 0, len(x)
    while i < n:
        if state == 0:
            nxt = np.argmax(upper[i:])
            if not upper[i + nxt]:
                break
            j = i + nxt
            # The inhalation began at the last upward zero crossing before the rise.
            k = j
            while k > last_low and x[k - 1] > 0:
                k -= 1
            rise_start = k
            state, i = 1, j
        else:
            nxt = np.argmax(lower[i:])
            if not lower[i + nxt]:
                pending = (rise_start + int(np.argmax(x[rise_start:]))) / rate_hz
                break
            j = i + nxt
            peak = rise_start + int(np.argmax(x[rise_start:j]))
            trough_end = j + int(np.argmax(upper[j:])) if upper[j:].any() else n
            trough = j + int(np.argmin(x[j:trough_end]))
            onsets.append(_interpolated_zero(x, rise_start) / rate_hz)
            peaks.append(peak / rate_hz)
            amplitudes.append(x[peak] - x[trough])
            last_low = j
            state, i = 0, j
    if not onsets:
        return Breaths(np.empty(0), np.empty(0), np.empty(0), pending)
    return Breaths(np.asarray(onsets), np.asarray(peaks), np.asarray(amplitudes), pending)


def _interpolated_zero(x: np.ndarray, k: int) -> float:
    """Sub-sample position of the zero crossing between samples k-1 and k."""
    if k <= 0 or x[k] == x[k - 1]:
        return float(k)
    return (k - 1) + float(-x[k - 1] / (x[k] - x[k - 1]))


def _intervals(breaths: Breaths) -> np.ndarray:
    intervals = np.diff(breaths.onset_s)
    if len(intervals) == 0:
        return intervals
    # A pause (apnea, a Biot's gap) between two runs of breathing is not a breath interval.
    return intervals[intervals <= OUTLIER_INTERVAL_RATIO * np.median(intervals)]


def rsp_rate(breaths: Breaths) -> float | None:
    """Rate from the mean interval between breath onsets, pauses excluded; None below 3 breaths."""
    if len(breaths) < MIN_BREATHS_FOR_RATE:
        return None
    intervals = _intervals(breaths)
    if len(intervals) == 0:
        return None
    return float(60.0 / np.mean(intervals))


def _autocorrelation_at(clean: np.ndarray, lag: int) -> float:
    if lag <= 0 or lag >= len(clean) - 1:
        return 0.0
    a, b = clean[:-lag], clean[lag:]
    denom = np.sqrt(np.dot(a, a) * np.dot(b, b))
    return float(np.dot(a, b) / denom) if denom > 0 else 0.0


def rsp_quality(clean: np.ndarray, rate_hz: float, breaths: Breaths, sigma: float) -> float:
    # sigma: the in-band noise (band_noise_sigma), the noise that is left in `clean`.
    """Signal quality in [0, 1]: breaths well above the noise, regular, and periodic.

    The geometric mean of three scores, so any one failing pulls quality down:
    - SNR: median peak-to-trough breath amplitude over the in-band noise sigma (≤ 3 → 0, ≥ 12 → 1);
    - regularity: coefficient of variation of the breath intervals (≥ 0.5 → 0);
    - periodicity: the autocorrelation at the mean breath interval.
    """
    if len(breaths) < MIN_BREATHS_FOR_RATE:
        return 0.0
    intervals = _intervals(breaths)
    if len(intervals) < 2:
        return 0.0
    amplitude = float(np.median(breaths.amplitude))
    snr = amplitude / sigma if sigma > 0 else np.inf
    q_snr = float(np.clip((snr - SNR_ZERO) / (SNR_FULL - SNR_ZERO), 0.0, 1.0))
    cv = float(np.std(intervals) / np.mean(intervals))
    q_regular = float(np.clip(1.0 - cv / 0.5, 0.0, 1.0))
    q_periodic = max(0.0, _autocorrelation_at(clean, int(round(np.mean(intervals) * rate_hz))))
    # A window with a pause in it is not regular breathing even if each run is.
    pause_share = 1.0 - len(intervals) / max(len(breaths) - 1, 1)
    q_regular *= 1.0 - pause_share
    return float((q_snr * q_regular * q_periodic) ** (1.0 / 3.0))


def breath_threshold(clean: np.ndarray, sigma: float, reference_amplitude: float | None = None) -> float:
    """Hysteresis level: a fraction of the breathing half-amplitude, never under the noise margin.

    `reference_amplitude` (peak to trough of recent confident breathing) keeps the level up when
    the window itself turns flat, so that an apnea stays flat instead of its noise being counted.
    """
    if len(clean) == 0:
        return NOISE_MARGIN * sigma
    spread = float(np.percentile(clean, 95) - np.percentile(clean, 5))
    amplitude = spread if reference_amplitude is None else max(spread, reference_amplitude)
    return max(HYSTERESIS_FRACTION * amplitude / 2.0, NOISE_MARGIN * sigma)


@dataclass(frozen=True)
class SpectralPeak:
    rate_bpm: float
    prominence: float  # peak power over the band's median: about 4–10 for white noise
    concentration: float  # share of the band's power at the peak and its harmonic; 0 if no peak


def _hann_spectrum(clean: np.ndarray, rate_hz: float) -> tuple[np.ndarray, np.ndarray]:
    """(power, frequency in bpm) of a cleaned window, Hann-windowed and zero-padded."""
    power = np.abs(np.fft.rfft(clean * np.hanning(len(clean)), SPECTRUM_POINTS)) ** 2
    return power, np.fft.rfftfreq(SPECTRUM_POINTS, d=1.0 / rate_hz) * 60.0


def _line_half_width_bpm(bpm: float, rate_hz: float, n: int) -> float:
    """A spectral line's half-width: 15 % of its rate, never narrower than the window's resolution."""
    return max(0.15 * bpm, 1.5 * 60.0 * rate_hz / n)


def rsp_spectrum_peak(clean: np.ndarray, rate_hz: float) -> SpectralPeak:
    """The strongest breathing-band frequency of a cleaned window, and how much it stands out.

    Breathing puts most of its power at one frequency and its harmonic (concentration 0.7–0.95);
    white noise and slow random wander spread it (0.1–0.45), even where wander makes a tall peak.
    """
    n = len(clean)
    if n < 16:
        return SpectralPeak(0.0, 0.0, 0.0)
    power, freqs_bpm = _hann_spectrum(clean, rate_hz)
    band = (freqs_bpm >= SPECTRUM_BAND_BPM[0]) & (freqs_bpm <= SPECTRUM_BAND_BPM[1])
    band_power = power[band]
    median = float(np.median(band_power))
    k = int(np.argmax(band_power))
    peak_bpm = float(freqs_bpm[band][k])
    half_width = _line_half_width_bpm(peak_bpm, rate_hz, n)
    near = (np.abs(freqs_bpm - peak_bpm) <= half_width) | (np.abs(freqs_bpm - 2 * peak_bpm) <= half_width)
    whole = (freqs_bpm >= 60.0 * BAND_HZ[0]) & (freqs_bpm <= 60.0 * BAND_HZ[1])
    total = float(power[whole].sum())
    # Slow wander (a random walk) has a spectrum falling with frequency: its tallest "peak" has
    # more power below it than at it. A breathing peak stands above the frequencies under it.
    below = (freqs_bpm >= LOW_SIDE[0] * peak_bpm) & (freqs_bpm <= LOW_SIDE[1] * peak_bpm)
    low_side = float(power[below].mean()) if below.any() else 0.0
    stands_out = low_side == 0.0 or band_power[k] >= MIN_LOW_SIDE_RATIO * low_side
    return SpectralPeak(
        peak_bpm,
        float(band_power[k] / median) if median > 0 else 0.0,
        float(power[near & whole].sum() / total) if total > 0 and stands_out else 0.0,
    )


def concentration_quality(concentration: float) -> float:
    return float(np.clip((concentration - CONCENTRATION_ZERO) / (CONCENTRATION_FULL - CONCENTRATION_ZERO), 0.0, 1.0))


def spectral_quality(prominence: float) -> float:
    """Prominence 12 (noise reaches about 10) → 0, 100 → 1, log-linear between."""
    if prominence <= PROMINENCE_ZERO:
        return 0.0
    return float(min(1.0, np.log(prominence / PROMINENCE_ZERO) / np.log(PROMINENCE_FULL / PROMINENCE_ZERO)))


def spectral_line_ratio(clean: np.ndarray, rate_hz: float, bpm: float, peak_bpm: float) -> float:
    """The power of a cleaned window's spectrum at bpm over its power at peak_bpm (each the
    strongest bin within a line's half-width of the rate)."""
    power, freqs_bpm = _hann_spectrum(clean, rate_hz)

    def line(at_bpm: float) -> float:
        return float(power[np.abs(freqs_bpm - at_bpm) <= _line_half_width_bpm(at_bpm, rate_hz, len(clean))].max())

    peak = line(peak_bpm)
    return line(bpm) / peak if peak > 0 else 1.0


def breaths_merged(breath_bpm: float, peak_bpm: float, line_ratio: Callable[[], float]) -> bool:
    """Whether breaths counted at breath_bpm are every k-th breath (k = 2..MAX_MERGED_BREATHS) of
    breathing whose spectrum peaks at peak_bpm: a hysteresis level set by deeper breaths (or a
    reference learnt from noise) that only the largest swings clear, on a far, shallow, fast
    breather. Breathing puts more power at its fundamental than at any harmonic, so the peak is
    the breathing, provided the counted rate has no line of its own (line_ratio, its power over
    the peak's, under MERGED_LINE_RATIO): breaths that are real show at their rate, and a peak at
    3-4 times it is then something else, such as a strong heartbeat (45-72 /min). line_ratio is
    called only where the rates are a whole multiple apart: it costs a spectrum.
    """
    k = round(peak_bpm / breath_bpm)
    return (2 <= k <= MAX_MERGED_BREATHS and abs(peak_bpm - k * breath_bpm) <= AGREEMENT_FRACTION * peak_bpm
            and line_ratio() < MERGED_LINE_RATIO)


def estimate_rate(samples: np.ndarray, rate_hz: float, reference_amplitude: float | None = None,
                  source_hz: float | None = None, sensor_sigma: float | None = None) -> RateEstimate:
    """The whole chain over one window.

    The spectrum finds the dominant breathing frequency first; when it stands out, the band's
    top is lowered to a few times that frequency, which takes most of the noise out of the
    breath-by-breath detection on noisy (distant) signals. When breaths still cannot be told
    apart but the spectral peak is unmistakable, the rate is the spectral one.
    sensor_sigma: the sensor noise (as noise_sigma gives it) when the caller knows it better than
    this window's samples do.
    """
    x = np.asarray(samples, dtype=float)
    sigma_raw = noise_sigma(x, rate_hz, source_hz) if sensor_sigma is None else sensor_sigma
    clean = rsp_clean(x, rate_hz)
    spectral = rsp_spectrum_peak(clean, rate_hz)
    peak_bpm = spectral.rate_bpm
    q_concentration = concentration_quality(spectral.concentration)
    q_spectral = min(spectral_quality(spectral.prominence), q_concentration)
    sigma = band_noise_sigma(sigma_raw, rate_hz)
    if q_spectral > 0:
        high_hz = min(BAND_HZ[1], max(ADAPTIVE_MIN_HIGH_HZ, ADAPTIVE_HARMONICS * peak_bpm / 60.0))
        clean = rsp_clean(x, rate_hz, high_hz)
        sigma = band_noise_sigma(sigma_raw, rate_hz, high_hz)
    breaths = rsp_peaks(clean, rate_hz, breath_threshold(clean, sigma, reference_amplitude))
    # Regular-looking swings that are not concentrated at one frequency are not breathing.
    quality = (rsp_quality(clean, rate_hz, breaths, sigma) ** 3 * q_concentration) ** 0.25
    rate_bpm = rsp_rate(breaths)
    cycles = peak_bpm * len(x) / (60.0 * rate_hz)
    merged = rate_bpm is not None and q_spectral > 0 and breaths_merged(
        rate_bpm, peak_bpm, lambda: spectral_line_ratio(clean, rate_hz, rate_bpm, peak_bpm))
    if (rate_bpm is None or quality < q_spectral or merged) and q_spectral > 0 and cycles >= MIN_SPECTRAL_CYCLES:
        agrees = rate_bpm is not None and abs(rate_bpm - peak_bpm) <= AGREEMENT_FRACTION * peak_bpm
        if not agrees:
            amplitude = float(np.median(breaths.amplitude)) if len(breaths) else 0.0
            return RateEstimate(peak_bpm, q_spectral, breaths, sigma, amplitude, from_breaths=False)
    amplitude = float(np.median(breaths.amplitude)) if len(breaths) else 0.0
    return RateEstimate(rate_bpm, quality, breaths, sigma, amplitude, from_breaths=rate_bpm is not None)
