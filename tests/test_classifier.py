from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest
import torch

from respmon.classify.data import normalize_windows, resample_to_window_rate, training_set, windows_of
from respmon.classify.model_io import ModelError, load_model, save_model
from respmon.classify.nets import ARCHS, build
from respmon.classify.train import predict, train
from tests.conftest import run_cli


@pytest.fixture(scope="module")
def tiny_data():
    x, y = training_set(30, seed=5, progress=False)
    return x, y


@pytest.fixture(scope="module")
def tiny_model(tiny_data):
    torch.set_num_threads(1)
    x, y = tiny_data
    return train("biatgru", x, y, epochs=12, seed=3, batch=16, progress=False)


def test_tiny_model_learns(tiny_model, tiny_data):
    net, history = tiny_model
    x, y = tiny_data
    assert history.loss[-1] < 0.6 * history.loss[0]
    assert float((predict(net, x).argmax(1) == y).mean()) > 3 / 7  # chance is 1/7


def test_same_seed_same_model(tiny_data):
    torch.set_num_threads(1)
    x, y = tiny_data
    a, _ = train("cnn", x[:56], y[:56], epochs=2, seed=9, progress=False)
    b, _ = train("cnn", x[:56], y[:56], epochs=2, seed=9, progress=False)
    c, _ = train("cnn", x[:56], y[:56], epochs=2, seed=10, progress=False)
    for (name, wa), wb, wc in zip(a.state_dict().items(), b.state_dict().values(), c.state_dict().values()):
        assert torch.equal(wa, wb), name
    assert any(not torch.equal(wa, wc) for wa, wc in zip(a.state_dict().values(), c.state_dict().values()))


def test_saved_model_loads_without_code_and_predicts_the_same(tiny_model, tiny_data, tmp_path):
    net, _ = tiny_model
    x, _ = tiny_data
    path = tmp_path / "tiny.pt"
    save_model(path, net, "biatgru", {"seed": 3, "note": "test"})
    loaded, info = load_model(path)  # torch.load(weights_only=True) inside
    assert info["arch"] == "biatgru" and info["meta"]["seed"] == 3
    assert np.allclose(predict(net, x), predict(loaded, x), atol=1e-6)


@pytest.mark.parametrize("content, fragment", [
    (b"", "not a readable model file"),
    (b"garbage" * 10, "not a readable model file"),
])
def test_bad_model_files(tmp_path, content, fragment):
    path = tmp_path / "bad.pt"
    path.write_bytes(content)
    with pytest.raises(ModelError, match=fragment):
        load_model(path)
    with pytest.raises(ModelError, match="not found"):
        load_model(tmp_path / "missing.pt")


def test_foreign_torch_file_is_refused(tmp_path):
    path = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(3)}, path)
    with pytest.raises(ModelError, match="not a respmon classifier"):
        load_model(path)


@pytest.mark.parametrize("arch", ARCHS)
def test_every_architecture_maps_windows_to_seven_logits(arch):
    torch.manual_seed(0)
    out = build(arch)(torch.randn(3, 600))
    assert out.shape == (3, 7)


def test_normalisation_makes_units_irrelevant():
    x = np.sin(np.linspace(0, 30, 600))[None, :]
    assert np.allclose(normalize_windows(x), normalize_windows(1000 * x + 7), atol=1e-5)


def test_resampling_and_windowing():
    x = np.sin(2 * np.pi * 0.25 * np.arange(0, 150, 1 / 15.0))  # 150 s at 15 Hz
    y = resample_to_window_rate(x, 15.0)
    assert len(y) == 1500
    assert windows_of(y, 30.0).shape == (4, 600)
    assert windows_of(y[:500], 30.0).shape == (0, 600)


