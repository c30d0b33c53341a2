"""The authors' RSM (sim/rsm_authors.py): structure of each pattern, noise, scaling, and a
distribution comparison with the authors' own Breathing_TRAIN.csv (2019 code)."""

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.lib.stride_tricks import sliding_window_view
from scipy.stats import ks_2samp

from respmon.patterns import PATTERNS, label_of
from respmon.sim.rsm_authors import (
    AUTHORS_VERSIONS,
    authors_dataset,
    authors_raw_signal,
    authors_signal,
)

RATE_HZ = 10.0
# b ranges of the authors' code converted to breaths/min (b * 60 / 2pi).
RHYTHMIC_RANGES_BPM = {"eupnea": (12.1, 16.9), "bradypnea": (7.5, 11.0), "tachypnea": (20.0, 30.0)}
BREATHING_PATTERNS = [p for p in PATTERNS if p != "noise"]

seeds = st.integers(min_value=0, max_value=2**32 - 1)
# derandomize: the same examples on every run, so CI cannot flake on a rare seed
fast = settings(max_examples=25, deadline=None, derandomize=True)


def dominant_rate_bpm(x: np.ndarray, rate_hz: float = RATE_HZ) -> np.ndarray:
    """Peak of the spectrum of the first difference in 3-48 /min; differencing suppresses
    the steps and drifts between segments, which would otherwise dominate low frequencies."""
    d = np.diff(np.atleast_2d(x), axis=-1)
    n_fft = 8192
    f_hz = np.fft.rfftfreq(n_fft, 1.0 / rate_hz)
    power = np.abs(np.fft.rfft(d * np.hanning(d.shape[-1]), n_fft)) ** 2
    band = (f_hz >= 0.05) & (f_hz <= 0.8)
    return f_hz[band][np.argmax(power[..., band], axis=-1)] * 60.0


def detrended_rolling_std(x: np.ndarray, window: int) -> np.ndarray:
    """Std of each sliding window after removing its own straight line (so the segments'
    linear drift d*(t - t0) does not count as breathing)."""
    w = sliding_window_view(np.atleast_2d(x), window, axis=-1)
    t = np.arange(window) - (window - 1) / 2
    w = w - w.mean(axis=-1, keepdims=True)
    resid = w - ((w @ t) / (t @ t))[..., None] * t
    return np.sqrt(np.mean(resid**2, axis=-1))


def flat_share(x: np.ndarray) -> np.ndarray:
    """Share of 3 s windows whose detrended std is below 0.04 of the [0, 1] range."""
    return (detrended_rolling_std(x, 30) < 0.04).mean(axis=-1)


def most_vigorous_s(x: np.ndarray) -> np.ndarray:
    """Centre time (s) of the 5 s window with the largest detrended std."""
    return (np.argmax(detrended_rolling_std(x, 50), axis=-1) + 25) / RATE_HZ


def window_std(x: np.ndarray, start_s: float, end_s: float, window: int = 50) -> float:
    """Median detrended std of the 5 s windows lying wholly inside [start_s, end_s]."""
    s = detrended_rolling_std(x, window)[0]
    lo, hi = int(round(start_s * RATE_HZ)), int(round(end_s * RATE_HZ)) - window
    assert hi >= lo, "interval shorter than the window"
    return float(np.median(s[lo : hi + 1]))


def segment_std(x: np.ndarray, start_s: int, end_s: int) -> float:
    """Detrended std of one segment [start_s, end_s) of a 10 Hz signal (0 if shorter than 3 s)."""
    if end_s - start_s < 3:
        return 0.0
    seg = x[int(start_s * RATE_HZ) : int(end_s * RATE_HZ)]
    return float(detrended_rolling_std(seg, seg.size)[0, 0])


# --- basic contract --------------------------------------------------------------------------


@fast
@given(
    seed=seeds,
    pattern=st.sampled_from(PATTERNS),
    version=st.sampled_from(AUTHORS_VERSIONS),
    periods=st.integers(1, 3),
    rate_hz=st.sampled_from([10.0, 15.0, 7.5, 30.0]),
)
def test_length_range_dtype(seed, pattern, version, periods, rate_hz):
    x = authors_signal(
        pattern, np.random.default_rng(seed), duration_s=60.0 * periods, rate_hz=rate_hz,
        version=version,
    )
    assert x.dtype == np.float64
    assert x.shape == (round(60 * periods * rate_hz),)
    assert x.min() == 0.0 and x.max() == 1.0


