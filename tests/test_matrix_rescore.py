"""bench/eval_matrix.py --rescore: a held-out run's stored windows classified by another model and
put through the alert engine again must be what a full run with that model gives, window for
window and alert for alert; otherwise a candidate's matrix figures would not be its own."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from bench_modules import load_bench
from respmon.classify.model_io import load_model, save_model
from respmon.sim.matrix import draw_scene

REPO = Path(__file__).resolve().parent.parent
TEST_SEEDS = range(900_000, 900_400)  # neither the matrix's dev nor its held-out split


def _eval_matrix():
    return load_bench("eval_matrix")


@pytest.fixture(scope="module")
def other_model(tmp_path_factory) -> Path:
    """The shipped network with its weights nudged: a different classifier whose answers still
    vary over a scene (a random network answers one class throughout)."""
    net, info = load_model()
    generator = torch.Generator().manual_seed(11)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.05 * p.abs().mean() * torch.randn(p.shape, generator=generator))
    path = tmp_path_factory.mktemp("model") / "nudged.pt"
    save_model(path, net, info["arch"], {"note": "test"})
    return path


def test_rescoring_a_scene_gives_what_a_full_run_with_that_model_gives(other_model):
    em = _eval_matrix()
    seed = next(s for s in TEST_SEEDS if draw_scene(s).kind == "apnea" and draw_scene(s).distance_m <= 1.3)
    em._init([])
    shipped = em.run_scene(seed)
    em._init([f"classifier.model={other_model}"])
    full = em.run_scene(seed)
    rescored = em.rescore_scene(shipped, em._state["config"], em._state["classifier"])
    changed = sum(a["probs"] != b["probs"] for a, b in zip(shipped["lines"], full["lines"]))
    assert changed > 0, "the two models answered alike: the test would not notice a rescore that changes nothing"
    assert rescored["lines"] == full["lines"]
    for key in ("windows", "onsets", "clears"):
        assert rescored[key] == full[key], key
    # ...and rescoring with the model that ran gives the run back.
    em._init([])
    again = em.rescore_scene(shipped, em._state["config"], em._state["classifier"])
    assert again["lines"] == shipped["lines"] and again["onsets"] == shipped["onsets"]


def test_rescore_refuses_results_without_stored_windows(tmp_path):
    old = tmp_path / "old.json"
    old.write_text(json.dumps({"scenes": [{"spec": {}, "windows": [], "onsets": []}]}))
    run = subprocess.run([sys.executable, str(REPO / "bench" / "eval_matrix.py"), "--split", "heldout",
                          "--rescore", str(old)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 2
    assert "no stored windows" in run.stderr and "Traceback" not in run.stderr
