from __future__ import annotations

import json

import pytest

from tests.conftest import run_cli

SMALL_DEMO = """
simulation:
  recording:
    width: 212
    height: 120
    fps: 6
  demo:
    script: "eupnea@12:45,central_apnea:20,absent:15"
    seed: 4
"""


def test_demo_replays_the_configured_recording_through_the_pipeline(tmp_path):
    config = tmp_path / "small.yaml"
    config.write_text(SMALL_DEMO)
    code, out, err = run_cli("demo", "--config", str(config), "--keep", str(tmp_path))
    assert code == 0, err
    lines = [json.loads(line) for line in out.splitlines()]
    windows = [line for line in lines if line["type"] == "window"]
    assert [w["t"] for w in windows] == list(range(1, 81))
    assert [w["truth"]["pattern"] for w in windows] == ["eupnea"] * 45 + ["central_apnea"] * 20 + ["absent"] * 15
    rates = [w["rr_bpm"] for w in windows[20:45] if w["rr_bpm"] is not None]
    assert len(rates) >= 20 and all(r == pytest.approx(12, abs=1.0) for r in rates)
    assert all(w["state"] == "apnea" for w in windows[57:65])
    assert all(w["state"] == "absent" for w in windows[70:])
    assert lines[-1]["type"] == "summary" and lines[-1]["frames"] == 480
    assert (tmp_path / "demo.db3").exists() and (tmp_path / "demo.truth.json").exists()
