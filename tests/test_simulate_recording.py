"""End to end: `respmon simulate recording` → .db3 + truth → pyrealsense2 playback."""

from __future__ import annotations

import json

import numpy as np
import pytest

from respmon.sources.recording import read_depth_recording, recording_info
from tests.conftest import run_cli

SCRIPT = "eupnea@15:20,central_apnea:12,eupnea:10,motion:3,absent:5"
FPS = 6


@pytest.fixture(scope="session")
def recording(tmp_path_factory):
    out = tmp_path_factory.mktemp("rec") / "bed.db3"
    code, _, err = run_cli("simulate", "recording", "--script", SCRIPT, "--out", str(out), "--fps", str(FPS),
                           "--distance-m", "1.2", "--seed", "3")
    assert code == 0, err
    truth = json.loads(out.with_name("bed.truth.json").read_text())
    frames = list(read_depth_recording(out))
    return out, truth, frames


def test_every_frame_plays_back_and_truth_matches_it(recording):
    path, truth, frames = recording
    expected = 50 * FPS
    assert truth["frames_written"] == expected
    assert truth["frames_played"] == len(frames) == expected
    assert truth["frames"]["frame_number"] == [f.frame_number for f in frames]
    stamps = np.array([f.timestamp_ms for f in frames])
    assert np.allclose(np.diff(stamps), 1000 / FPS, atol=0.01)
    info = recording_info(path)
    assert (info["width"], info["height"], info["fps"]) == (424, 240, FPS)
    assert info["depth_scale_m"] == pytest.approx(0.001)
    assert [s["pattern"] for s in truth["segments"]] == ["eupnea", "central_apnea", "eupnea", "motion", "absent"]
    assert truth["segments"][0]["rate_bpm"] == pytest.approx(15, abs=1)


def _chest_mm(truth, frames):
    x0, y0, x1, y1 = truth["chest_box_px"]
    levels = []
    for frame in frames:
        box = frame.depth_mm[y0:y1, x0:x1]
        levels.append(box[box > 0].mean())
    return np.array(levels)


def test_chest_depth_follows_truth_while_breathing_still(recording):
    _, truth, frames = recording
    chest = _chest_mm(truth, frames)
    displacement = np.array(truth["frames"]["displacement_mm"])
    t = np.array(truth["frames"]["t_s"])
    still = t < 20
    corr = np.corrcoef(-chest[still], displacement[still])[0, 1]
    assert corr >= 0.9
    # 1 mm of chest rise is about 1 mm less depth over the chest (the box also holds the abdomen).
    slope = np.polyfit(displacement[still], chest[still], 1)[0]
    assert -1.2 < slope < -0.3


def test_apnea_is_flat_and_empty_bed_is_deeper(recording):
    _, truth, frames = recording
    chest = _chest_mm(truth, frames)
    t = np.array(truth["frames"]["t_s"])
    breathing = chest[t < 20]
    apnea = chest[(t >= 25) & (t < 32)]
    assert np.ptp(apnea) < 0.5 * np.ptp(breathing)
    absent = chest[t >= 45]
    assert absent.mean() > breathing.mean() + 50  # the torso is gone: the mattress is further away
    assert not any(np.array(truth["frames"]["present"])[t >= 45])