@fast
@given(seed=seeds, pattern=st.sampled_from(PATTERNS), version=st.sampled_from(AUTHORS_VERSIONS))
def test_same_seed_same_output(seed, pattern, version):
    a = authors_signal(pattern, np.random.default_rng(seed), version=version)
    b = authors_signal(pattern, np.random.default_rng(seed), version=version)
    c = authors_signal(pattern, np.random.default_rng(seed + 1), version=version)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize("duration_s", [30.0, 59.5, 61.0, 90.0, 0.0, -60.0])
def test_duration_not_multiple_of_60_raises(duration_s):
    with pytest.raises(ValueError, match="multiples of 60"):
        authors_signal("eupnea", np.random.default_rng(0), duration_s=duration_s)
    with pytest.raises(ValueError, match="multiples of 60"):
        authors_dataset(["eupnea"], 2, np.random.default_rng(0), duration_s=duration_s)


def test_unknown_version_and_pattern_raise():
    with pytest.raises(ValueError, match="version"):
        authors_signal("eupnea", np.random.default_rng(0), version="2021")
    with pytest.raises(ValueError, match="pattern"):
        authors_signal("hyperpnea", np.random.default_rng(0))


def test_dataset_order_labels_and_speed():
    import time

    t0 = time.perf_counter()
    labels, signals = authors_dataset(PATTERNS, 100, np.random.default_rng(3))
    elapsed_s = time.perf_counter() - t0
    assert signals.shape == (700, 600)
    assert labels.tolist() == [label_of(p) for p in PATTERNS for _ in range(100)]
    assert elapsed_s < 1.0
    # rows are different signals, not copies
    assert len({row.tobytes() for row in signals}) == 700


# --- noise -----------------------------------------------------------------------------------


@fast
@given(
    seed=seeds,
    pattern=st.sampled_from([p for p in BREATHING_PATTERNS if p != "bradypnea"]),
    version=st.sampled_from(AUTHORS_VERSIONS),
)
def test_awgn_is_20_db_measured(seed, pattern, version):
    raw = authors_raw_signal(pattern, np.random.default_rng(seed), version=version)
    noise = raw.noisy - raw.clean
    snr_db = 10 * np.log10(np.mean(raw.clean**2) / np.mean(noise**2))
    # 600 samples estimate the noise power within ~6 % (0.25 dB) per signal
    assert abs(snr_db - 20.0) < 1.2
    assert abs(np.mean(noise)) < 4 * np.std(noise) / np.sqrt(noise.size)


def test_awgn_level_on_average():
    rng = np.random.default_rng(11)
    ratios = []
    for _ in range(200):
        raw = authors_raw_signal("eupnea", rng)
        ratios.append(np.mean((raw.noisy - raw.clean) ** 2) / np.mean(raw.clean**2))
    assert 10 * np.log10(1 / np.mean(ratios)) == pytest.approx(20.0, abs=0.1)


@pytest.mark.parametrize("version", AUTHORS_VERSIONS)
def test_bradypnea_noise_only_on_first_sample(version):
    # the authors' code calls awgn(mat(:,1)) for bradypnea: only sample 1 gets noise
    raw = authors_raw_signal("bradypnea", np.random.default_rng(5), version=version)
    np.testing.assert_array_equal(raw.noisy[1:], raw.clean[1:])
    assert raw.noisy[0] != raw.clean[0]


@fast
@given(seed=seeds, periods=st.integers(1, 2))
def test_noise_class(seed, periods):
    raw = authors_raw_signal("noise", np.random.default_rng(seed), duration_s=60.0 * periods)
    np.testing.assert_array_equal(raw.noisy, raw.clean)  # no awgn on top
    x = raw.clean
    spikes = x[(x == np.round(x)) & (np.abs(x) <= 10)]
    # 10 spikes per 60 s; positions may collide and N(0,1) draws are never integers
    assert 1 <= spikes.size <= 10 * periods
    body = x[x != np.round(x)]
    assert abs(np.std(body) - 1.0) < 0.15
    assert np.max(np.abs(x)) <= 10.0


# --- structure of each pattern ---------------------------------------------------------------


