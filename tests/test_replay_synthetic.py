"""The streaming path on synthetic depth recordings whose truth is exact."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from respmon.config import default_config
from respmon.replay import replay_recording
from tests.conftest import run_cli

FPS = 6
SIZE = ("--width", "212", "--height", "120", "--fps", str(FPS))


def _record(folder: Path, name: str, script: str, distance_m: float, seed: int) -> tuple[list[dict], dict]:
    out = folder / f"{name}.db3"
    code, _, err = run_cli("simulate", "recording", "--script", script, "--out", str(out), *SIZE,
                           "--distance-m", str(distance_m), "--seed", str(seed))
    assert code == 0, err
    truth = json.loads(out.with_name(f"{name}.truth.json").read_text())
    lines = list(replay_recording(out, default_config()))
    out.unlink()  # recordings are large: keep only what the test needs
    return lines, truth


RATES_BPM = (6, 12, 20, 30, 40)
DISTANCES_M = (1.0, 1.3, 1.6)


@pytest.fixture(scope="session")
def still_breathing(tmp_path_factory):
    folder = tmp_path_factory.mktemp("still")
    results = {}
    for i, bpm in enumerate(RATES_BPM):
        for j, distance in enumerate(DISTANCES_M):
            results[bpm, distance] = _record(folder, f"r{bpm}_{j}", f"eupnea@{bpm}:80", distance, 10 * i + j)
    return results


@pytest.mark.parametrize("bpm", RATES_BPM)
@pytest.mark.parametrize("distance", DISTANCES_M)
def test_rate_within_1_bpm_of_truth_for_still_breathing(still_breathing, bpm, distance):
    lines, truth = still_breathing[bpm, distance]
    windows = [w for w in lines if w["type"] == "window"]
    truth_bpm = truth["segments"][0]["rate_bpm"]
    rates = [w["rr_bpm"] for w in windows if w["t"] >= 30 and w["rr_bpm"] is not None]
    assert len(rates) >= 0.8 * len([w for w in windows if w["t"] >= 30])
    assert np.median(rates) == pytest.approx(truth_bpm, abs=1.0)
    assert all(w["present"] for w in windows if w["t"] >= 30)


@pytest.fixture(scope="session")
def eventful(tmp_path_factory):
    folder = tmp_path_factory.mktemp("events")
    return _record(folder, "events", "eupnea@15:50,central_apnea:25,eupnea@15:40,motion:4,eupnea@15:30,absent:20",
                   1.2, 7)


def _windows_in(lines, start_s, end_s):
    return [w for w in lines if w["type"] == "window" and start_s <= w["t"] < end_s]


def test_apnea_is_flat_and_not_a_slow_rate(eventful):
    lines, _ = eventful
    apnea = _windows_in(lines, 50, 75)
    # Declared after a pause of 10 s since the last breath, at the latest 12 s into the segment.
    late = [w for w in apnea if w["t"] >= 62]
    assert late and all(w["state"] == "apnea" and w["rr_bpm"] is None for w in late)
    assert all(w["rr_bpm"] is None or w["rr_bpm"] > 12 for w in apnea)
    seconds = [w["seconds_since_breath"] for w in late]
    assert seconds == sorted(seconds) and seconds[-1] >= 20
    flat = [w["displacement_mm"] for w in apnea if w["t"] >= 55]
    breathing = [w["displacement_mm"] for w in _windows_in(lines, 25, 50)]
    assert np.ptp(flat) < 0.25 * np.ptp(breathing)


def test_breathing_is_found_again_after_apnea(eventful):
    lines, _ = eventful
    after = _windows_in(lines, 95, 115)
    assert all(w["state"] == "breathing" for w in after)
    assert np.median([w["rr_bpm"] for w in after if w["rr_bpm"]]) == pytest.approx(15, abs=1.5)


def test_motion_gives_no_rate(eventful):
    lines, _ = eventful
    motion = _windows_in(lines, 116, 119)
    assert any(w["state"] == "motion" for w in motion)
    assert all(w["rr_bpm"] is None or w["quality"] < 0.5 for w in _windows_in(lines, 117, 120))


def test_empty_bed_is_a_state_not_a_rate(eventful):
    lines, _ = eventful
    absent = _windows_in(lines, 152, 169)
    assert absent and all(w["state"] == "absent" and w["present"] is False and w["rr_bpm"] is None for w in absent)
    summary = lines[-1]
    assert summary["type"] == "summary" and summary["windows"] == 169