def test_classify_cli_with_labels(tiny_model, tmp_path):
    net, _ = tiny_model
    model = tmp_path / "tiny.pt"
    save_model(model, net, "biatgru", {})
    rng = np.random.default_rng(0)
    t = np.arange(0, 90, 1 / 25.0)
    rows = [np.concatenate([[1], np.sin(2 * np.pi * 0.25 * t) + rng.normal(0, 0.05, len(t))]),
            np.concatenate([[7], rng.normal(0, 1, len(t))])]
    data = tmp_path / "rows.csv"
    data.write_text("\n".join(",".join(f"{v:g}" for v in row) for row in rows) + "\n")
    code, out, err = run_cli("classify", str(data), "--rate-hz", "25", "--labels", "first-column",
                             "--model", str(model))
    assert code == 0, err
    lines = [json.loads(line) for line in out.splitlines()]
    assert [line["row"] for line in lines[:2]] == [0, 1]
    assert all(abs(sum(line["probs"].values()) - 1) < 1e-3 for line in lines[:2])
    assert lines[0]["label"] == "eupnea" and lines[1]["label"] == "noise"
    summary = lines[-1]
    assert summary["type"] == "summary" and summary["rows"] == 2
    assert np.array(summary["confusion"]).sum() == 2


@pytest.mark.parametrize("text, argv, fragment", [
    ("1,2,3\n", ["--rate-hz", "10"], "shorter than the 60 s window"),
    ("1,a,3\n", ["--rate-hz", "10"], ":1: not a row of numbers"),
    ("9," + ",".join(["0"] * 700) + "\n", ["--rate-hz", "10", "--labels", "first-column"], "labels 1..7"),
    ("", ["--rate-hz", "10"], "no signals"),
])
def test_classify_cli_refuses_bad_input(tiny_model, tmp_path, text, argv, fragment):
    net, _ = tiny_model
    model = tmp_path / "tiny.pt"
    save_model(model, net, "biatgru", {})
    data = tmp_path / "rows.csv"
    data.write_text(text)
    code, _, err = run_cli("classify", str(data), *argv, "--model", str(model))
    assert code == 2 and len(err.strip().splitlines()) == 1 and fragment in err


def test_train_cli_refuses_reserved_seed_and_bad_output(tmp_path):
    code, _, err = run_cli("train", "--seed", "2000001", "--model", str(tmp_path / "m.pt"))
    assert code == 2 and "reserved" in err
    code, _, err = run_cli("train", "--model", str(tmp_path / "m.bin"))
    assert code == 2 and "must end in .pt" in err


def _scene_file(path, **arrays):
    np.savez(path, **arrays)
    return path


@pytest.mark.parametrize("make, fragment", [
    (lambda p: p / "missing.npz", "does not exist"),
    (lambda p: (p / "text.npz").write_text("not numpy") and p / "text.npz", "not a scene-window file"),
    (lambda p: _scene_file(p / "nolabels.npz", windows=np.zeros((2, 600))), "not a scene-window file"),
    (lambda p: _scene_file(p / "short.npz", windows=np.zeros((2, 300)), labels=np.zeros(2, int)), "600 samples"),
    (lambda p: _scene_file(p / "label.npz", windows=np.zeros((2, 600)), labels=np.array([0, 9])), "class indices"),
    (lambda p: _scene_file(p / "nan.npz", windows=np.full((1, 600), np.nan), labels=np.zeros(1, int)), "NaN"),
])
def test_train_cli_refuses_bad_scene_windows(tmp_path, make, fragment):
    path = make(tmp_path)
    code, _, err = run_cli("train", "--scene-windows", str(path), "--model", str(tmp_path / "m.pt"))
    assert code == 2 and len(err.strip().splitlines()) == 1 and fragment in err, err


def test_code_revision_names_the_commit_and_a_dirty_tree(tmp_path):
    from respmon.classify.model_io import code_revision

    assert code_revision(tmp_path) == "unknown"  # not a checkout
    git = ["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run(git[:3] + ["init", "-q"], check=True)
    (tmp_path / "a.py").write_text("x = 1\n")
    subprocess.run(git + ["add", "a.py"], check=True)
    subprocess.run(git + ["commit", "-q", "-m", "a"], check=True)
    commit = subprocess.run(git[:3] + ["rev-parse", "--short=7", "HEAD"], capture_output=True, text=True).stdout.strip()
    assert code_revision(tmp_path) == commit
    (tmp_path / "a.py").write_text("x = 2\n")
    assert code_revision(tmp_path) == f"{commit}-dirty"
