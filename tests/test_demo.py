from __future__ import annotations

import json

from tests.conftest import run_cli

SMALL_DEMO = """
simulation:
  recording:
    width: 212
    height: 120
    fps: 6
  demo:
    script: "eupnea@12:15,central_apnea:10,absent:5"
    seed: 4
"""


def test_demo_replays_the_configured_recording(tmp_path):
    config = tmp_path / "small.yaml"
    config.write_text(SMALL_DEMO)
    code, out, err = run_cli("demo", "--config", str(config), "--keep", str(tmp_path))
    assert code == 0, err
    lines = [json.loads(line) for line in out.splitlines()]
    windows = [line for line in lines if line["type"] == "window"]
    assert [w["t"] for w in windows] == list(range(30))
    assert all(w["frames"] == 6 for w in windows)
    assert [w["truth_pattern"] for w in windows] == ["eupnea"] * 15 + ["central_apnea"] * 10 + ["absent"] * 5
    summary = lines[-1]
    assert summary["type"] == "summary"
    assert summary["frames_played"] == summary["frames_written"] == 180
    assert summary["still_chest_depth_vs_truth_corr"] >= 0.9
    assert (tmp_path / "demo.db3").exists() and (tmp_path / "demo.truth.json").exists()