@pytest.mark.parametrize("version", AUTHORS_VERSIONS)
@pytest.mark.parametrize("pattern", list(RHYTHMIC_RANGES_BPM))
def test_rhythmic_dominant_rate(pattern, version):
    labels, x = authors_dataset([pattern], 200, np.random.default_rng(7), version=version)
    rates = dominant_rate_bpm(x)
    lo, hi = RHYTHMIC_RANGES_BPM[pattern]
    inside = (rates >= lo - 1.5) & (rates <= hi + 1.5)
    # segment jumps broaden the spectrum; most signals still peak at one of their segments' b
    assert inside.mean() >= 0.8, (pattern, version, np.percentile(rates, [5, 50, 95]))
    assert lo <= np.median(rates) <= hi


@pytest.mark.parametrize("version,per_60", [("2019", 10), ("2020", 5)])
@pytest.mark.parametrize("periods", [1, 3])
def test_rhythmic_breakpoint_count(version, per_60, periods):
    raw = authors_raw_signal(
        "eupnea", np.random.default_rng(1), duration_s=60.0 * periods, version=version
    )
    assert len(raw.bounds_s) == per_60 * periods + 2
    assert raw.bounds_s[0] == 0 and raw.bounds_s[-1] == 60 * periods
    assert list(raw.bounds_s) == sorted(raw.bounds_s)
    assert raw.apneas_s == ()


@fast
@given(seed=seeds, version=st.sampled_from(AUTHORS_VERSIONS))
def test_biots_apnea(seed, version):
    raw = authors_raw_signal("biots", np.random.default_rng(seed), version=version)
    ((start_s, end_s),) = raw.apneas_s
    assert end_s == 60 and 10 <= end_s - start_s <= 60
    assert start_s >= raw.bounds_s[-3]  # after the last breathing breakpoint r5
    assert all(b <= 50 for b in raw.bounds_s[:-1])
    x = authors_signal("biots", np.random.default_rng(seed), version=version)
    if start_s >= 8:  # enough breathing to measure
        assert window_std(x, start_s, 60) < 0.6 * window_std(x, 0, start_s)
    if start_s >= 20:
        assert dominant_rate_bpm(x[: int(start_s * RATE_HZ)])[0] > 18.0


@fast
@given(seed=seeds, version=st.sampled_from(AUTHORS_VERSIONS))
def test_central_apnea(seed, version):
    raw = authors_raw_signal("central_apnea", np.random.default_rng(seed), version=version)
    ((start_s, end_s),) = raw.apneas_s
    assert end_s == 60 and end_s - start_s >= 20
    assert start_s >= raw.bounds_s[-3]
    x = authors_signal("central_apnea", np.random.default_rng(seed), version=version)
    if start_s >= 8:
        assert window_std(x, start_s, 60) < 0.6 * window_std(x, 0, start_s)


@fast
@given(seed=seeds, version=st.sampled_from(AUTHORS_VERSIONS))
def test_cheyne_stokes_layout(seed, version):
    raw = authors_raw_signal("cheyne_stokes", np.random.default_rng(seed), version=version)
    ((start_s, end_s),) = raw.apneas_s
    assert end_s == 60 and 20 <= end_s - start_s <= 22
    _, r1, r2, r3, r4, r5, apnea_start, _ = raw.bounds_s
    assert 0 <= r1 <= 4 and 10 <= r2 <= 14 and 16 <= r3 <= 20 and 26 <= r4 <= 30
    assert 38 <= r5 <= 40 and apnea_start == start_s
    x = authors_signal("cheyne_stokes", np.random.default_rng(seed), version=version)
    # within one segment the drift is a straight line, so a detrended std measures a alone
    high = max(segment_std(x, r2, r3), segment_std(x, r3, r4))
    low = max(segment_std(x, r1, r2), segment_std(x, r4, r5))
    assert high > 1.3 * low  # a: high 0.6-0.9, low 0.2-0.4
    assert window_std(x, 40, 60) < 0.5 * high  # the apnea


def test_cheyne_stokes_high_phase_between_10_and_30_s():
    _, x = authors_dataset(["cheyne_stokes"], 200, np.random.default_rng(2))
    vig = most_vigorous_s(x)
    # segment jumps occasionally win, so this is a share, not every signal
    assert np.mean((vig >= 10.0) & (vig <= 30.0)) >= 0.9


@pytest.mark.parametrize("pattern", ["biots", "cheyne_stokes", "central_apnea"])
def test_periodic_patterns_repeat_every_60_s(pattern):
    raw = authors_raw_signal(pattern, np.random.default_rng(4), duration_s=180.0)
    assert len(raw.apneas_s) == 3
    for period, (start_s, end_s) in enumerate(raw.apneas_s):
        assert end_s == 60 * (period + 1)
        assert 60 * period < start_s < end_s - 9


