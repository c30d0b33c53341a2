"""`respmon train --finetune` and `respmon evaluate --compare` (respmon/classify/finetune.py).

The labelled set is made here (its own small writer: the exporter, `respmon labels export`, is not
needed): four beds whose regular 14 bpm breathing has a long end-expiratory pause (a short breath,
then 70 % of the cycle flat), which the shipped model mostly reads as tachypnea: each bed's false
tachypnea alarms, labelled eupnea by the operator, and a few true alarms of the other patterns that
the shipped model reads right. A fifth bed of the same style, never trained on, measures what the
fine-tune learnt. Tiny settings (1 epoch, 30 RSM windows per class and mode) keep the file fast; the
held-out RSM sets are the full ones (300 windows per class and mode, as `respmon evaluate` scores),
so the gate's 0.5 points mean what they say.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from respmon.classify.data import normalize_windows
from respmon.classify.finetune import (ALARM_PATTERNS, LABELLED_SHARE, grouped_folds, repeats,
                                       rsm_per_class_for)
from respmon.classify.model_io import DEFAULT_MODEL, load_model
from respmon.classify.train import predict
from respmon.patterns import PATTERNS, label_of
from tests.conftest import REPO, run_cli

SEED = 11
TINY = ["--epochs", "2", "--rsm-per-class", "20", "--seed", str(SEED)]
STYLE_PER_BED, TRUE_ALARMS_PER_BED = 10, 10
UNSEEN_BED_WINDOWS = 40


# ---- the labelled set -----------------------------------------------------------------------------

def paused_breathing(rng: np.random.Generator, bpm: float, pause: float) -> np.ndarray:
    """60 s at 10 Hz (mm) of regular breathing: each cycle a raised-cosine breath over (1 - pause) of
    it, then flat; a little sensor noise and slow wander; any phase."""
    t = np.arange(800) / 10.0
    period = 60.0 / bpm * rng.uniform(0.97, 1.03)
    phase = (t + rng.uniform(0, period)) % period / period
    active = 1.0 - pause
    x = np.where(phase < active, 0.5 * (1 - np.cos(2 * np.pi * phase / active)), 0.0) * rng.uniform(3, 8)
    x = x + rng.normal(0, 0.03 * x.max(), len(x)) + np.cumsum(rng.normal(0, 0.01, len(x)))
    start = int(rng.integers(0, 200))
    return x[start:start + 600]


def style_bed(rng: np.random.Generator, n: int) -> np.ndarray:
    bpm, pause = rng.uniform(13.5, 14.5), rng.uniform(0.70, 0.74)
    return np.stack([paused_breathing(rng, bpm, pause) for _ in range(n)])


def true_alarms(rng: np.random.Generator, n: int, net) -> tuple[list[np.ndarray], list[str]]:
    """Physiological RSM windows of the alarm patterns that `net` reads right: alarms the operator
    confirmed."""
    from respmon.sim.rsm_physiological import physiological_signal

    windows, labels = [], []
    while len(windows) < n:
        pattern = ALARM_PATTERNS[len(windows) % len(ALARM_PATTERNS)]
        x = physiological_signal(pattern, rng, duration_s=60.0, rate_hz=10.0).displacement_mm
        if predict(net, normalize_windows(x[None]))[0].argmax() == PATTERNS.index(pattern):
            windows.append(x)
            labels.append(pattern)
    return windows, labels


def write_labelled(path, windows, labels, records) -> None:
    """labels.csv (the authors' layout) and labels.jsonl beside it, as the exporter writes them."""
    with open(path, "w") as handle:
        for x, label in zip(windows, labels):
            handle.write(",".join([str(label_of(label)), *(f"{v:.6g}" for v in x)]) + "\n")
    with open(path.with_suffix(".jsonl"), "w") as handle:
        for record, label in zip(records, labels):
            handle.write(json.dumps({**record, "label": label}) + "\n")


def nights_of(bed: int) -> list[tuple[str, float]]:
    return [(f"2024-03-{bed + 1:02d}", 8.0), (f"2024-03-{bed + 11:02d}", 6.5)]


@pytest.fixture(scope="module")
def base():
    torch.set_num_threads(2)
    return load_model(DEFAULT_MODEL)[0]


@pytest.fixture(scope="module")
def labelled(base, tmp_path_factory):
    folder = tmp_path_factory.mktemp("labels")
    windows, labels, records = [], [], []
    for bed in range(1, 5):
        rng = np.random.default_rng(100 + bed)
        nights = nights_of(bed)
        style = list(style_bed(rng, STYLE_PER_BED))
        alarms, alarm_labels = true_alarms(rng, TRUE_ALARMS_PER_BED, base)
        for k, (x, label) in enumerate(zip(style + alarms, ["eupnea"] * len(style) + alarm_labels)):
            night, hours = nights[k % 2]
            confirmed = label != "eupnea"
            windows.append(x)
            labels.append(label)
            records.append({"bed": f"bed-{bed}", "night": night, "night_hours": hours,
                            "condition": label if confirmed else "tachypnea",
                            "verdict": "confirmed" if confirmed else "false_alarm"})
    path = folder / "labels.csv"
    write_labelled(path, windows, labels, records)
    shuffled = folder / "shuffled.csv"
    write_labelled(shuffled, windows, list(np.random.default_rng(5).permutation(labels)), records)
    unseen = normalize_windows(style_bed(np.random.default_rng(999), UNSEEN_BED_WINDOWS))
    return {"path": path, "shuffled": shuffled, "windows": np.stack(windows), "labels": labels,
            "unseen": unseen, "folder": folder}


@pytest.fixture(scope="module")
def candidate(labelled):
    out = labelled["folder"] / "candidate.pt"
    code, stdout, err = run_cli("train", "--finetune", labelled["path"], "--from", DEFAULT_MODEL,
                                "--out", out, *TINY)
    assert code == 0, err
    return out, json.loads(stdout)


def test_reads_what_the_exporter_writes(labelled, tmp_path):
    """`respmon labels export`'s writer (respmon/classify/labels.py) and read_labelled agree."""
    from respmon.classify.finetune import read_labelled
    from respmon.classify.labels import LabelRow, write_export

    rows = [LabelRow(bed=f"bed-{k % 2}", alarm_id=str(k), condition="tachypnea", operator="ana",
                     verdict="false_alarm", pattern=label, note=None, model_version="biatgru@7767227",
                     onset_wall=1.7e9 + k, verdict_wall=1.7e9 + 60 + k, night="2024-03-01", night_hours=7.25,
                     samples=[float(v) for v in x])
            for k, (x, label) in enumerate(zip(labelled["windows"][:4], labelled["labels"][:4]))]
    write_export(tmp_path / "export.csv", rows)
    data = read_labelled(tmp_path / "export.csv")
    assert np.allclose(data.windows, labelled["windows"][:4], rtol=1e-5)
    assert data.beds == ["bed-0", "bed-1"] and data.hours == 2 * 7.25 and data.counts() == {"eupnea": 4}


# ---- the folds ------------------------------------------------------------------------------------

@given(beds=st.lists(st.sampled_from([f"bed-{i}" for i in range(8)]), min_size=1, max_size=60),
       k=st.integers(1, 5))
def test_grouped_folds_never_put_a_bed_in_train_and_test(beds, k):
    k = min(k, len(set(beds)))
    folds = grouped_folds(beds, k)
    assert len(folds) == k and all(len(f) for f in folds)
    assert sorted(np.concatenate(folds).tolist()) == list(range(len(beds)))  # each window tested once
    for test in folds:
        train = np.setdiff1d(np.arange(len(beds)), test)
        assert not {beds[i] for i in test} & {beds[i] for i in train}


def test_the_mix_is_a_quarter_labelled():
    for n_labelled, per_class in ((80, 30), (80, 100), (30, 100), (5000, 100)):
        n_rsm = 21 * rsm_per_class_for(n_labelled, per_class)
        share = repeats(n_labelled, n_rsm) * n_labelled / (repeats(n_labelled, n_rsm) * n_labelled + n_rsm)
        assert abs(share - LABELLED_SHARE) < 0.07, (n_labelled, per_class, share)
    assert rsm_per_class_for(5000, 100) > 100  # a large labelled set brings more RSM, not a larger share


# ---- the fine-tune --------------------------------------------------------------------------------

def test_finetune_learns_a_misread_style_for_an_unseen_bed(base, labelled, candidate):
    out, report = candidate
    net, info = load_model(out)
    eupnea = PATTERNS.index("eupnea")
    before = float((predict(base, labelled["unseen"]).argmax(1) == eupnea).mean())
    after = float((predict(net, labelled["unseen"]).argmax(1) == eupnea).mean())
    assert before < 0.5 and after > 0.8, (before, after)
    # the cross-validation held each bed out once and saw the same gain on beds it had not trained on
    cv = report["cv"]
    assert cv["k"] == 4 and sorted(b for f in cv["folds"] for b in f["test_beds"]) == [f"bed-{i}" for i in range(1, 5)]
    pooled = cv["pooled"]
    assert pooled["candidate"]["sensitivity"]["eupnea"] > pooled["base"]["sensitivity"]["eupnea"] + 0.3
    for fold in cv["folds"]:
        assert set(fold["candidate"]["sensitivity"]) == {"eupnea", *ALARM_PATTERNS}
    # nothing already learnt is lost on the held-out RSM sets
    held = report["held_out"]
    assert set(held["candidate"]) == {"authors", "physiological", "camera"}
    assert all(held["candidate"][m] >= held["base"][m] - 0.005 for m in held["base"])
    # the candidate says where it came from
    meta = info["meta"]
    ft = meta["finetune"]
    assert ft["base"]["version"] == "biatgru@7767227" and ft["base"]["file"] == "biatgru.pt"
    assert ft["labels"]["file"] == "labels.csv" and len(ft["labels"]["sha256"]) == 64
    assert ft["labels"]["per_class"] == {"eupnea": 40, **{p: 8 for p in ALARM_PATTERNS}}
    assert ft["labels"]["beds"] == [f"bed-{i}" for i in range(1, 5)] and len(ft["labels"]["nights"]) == 8
    assert ft["cv"] == cv and meta["held_out"]["camera"]["accuracy"] == held["candidate"]["camera"]
    assert meta["seed"] == SEED and meta["epochs"] == 2 and meta["code_revision"]
    assert meta["command"].startswith("respmon train --finetune ") and "--seed 11" in meta["command"]
    assert ft["mix"]["rsm_windows"] == 420 and abs(ft["mix"]["labelled_share"] - LABELLED_SHARE) < 0.07


def test_same_seed_same_weights(labelled, candidate):
    out, _ = candidate
    again = labelled["folder"] / "again.pt"
    code, _, err = run_cli("train", "--finetune", labelled["path"], "--from", DEFAULT_MODEL, "--out", again, *TINY)
    assert code == 0, err
    a = torch.load(out, weights_only=True)["state_dict"]
    b = torch.load(again, weights_only=True)["state_dict"]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# ---- the gate -------------------------------------------------------------------------------------

def test_gate_accepts_the_candidate_and_writes_the_card(base, labelled, candidate, tmp_path):
    out, _ = candidate
    card = tmp_path / "README.md"
    shutil.copy(REPO / "models" / "README.md", card)
    before = card.read_text()
    code, stdout, err = run_cli("evaluate", "--compare", DEFAULT_MODEL, out, "--data", labelled["path"],
                                "--card", card)
    assert code == 0, err
    assert stdout.rstrip().endswith("accepted")
    assert "| held-out RSM accuracy, physiological |" in stdout and "| sensitivity eupnea, labels.csv |" in stdout
    # false alarms per hour: windows read as an alarm other than their label, over the 8 bed-nights' hours
    predicted = predict(base, normalize_windows(labelled["windows"])).argmax(1)
    truth = np.array([PATTERNS.index(p) for p in labelled["labels"]])
    alarms = int((np.isin(predicted, [PATTERNS.index(p) for p in ALARM_PATTERNS]) & (predicted != truth)).sum())
    assert alarms > 20
    assert f"| false alarms (per hour) | {alarms} ({alarms / (4 * 14.5):.2f}) |" in stdout
    text = card.read_text()
    assert text.startswith(before)
    section = text[len(before):]
    meta = load_model(out)[1]["meta"]
    assert f"### Fine-tune {meta['version']} (" in section and "## Fine-tunes" in section
    assert "eupnea 40" in section and "bed-1, bed-2, bed-3, bed-4" in section and "8 bed-nights" in section
    assert meta["command"] in section and f"respmon evaluate --compare {DEFAULT_MODEL} {out}" in section
    assert "| held-out RSM accuracy, camera |" in section


def test_gate_refuses_a_candidate_trained_on_shuffled_labels(labelled, tmp_path):
    """The RSM in the mix keeps the shuffled candidate from unlearning much: it still reads the
    style better than the base and keeps 39 of the 40 confirmed alarm windows. The one it loses is
    the Cheyne-Stokes window the base was least sure of (p 0.68; the right labels take it to 0.83,
    the shuffle, which labels it eupnea, to 0.15: read as central_apnea). The gate allows no drop of
    any class's sensitivity, so that window refuses it."""
    out = tmp_path / "shuffled.pt"
    code, _, err = run_cli("train", "--finetune", labelled["shuffled"], "--from", DEFAULT_MODEL, "--out", out, *TINY)
    assert code == 0, err
    card = tmp_path / "card.md"
    card.write_text("# card\n")
    code, stdout, err = run_cli("evaluate", "--compare", DEFAULT_MODEL, out, "--data", labelled["path"],
                                "--card", card)
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("refused: "), err
    assert "| **fails** |" in stdout
    assert "accepted" not in stdout and card.read_text() == "# card\n"


# ---- refusals -------------------------------------------------------------------------------------

def _one_line_exit_2(code, err, fragment):
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0] and "Traceback" not in err, err


