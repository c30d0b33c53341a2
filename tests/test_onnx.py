"""Inference on ONNX Runtime (respmon/classify/onnx_model.py, onnx_export.py): every model's graph
gives torch's probabilities, training writes it, a stale one is never used, the inference
commands do not import torch, and a bad graph is one line."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from respmon.classify import data as classify_data
from respmon.classify.data import normalize_windows
from respmon.classify.infer import PatternClassifier
from respmon.classify.model_io import load_model, save_model
from respmon.classify.nets import build
from respmon.classify.train import predict
from respmon.classify_cmd import TEST_SEEDS
from respmon.patterns import PATTERNS
from tests.conftest import REPO, run_cli

MODELS = ["biatgru.pt", "baselines/gru.pt", "baselines/lstm.pt", "baselines/biatlstm.pt", "baselines/cnn.pt"]


@pytest.fixture(scope="module")
def held_out_1000():
    """1,000 windows of the held-out test sets (the first 48 per class of each mode)."""
    parts = [classify_data.test_set(48, seed, mode)[0] for mode, seed in TEST_SEEDS.items()]
    return np.concatenate(parts)[:1000]


@pytest.mark.parametrize("name", MODELS)
def test_every_shipped_model_runs_on_onnx_runtime_and_gives_torchs_probabilities(name, held_out_1000):
    path = REPO / "models" / name
    onnx_classifier = PatternClassifier(path)
    assert onnx_classifier.runtime == "onnxruntime", "the .onnx beside the shipped .pt is paired with it"
    net, info = load_model(path)
    expected = predict(net, normalize_windows(held_out_1000))
    got = onnx_classifier.probabilities(held_out_1000)
    assert got.shape == (1000, 7)
    assert float(np.abs(got - expected).max()) <= 1e-4
    assert onnx_classifier.version == f"{info['arch']}@{info['meta']['code_revision']}"
    # batch 1, as the daemon runs it, too
    assert np.abs(onnx_classifier.probabilities(held_out_1000[:1]) - expected[:1]).max() <= 1e-4


def test_training_writes_the_graph_beside_the_weights_and_a_replaced_pt_is_not_paired_with_it(tmp_path):
    a, b = tmp_path / "a.pt", tmp_path / "b.pt"
    net_a = build("biatgru").eval()
    save_model(a, net_a, "biatgru", {"code_revision": "model-a"})
    save_model(b, build("cnn").eval(), "cnn", {"code_revision": "model-b"})
    assert a.with_suffix(".onnx").is_file() and b.with_suffix(".onnx").is_file()
    x = np.random.default_rng(1).normal(size=(20, 600))
    classifier = PatternClassifier(a)
    assert (classifier.runtime, classifier.version) == ("onnxruntime", "biatgru@model-a")
    assert np.abs(classifier.probabilities(x) - predict(net_a, normalize_windows(x))).max() <= 1e-4
    # The .pt replaced in place (a deployment copying only the weights): the old graph is not used.
    shutil.copyfile(b, a)
    classifier = PatternClassifier(a)
    assert (classifier.runtime, classifier.version) == ("torch", "cnn@model-b")
    # The graph named directly runs on its own, whatever .pt is beside it.
    classifier = PatternClassifier(b.with_suffix(".onnx"))
    assert (classifier.runtime, classifier.version) == ("onnxruntime", "cnn@model-b")


def test_the_inference_commands_and_the_daemons_model_do_not_import_torch(tmp_path):
    x = np.random.default_rng(2).normal(size=(2, 600))
    data = tmp_path / "rows.csv"
    data.write_text("\n".join(",".join(f"{v:.4f}" for v in row) for row in x) + "\n")
    wave = tmp_path / "wave.csv"
    t = np.arange(900) / 10
    wave.write_text("t,chest_mm\n" + "".join(f"{a:.1f},{4 * np.sin(2 * np.pi * a / 4):.3f}\n" for a in t))
    script = (
        "import sys, io, contextlib\n"
        "from respmon.cli import main\n"
        "for argv in sys.argv[1:]:\n"
        "    with contextlib.redirect_stdout(io.StringIO()):\n"
        "        assert main(argv.split('|')) == 0, argv\n"
        "from respmon.config import default_config\n"
        "from respmon.daemon.app import Daemon, load_configured_model\n"
        "classifier, _ = load_configured_model(default_config())  # what `respmon run` loads\n"
        "assert classifier.runtime == 'onnxruntime'\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
        "print('ok')\n")
    done = subprocess.run([sys.executable, "-c", script, f"classify|{data}|--rate-hz|10",
                           f"replay|{wave}|--column|chest_mm"],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]


def test_a_graph_that_is_not_a_respmon_classifier_is_one_line(tmp_path):
    import onnx
    from onnx import TensorProto, helper

    data = tmp_path / "rows.csv"
    data.write_text(",".join(["0.1"] * 600) + "\n")
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"\x08\x07 not a graph at all")
    identity = tmp_path / "identity.onnx"
    graph = helper.make_graph([helper.make_node("Identity", ["window"], ["logits"])], "g",
                              [helper.make_tensor_value_info("window", TensorProto.FLOAT, [None, 600])],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [None, 600])])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(identity))
    labelled = tmp_path / "labelled-identity.onnx"  # the metadata of a classifier, the wrong output
    graph = onnx.load(str(identity))
    entry = graph.metadata_props.add()
    entry.key, entry.value = "respmon", json.dumps({"arch": "biatgru", "classes": list(PATTERNS), "meta": {}})
    onnx.save(graph, str(labelled))
    for model, says in ((garbage, "not a readable ONNX model"), (identity, "not a respmon classifier graph"),
                        (labelled, "a window gives (1, 600), not 7 finite logits"),
                        (tmp_path / "missing.onnx", "model file not found")):
        code, out, err = run_cli("classify", data, "--rate-hz", "10", "--model", model)
        assert code == 2 and out == "" and len(err.strip().splitlines()) == 1, err
        assert says in err and "Traceback" not in err


def test_a_graph_copied_after_its_pt_is_loaded_by_the_next_sighup(tmp_path):
    # The daemon's fingerprint covers the .onnx beside the .pt: copying the .pt first and its graph
    # second is a deployment in two steps, each taken by a SIGHUP.
    from respmon.config import load_config
    from respmon.daemon.app import load_configured_model

    a, b = tmp_path / "a.pt", tmp_path / "b.pt"
    save_model(a, build("biatgru").eval(), "biatgru", {"code_revision": "model-a"})
    save_model(b, build("biatgru").eval(), "biatgru", {"code_revision": "model-b"})
    deployed = tmp_path / "deployed.pt"
    shutil.copyfile(a, deployed)
    shutil.copyfile(a.with_suffix(".onnx"), deployed.with_suffix(".onnx"))
    config_path = tmp_path / "respmon.yaml"
    config_path.write_text(f'classifier:\n  model: "{deployed}"\n', encoding="utf-8")
    config = load_config(config_path)
    classifier, first = load_configured_model(config)
    assert (classifier.runtime, classifier.version) == ("onnxruntime", "biatgru@model-a")
    shutil.copyfile(b, deployed)  # step 1: the weights; the graph beside is now stale
    classifier, second = load_configured_model(config, unchanged=first)
    assert (classifier.runtime, classifier.version) == ("torch", "biatgru@model-b")
    shutil.copyfile(b.with_suffix(".onnx"), deployed.with_suffix(".onnx"))  # step 2: the graph
    reloaded = load_configured_model(config, unchanged=second)
    assert reloaded is not None and (reloaded[0].runtime, reloaded[0].version) == ("onnxruntime", "biatgru@model-b")
    assert load_configured_model(config, unchanged=reloaded[1]) is None  # nothing changed since


def test_a_camera_without_pyrealsense2_is_one_line_before_anything_starts(tmp_path, monkeypatch):
    from respmon import optional
    from respmon.config import load_config
    from respmon.daemon.app import _check_setup

    monkeypatch.setattr(optional, "import_realsense", lambda: optional.Missing(optional.REALSENSE_MISSING))
    config_path = tmp_path / "respmon.yaml"
    config_path.write_text("source:\n  kind: camera\npublish:\n  insecure: true\n", encoding="utf-8")
    with pytest.raises(optional.MissingExtra, match="respmon\\[camera\\]"):
        _check_setup(load_config(config_path), config_path)
