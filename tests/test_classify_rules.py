import numpy as np
import pytest

from respmon.classify.rules import rule_classify, rule_classify_batch, rule_features
from respmon.patterns import PATTERNS
from respmon.sim.rsm_authors import authors_signal
from respmon.sim.rsm_physiological import physiological_signal

RATE_HZ = 10.0
T = np.arange(600) / RATE_HZ


def sine(bpm: float, noise: float = 0.02, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.sin(2 * np.pi * bpm / 60.0 * T) + noise * rng.standard_normal(T.size)


@pytest.mark.parametrize("bpm, expected", [(15, "eupnea"), (8, "bradypnea"), (30, "tachypnea")])
def test_rate_classes(bpm, expected):
    assert rule_classify(sine(bpm), RATE_HZ) == expected


def test_pause_is_central_apnea():
    x = sine(15)
    x[400:] = 0.02 * np.random.default_rng(1).standard_normal(200)  # 40 s breathing, 20 s flat
    f = rule_features(x, RATE_HZ)
    assert f["longest_pause_s"] >= 15.0 and f["n_pauses"] == 1
    assert rule_classify(x, RATE_HZ) == "central_apnea"


def test_low_amplitude_apnea_segment_counts_as_pause():
    # like the RSM authors' apneas: a small sinusoid plus noise, offset from the breathing
    x = sine(15)
    x[400:] = 0.3 + 0.08 * np.sin(2.5 * T[400:]) + 0.02 * np.random.default_rng(2).standard_normal(200)
    assert rule_classify(x, RATE_HZ) == "central_apnea"


def test_white_noise_is_noise():
    for seed in range(3):
        x = np.random.default_rng(seed).standard_normal(600)
        assert rule_classify(x, RATE_HZ) == "noise"


def test_fast_clusters_are_biots_and_waxing_waning_is_cheyne_stokes():
    biots = sine(26)
    biots[150:300] = 0.0
    biots[420:] = 0.0
    assert rule_classify(biots, RATE_HZ) == "biots"
    envelope = np.clip(np.sin(np.pi * T / 40.0), 0.0, None)  # 40 s crescendo-decrescendo, then apnea
    cs = envelope * np.sin(2 * np.pi * 16 / 60.0 * T) + 0.01 * np.random.default_rng(3).standard_normal(600)
    assert rule_classify(cs, RATE_HZ) == "cheyne_stokes"


@pytest.mark.parametrize("scale, offset", [(1000.0, 0.0), (1e-3, 5.0), (-1.0, 0.0)])
def test_unit_independence(scale, offset):
    rng = np.random.default_rng(7)
    for pattern in PATTERNS:
        x = physiological_signal(pattern, rng).displacement_mm
        base = rule_classify(x, RATE_HZ)
        if scale > 0:
            assert rule_classify(scale * x + offset, RATE_HZ) == base
        else:  # a flipped sign (camera axis) still gives a valid class
            assert rule_classify(scale * x, RATE_HZ) in PATTERNS


def test_batch_equals_single():
    rng = np.random.default_rng(11)
    rows = [authors_signal(p, rng, version="2019") for p in PATTERNS]
    rows += [physiological_signal(p, rng).displacement_mm for p in PATTERNS]
    x = np.vstack(rows)
    batch = rule_classify_batch(x, RATE_HZ)
    assert batch.dtype == np.int64 and batch.shape == (len(rows),)
    assert [PATTERNS[k] for k in batch] == [rule_classify(r, RATE_HZ) for r in rows]
    assert rule_classify_batch(x[0], RATE_HZ).tolist() == [batch[0]]


def test_flat_and_short_windows_do_not_crash():
    assert rule_classify(np.zeros(600), RATE_HZ) == "noise"
    assert rule_classify(np.ones(3), RATE_HZ) in PATTERNS


def test_features_are_reported():
    f = rule_features(sine(15), RATE_HZ)
    for key in ("rate_bpm", "quality", "longest_pause_s", "n_pauses", "amplitude_cv", "taper",
                "hump", "pause_share"):
        assert key in f
    assert f["rate_bpm"] == pytest.approx(15.0, abs=0.5)
    assert f["n_pauses"] == 0 and f["pause_share"] == 0.0