def _copy_labels(labelled, folder, name="l.csv", rows=None, jsonl_rows=None, beds=None):
    csv = labelled["path"].read_text().splitlines()
    records = labelled["path"].with_suffix(".jsonl").read_text().splitlines()
    csv = csv if rows is None else csv[:rows]
    records = records if jsonl_rows is None else records[:jsonl_rows]
    if beds is not None:
        records = [json.dumps({**json.loads(r), "bed": beds}) for r in records]
    path = folder / name
    path.write_text("\n".join(csv) + "\n")
    path.with_suffix(".jsonl").write_text("\n".join(records) + "\n")
    return path


@pytest.mark.parametrize("case, fragment", [
    ("not numbers", ":1: not a row of numbers"),
    ("no jsonl", "l.jsonl not found beside l.csv"),
    ("count mismatch", "has 79 records for the 80 rows"),
    ("label mismatch", "differs from the CSV row's"),
    ("one bed", "needs at least 2"),
    ("short rows", "expected 600"),
    ("from not a model", "not a readable model file"),
    ("out not .pt", "must end in .pt"),
    ("reserved seed", "reserved for the held-out test sets"),
    ("missing labels", "does not exist"),
    ("model option", "--model does not apply to --finetune"),
])
def test_finetune_refusals_are_one_line_exit_2(labelled, tmp_path, case, fragment):
    path, base, out, extra = tmp_path / "l.csv", DEFAULT_MODEL, tmp_path / "c.pt", []
    if case == "not numbers":
        path.write_text("1,a,b\n")
        path.with_suffix(".jsonl").write_text("{}\n")
    elif case == "no jsonl":
        path.write_text(labelled["path"].read_text())
    elif case == "count mismatch":
        path = _copy_labels(labelled, tmp_path, jsonl_rows=79)
    elif case == "label mismatch":
        path = _copy_labels(labelled, tmp_path)
        records = path.with_suffix(".jsonl").read_text().splitlines()
        records[3] = json.dumps({**json.loads(records[3]), "label": "biots"})
        path.with_suffix(".jsonl").write_text("\n".join(records) + "\n")
    elif case == "one bed":
        path = _copy_labels(labelled, tmp_path, beds="bed-1")
    elif case == "short rows":
        path = _copy_labels(labelled, tmp_path)
        path.write_text("\n".join(",".join(line.split(",")[:300]) for line in path.read_text().splitlines()) + "\n")
    elif case == "from not a model":
        path = _copy_labels(labelled, tmp_path)
        base = tmp_path / "m.pt"
        base.write_text("not a model")
    elif case == "out not .pt":
        path, out = _copy_labels(labelled, tmp_path), tmp_path / "c.bin"
    elif case == "reserved seed":
        path, extra = _copy_labels(labelled, tmp_path), ["--seed", "2000002"]
    elif case == "model option":
        path, extra = _copy_labels(labelled, tmp_path), ["--model", tmp_path / "x.pt"]
    code, _, err = run_cli("train", "--finetune", path, "--from", base, "--out", out, "--epochs", "1", *extra)
    _one_line_exit_2(code, err, fragment)
    assert not out.exists()


@pytest.mark.parametrize("argv, fragment", [
    (["train", "--out", "{tmp}/c.pt"], "--out needs --finetune"),
    (["evaluate", "--card", "{tmp}/card.md"], "--card needs --compare"),
    (["evaluate", "--data", "{tmp}/a.csv", "{tmp}/b.csv", "--rate-hz", "10"], "--data takes one file"),
    (["evaluate", "--compare", str(DEFAULT_MODEL), "{tmp}/missing.pt"], "model file not found"),
    (["evaluate", "--compare", str(DEFAULT_MODEL), str(DEFAULT_MODEL), "--card", "{tmp}/card.md"],
     "was not made by `respmon train --finetune`"),
    (["evaluate", "--compare", str(DEFAULT_MODEL), str(DEFAULT_MODEL), "--data", "{tmp}/missing.csv"],
     "does not exist"),
])
def test_compare_refusals_are_one_line_exit_2(tmp_path, argv, fragment):
    (tmp_path / "card.md").write_text("# card\n")
    code, _, err = run_cli(*[a.replace("{tmp}", str(tmp_path)) for a in argv])
    _one_line_exit_2(code, err, fragment)