def test_other_rate_keeps_whole_second_breakpoints():
    rate_hz = 20.0
    raw = authors_raw_signal("cheyne_stokes", np.random.default_rng(9), rate_hz=rate_hz)
    assert raw.clean.size == 1200
    ((start_s, _),) = raw.apneas_s
    t = np.arange(1200) / rate_hz
    # the apnea segment (a <= 0.05, d <= 0.01) starts exactly at its whole-second breakpoint
    apnea = raw.clean[t >= start_s]
    assert np.ptp(apnea) <= 2 * 0.05 + 0.01 * 22 + 1e-9
    assert np.ptp(raw.clean[(t >= start_s - 5) & (t < start_s)]) > 0.2


# --- comparison with the authors' own output -------------------------------------------------

AUTHORS_FILE = Path(__file__).resolve().parents[2] / "shared" / "data" / "rsm-authors" / "Breathing_TRAIN.csv"
# Two-sample KS bound: c(alpha) * sqrt((n + m) / (n m)) with n = 100 (file), m = 300 and
# c = 1.9 (alpha ~ 0.002) gives 0.22.
KS_MAX = 0.22


def _features(x: np.ndarray) -> dict[str, np.ndarray]:
    return {"rate_bpm": dominant_rate_bpm(x), "flat_share": flat_share(x),
            "most_vigorous_s": most_vigorous_s(x)}


@pytest.fixture(scope="module")
def authors_file():
    if not AUTHORS_FILE.exists():
        pytest.skip(f"{AUTHORS_FILE.parent.parent} (../shared/data) not found: comparison with the "
                    "authors' Breathing_TRAIN.csv skipped")
    data = np.loadtxt(AUTHORS_FILE, delimiter=",")
    return data[:, 0].astype(int), data[:, 1:]


@pytest.fixture(scope="module")
def generated_2019():
    return authors_dataset(BREATHING_PATTERNS, 300, np.random.default_rng(2019), version="2019")


def _worst_ks(file_rows: np.ndarray, gen_rows: np.ndarray) -> tuple[float, str]:
    fa, fb = _features(file_rows), _features(gen_rows)
    return max((ks_2samp(fa[k], fb[k]).statistic, k) for k in fa)


@pytest.mark.parametrize("pattern", BREATHING_PATTERNS)
def test_matches_authors_file(authors_file, generated_2019, pattern):
    file_labels, file_x = authors_file
    gen_labels, gen_x = generated_2019
    assert file_x.shape == (600, 600)
    a = file_x[file_labels == label_of(pattern)]
    b = gen_x[gen_labels == label_of(pattern)]
    assert a.shape[0] == 100
    np.testing.assert_allclose(a.min(axis=1), 0.0, atol=1e-9)
    np.testing.assert_allclose(a.max(axis=1), 1.0, atol=1e-9)
    fa, fb = _features(a), _features(b)
    for name in fa:
        d = ks_2samp(fa[name], fb[name]).statistic
        assert d < KS_MAX, (pattern, name, d, np.median(fa[name]), np.median(fb[name]))
    assert abs(np.median(fa["rate_bpm"]) - np.median(fb["rate_bpm"])) < 1.0
    assert abs(fa["flat_share"].mean() - fb["flat_share"].mean()) < 0.04


@pytest.mark.parametrize(
    "pattern,wrong",
    [("eupnea", "tachypnea"), ("tachypnea", "eupnea"), ("eupnea", "bradypnea"),
     ("biots", "central_apnea"), ("cheyne_stokes", "central_apnea"),
     ("central_apnea", "cheyne_stokes"), ("eupnea", "central_apnea")],
)
def test_comparison_rejects_wrong_generator(authors_file, generated_2019, pattern, wrong):
    file_labels, file_x = authors_file
    gen_labels, gen_x = generated_2019
    d, _ = _worst_ks(file_x[file_labels == label_of(pattern)], gen_x[gen_labels == label_of(wrong)])
    assert d > KS_MAX  # the same bound that the right generator passes


@pytest.mark.parametrize("pattern", ["eupnea", "bradypnea"])
def test_comparison_tells_the_versions_apart(authors_file, pattern):
    # the 2020 code (5 breakpoints, c +-0.4) is not what wrote the file
    file_labels, file_x = authors_file
    _, gen_x = authors_dataset([pattern], 300, np.random.default_rng(2020), version="2020")
    d, _ = _worst_ks(file_x[file_labels == label_of(pattern)], gen_x)
    assert d > KS_MAX
