"""`respmon replay`: inputs it refuses (one line, exit 2) and the CSV waveform path."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from respmon.config import default_config
from respmon.replay import replay_waveform
from respmon.signal.resample import Resampler
from respmon.sources.waveform import WaveformError, read_waveform_csv
from tests.conftest import run_cli, shared_data
from tests.test_rs_recording import _write_color_only


def _refused(argv, fragment):
    code, out, err = run_cli("replay", *map(str, argv))
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and fragment in err and "Traceback" not in err
    return out


def test_real_one_frame_legacy_bag_is_too_short():
    bag = shared_data("realsense-bags", "single_depth_color_640x480.bag")
    _refused([bag], "recording too short to analyse")


@pytest.fixture(scope="module")
def small_recording(tmp_path_factory):
    out = tmp_path_factory.mktemp("small") / "small.db3"
    code, _, err = run_cli("simulate", "recording", "--script", "eupnea@15:12", "--out", str(out),
                           "--width", "212", "--height", "120", "--fps", "6")
    assert code == 0, err
    return out


def test_truncated_empty_garbage_and_colour_only_recordings(tmp_path, small_recording):
    data = small_recording.read_bytes()
    truncated = tmp_path / "truncated.db3"
    truncated.write_bytes(data[: len(data) // 2])
    _refused([truncated], "truncated or corrupt")
    empty = tmp_path / "empty.db3"
    empty.write_bytes(b"")
    _refused([empty], "recording is empty")
    garbage = tmp_path / "garbage.bag"
    garbage.write_bytes(b"not a bag at all\n" * 100)
    _refused([garbage], "truncated or corrupt")
    colour = tmp_path / "colour.db3"
    _write_color_only(colour)
    _refused([colour], "no depth stream")
    _refused([tmp_path / "missing.db3"], "recording not found")
    _refused([tmp_path / "notes.txt"], "unknown file type")


def test_short_synthetic_recording_is_too_short(tmp_path):
    out = tmp_path / "short.db3"
    assert run_cli("simulate", "recording", "--script", "eupnea:5", "--out", str(out), "--width", "212",
                   "--height", "120", "--fps", "6")[0] == 0
    _refused([out], "too short")


def test_recording_options_that_belong_to_csv(small_recording):
    _refused([small_recording, "--column", "x"], "--column and --rate-hz are for CSV")


@pytest.mark.parametrize(
    "text, argv, fragment",
    [
        ("", [], "empty file"),
        ("1,2\n3,4\n", [], "no header line"),
        ("t,a,b\n0,1,2\n", [], "several value columns (a, b)"),
        ("t,a\n0,1\n", ["--column", "z"], "no column 'z'"),
        ("a\n1\n2\n", [], "no time column"),
        ("t,a\n0,1\n0.1,oops\n", [], ":3: not a number"),
        ("t,a\n0,1\n0,2\n", [], "does not increase"),
        ("t,a\n0,1\n0.1,2\n", [], "too short"),
    ],
)
def test_bad_csv_waveforms(tmp_path, text, argv, fragment):
    path = tmp_path / "w.csv"
    path.write_text(text)
    _refused([path, *argv], fragment)


def _breathing_csv(path, bpm=18.0, seconds=60, rate_hz=25.0, header="t", scale=1.0):
    t = np.arange(int(seconds * rate_hz)) / rate_hz
    x = 4 * np.sin(2 * np.pi * bpm / 60 * t) + np.random.default_rng(0).normal(0, 0.2, len(t))
    rows = "\n".join(f"{a * scale:.4f},{b:.4f}" for a, b in zip(t, x))
    path.write_text(f"{header},belt\n{rows}\n")


@pytest.mark.parametrize("header, scale", [("t", 1.0), ("timestamp", 1000.0)])
def test_csv_waveform_replay(tmp_path, header, scale):
    path = tmp_path / "belt.csv"
    _breathing_csv(path, header=header, scale=scale)
    code, out, err = run_cli("replay", str(path))
    assert code == 0, err
    lines = [json.loads(line) for line in out.splitlines()]
    windows = [line for line in lines if line["type"] == "window"]
    assert [w["t"] for w in windows] == list(range(1, 61))
    assert all(w["rr_bpm"] == pytest.approx(18, abs=0.5) for w in windows if w["t"] >= 20)
    assert lines[-1]["type"] == "summary" and lines[-1]["median_rr_bpm"] == pytest.approx(18, abs=0.3)


def test_csv_without_time_column_needs_and_uses_rate(tmp_path):
    path = tmp_path / "plain.csv"
    t = np.arange(3000) / 50.0
    path.write_text("RSP\n" + "\n".join(f"{v:.4f}" for v in np.sin(2 * np.pi * 0.2 * t)) + "\n")
    lines = list(replay_waveform(path, default_config(), None, 50.0))
    assert lines[-1]["median_rr_bpm"] == pytest.approx(12, abs=0.3)
    with pytest.raises(WaveformError, match="--rate-hz"):
        read_waveform_csv(path)


def test_plot_is_written(tmp_path):
    path = tmp_path / "belt.csv"
    _breathing_csv(path, seconds=30)
    plot = tmp_path / "out.png"
    code, _, err = run_cli("replay", str(path), "--plot", str(plot))
    assert code == 0, err
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    _refused([path, "--plot", tmp_path / "out.gif"], "--plot")


def _resampled(times, values, rate_hz=10.0):
    resampler = Resampler(rate_hz)
    out = [pair for t, v in zip(times, values) for pair in resampler.feed(float(t), float(v))]
    return np.array([t for t, _ in out]), np.array([v for _, v in out])


@settings(max_examples=40, deadline=None, derandomize=True)
@given(st.lists(st.floats(0.01, 0.3), min_size=5, max_size=200), st.floats(1.0, 50.0))
def test_resampler_gives_a_regular_grid_and_interpolates(steps, rate_hz):
    times = np.cumsum(steps)
    ts, vs = _resampled(times, 2.0 * times + 1.0, rate_hz)  # a line: interpolation is exact
    if not len(ts):
        return
    step = 1.0 / rate_hz
    assert np.allclose(np.diff(ts), step, atol=1e-6)
    offsets = (ts - times[0]) / step
    assert np.allclose(offsets, np.round(offsets), atol=1e-6)  # the grid is anchored at the first sample
    assert times[0] - 1e-9 <= ts[0] <= times[0] + step + 1e-9 and ts[-1] <= times[-1] + 1e-9
    assert np.allclose(vs, 2.0 * ts + 1.0, atol=1e-6)


def test_resampler_averages_the_frames_of_a_faster_camera():
    rng = np.random.default_rng(910_001)
    for fps, frames_per_sample in ((30.0, 3), (20.0, 2)):
        times = np.arange(0, 600, 1 / fps)
        _, noise = _resampled(times, rng.standard_normal(times.size))
        # Independent frame noise averages down by about sqrt(frames per sample), not just kept
        # (interpolating between the two frames around each grid time leaves 0.7-1 of it).
        assert noise.std() <= 1.08 / np.sqrt(frames_per_sample)


@settings(max_examples=30, deadline=None, derandomize=True)
@given(st.sampled_from([6.0, 15.0, 30.0, 60.0]), st.floats(6.0, 45.0), st.floats(0.0, 0.3))
def test_resampler_keeps_breaths_in_time(fps, bpm, jitter_share):
    # Averaging must not move a breath: a sine sampled by a jittery camera comes out on the grid
    # close to the sine at the grid times, whatever the frame rate.
    rng = np.random.default_rng(int(fps * 1000 + bpm * 10))
    times = np.arange(0, 60, 1 / fps) + rng.uniform(-jitter_share, jitter_share, int(np.ceil(60 * fps))) / fps
    times = np.sort(times)
    f_hz = bpm / 60
    ts, vs = _resampled(times, np.sin(2 * np.pi * f_hz * times))
    # Interpolating between points dt apart errs by at most (w dt)^2 / 8 on a unit sine; the
    # centroids of a faster camera are about one grid step (0.1 s) apart.
    dt = max(float(np.max(np.diff(times))), 0.15)
    assert np.max(np.abs(vs - np.sin(2 * np.pi * f_hz * ts))) < (2 * np.pi * f_hz * dt) ** 2 / 8 + 0.01


def test_resampler_is_interpolation_for_a_slower_camera():
    times = np.arange(0, 30, 1 / 6) + 0.013
    values = np.cos(times)
    ts, vs = _resampled(times, values)
    assert np.allclose(vs, np.interp(ts, times, values), atol=1e-9)


def test_replay_lines_carry_the_shipped_classifiers_pattern(tmp_path):
    path = tmp_path / "belt.csv"
    _breathing_csv(path, bpm=15.0, seconds=80)
    code, out, err = run_cli("replay", str(path))
    assert code == 0, err
    windows = [json.loads(line) for line in out.splitlines() if '"window"' in line]
    early, late = windows[:59], windows[60:]
    assert all(w["pattern"] is None and w["probs"] is None for w in early)  # under 60 s of signal
    assert all(w["pattern"] == "eupnea" and w["confidence"] > 0.5 for w in late)
    assert all(abs(sum(w["probs"].values()) - 1) < 1e-3 for w in late)


def test_noisy_breathing_is_never_called_apnea(tmp_path):
    # A distant camera: breathing barely above the noise. Breaths hidden by noise are not a pause.
    rng = np.random.default_rng(11)
    t = np.arange(0, 90, 1 / 15.0)
    x = 3.0 * np.sin(2 * np.pi * 0.25 * t) + rng.normal(0, 3.0, len(t))
    path = tmp_path / "far.csv"
    path.write_text("t,displacement\n" + "\n".join(f"{a:.4f},{b:.4f}" for a, b in zip(t, x)) + "\n")
    lines = [json.loads(line) for line in run_cli("replay", str(path))[1].splitlines()]
    windows = [w for w in lines if w["type"] == "window"]
    assert not any(w["state"] == "apnea" for w in windows)
    rated = [w["rr_bpm"] for w in windows if w["rr_bpm"] is not None]
    assert all(abs(r - 15) <= 1.5 for r in rated)


def test_short_rate_windows_still_leave_the_classifier_its_60_s(tmp_path):
    config = tmp_path / "short.yaml"
    config.write_text("rate:\n  window_s: 20\n  long_window_s: 30\n")
    path = tmp_path / "belt.csv"
    _breathing_csv(path, bpm=15.0, seconds=70)
    code, out, err = run_cli("replay", str(path), "--config", str(config))
    assert code == 0, err
    windows = [json.loads(line) for line in out.splitlines() if '"window"' in line]
    assert windows[-1]["pattern"] == "eupnea" and windows[-1]["rr_bpm"] == pytest.approx(15, abs=0.5)
