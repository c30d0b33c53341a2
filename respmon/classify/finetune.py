"""Fine-tuning a trained classifier on labelled windows from real beds, without forgetting the RSM.

Labelled windows come as `labels.csv` (the authors' layout: the label 1..7 first, then 600 samples
at 10 Hz) with `labels.jsonl` beside it: one JSON object per CSV row, in the same order, with at
least "bed", "night" (ISO date), "night_hours", "label" (the pattern name of the CSV's label),
"condition" (the alarm's condition) and "verdict".

The mix. A fine-tune starts from the base model's weights and trains on the labelled windows MIXED
with fresh RSM windows (`training_set`: both RSM modes and the camera windows, as training does),
so that what the base model learnt is rehearsed while the new windows are learnt:

- RSM: `training_set(n, seed)`, n windows per class and mode (21 n windows), n at least
  `rsm_per_class` and at least enough for the RSM to be 3/4 of the stream (n >= labelled / 7);
- labelled: every labelled window, repeated `round(21 n / (3 labelled))` times (at least once), so
  they make about LABELLED_SHARE (a quarter) of each epoch's batches;
- AdamW and the one-cycle schedule of `train()`, peaking at FINETUNE_LR (a tenth of training's
  3e-3: the weights should move, not restart), a few epochs.

A quarter is enough for a style the base misreads to be learnt in one or two epochs (the labelled
windows are seen several times an epoch), while three quarters of every batch still hold the
classes the RSM teaches, which keeps the held-out RSM sets where they were.

Label noise does little harm to what the RSM teaches: in tests/test_finetune.py a candidate trained
on the labels shuffled still reads 39 of the 40 confirmed RSM-like alarm windows right (and the
style better than the base did). What the RSM does not rehearse is the labelled windows' own
style, and there the gate (`respmon evaluate --compare`) is best run on labelled windows the
candidate did not train on (a later export, other beds): on its own training windows a candidate
is scored in-sample.

Grouped cross-validation estimates what the fine-tune does for a bed it has never seen: the beds
are split into k = min(5, beds) folds (GroupKFold's rule: largest bed first, into the fold with
the fewest windows so far), each fold's beds are held out while the base is fine-tuned on the
others' windows by the same procedure, and the held-out beds are read by that fold's candidate and
by the base model. No bed is ever in a fold's training and test windows both.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from respmon.classify.onnx_model import file_sha256
from respmon.errors import UsageError, short_text
from respmon.patterns import PATTERNS, pattern_of

FINETUNE_LR = 3e-4
LABELLED_SHARE = 0.25
MAX_FOLDS = 5
# The patterns an alarm is raised for: a labelled window read as one of these, other than its
# label, is a false alarm.
ALARM_PATTERNS = ("tachypnea", "bradypnea", "biots", "cheyne_stokes", "central_apnea")
# A night runs from 12:00 to 12:00 local time: 25 h where the clocks go back.
MAX_NIGHT_HOURS = 25.0
JSONL_KEYS = ("bed", "night", "night_hours", "label", "condition", "verdict")


@dataclass
class LabelledSet:
    """Windows (N, 600) at 10 Hz as read (not normalised), class indices, and the jsonl records."""

    path: Path
    windows: np.ndarray
    labels: np.ndarray
    records: list[dict]
    sha256: str
    beds_of_rows: list[str] = field(default_factory=list)

    @property
    def beds(self) -> list[str]:
        return sorted(set(self.beds_of_rows))

    @property
    def nights(self) -> dict[tuple[str, str], float]:
        """night_hours of each distinct (bed, night)."""
        return {(r["bed"], r["night"]): float(r["night_hours"]) for r in self.records}

    @property
    def hours(self) -> float:
        return float(sum(self.nights.values()))

    def counts(self) -> dict[str, int]:
        """Windows per class, classes present only, in PATTERNS order."""
        found = np.bincount(self.labels, minlength=len(PATTERNS))
        return {name: int(found[k]) for k, name in enumerate(PATTERNS) if found[k]}

    def summary(self) -> dict:
        return {
            "file": self.path.name, "sha256": self.sha256, "windows": int(len(self.labels)),
            "per_class": self.counts(), "beds": self.beds,
            "nights": [{"bed": bed, "night": night, "hours": hours}
                       for (bed, night), hours in sorted(self.nights.items())],
            "night_hours": round(self.hours, 3),
        }


def sidecar(path: Path) -> Path:
    """labels.jsonl beside labels.csv."""
    return Path(path).with_suffix(".jsonl")


def read_labelled(path: Path, what: str = "labels") -> LabelledSet:
    """A labelled set, or UsageError (one line) saying what is wrong with it."""
    from respmon.classify.data import WINDOW_N
    from respmon.classify_cmd import read_signal_rows

    path = Path(path)
    if not path.is_file():
        raise UsageError(f"{what}: {path} does not exist or is not a file")
    rows, labels = read_signal_rows(path, "first-column")
    for number, row in enumerate(rows, start=1):
        if len(row) != WINDOW_N:
            raise UsageError(f"{path}: row {number}: {len(row)} samples, expected {WINDOW_N} "
                             f"(60 s at 10 Hz after the label)")
    side = sidecar(path)
    if not side.is_file():
        raise UsageError(f"{what}: {side.name} not found beside {path.name} (one JSON object per CSV row)")
    try:
        lines = [line for line in side.read_text(encoding="utf-8").splitlines() if line.strip()]
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{side}: cannot read: {exc}") from None
    if len(lines) != len(rows):
        raise UsageError(f"{what}: {side.name} has {len(lines)} records for the {len(rows)} rows of {path.name}")
    records, nights = [], {}
    for number, (line, label) in enumerate(zip(lines, labels), start=1):
        where = f"{side}:{number}"
        try:
            record = json.loads(line)
        except ValueError:
            raise UsageError(f"{where}: not a JSON object") from None
        if not isinstance(record, dict):
            raise UsageError(f"{where}: not a JSON object")
        missing = [k for k in JSONL_KEYS if k not in record]
        if missing:
            raise UsageError(f"{where}: missing {', '.join(missing)}")
        bed, night, hours = record["bed"], record["night"], record["night_hours"]
        if not isinstance(bed, str) or not bed:
            raise UsageError(f"{where}: bed must be a non-empty string")
        try:
            if not isinstance(night, str):
                raise TypeError
            datetime.date.fromisoformat(night)
        except (TypeError, ValueError):
            raise UsageError(f"{where}: night must be an ISO date (2024-03-01), got "
                             f"{short_text(str(night), 40)}") from None
        if isinstance(hours, bool) or not isinstance(hours, (int, float)) or not (
                math.isfinite(hours) and 0 <= hours <= MAX_NIGHT_HOURS):
            raise UsageError(f"{where}: night_hours must be a number of hours, 0 to {MAX_NIGHT_HOURS:g}")
        if record["label"] != pattern_of(label + 1):
            raise UsageError(f"{where}: label {short_text(str(record['label']), 40)} differs from the CSV "
                             f"row's {pattern_of(label + 1)}")
        if nights.setdefault((bed, night), float(hours)) != float(hours):
            raise UsageError(f"{where}: bed {short_text(bed, 40)}, night {night}: night_hours "
                             f"{hours} differs from an earlier record's {nights[(bed, night)]}")
        records.append(record)
    return LabelledSet(path=path, windows=np.stack(rows), labels=np.asarray(labels, dtype=np.int64),
                       records=records, sha256=file_sha256(path),
                       beds_of_rows=[r["bed"] for r in records])


def weights_sha256(net) -> str:
    """A digest of a network's weights (state_dict order), for naming a candidate."""
    digest = hashlib.sha256()
    for name, tensor in net.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def grouped_folds(groups: Sequence[str], k: int) -> list[np.ndarray]:
    """Test indices of k folds, each group (bed) wholly in one fold: groups largest first (ties by
    name) go to the fold with the fewest windows so far (ties: the first). Needs k <= groups."""
    names = sorted(set(groups))
    if not 1 <= k <= len(names):
        raise ValueError(f"{k} folds need 1 to {len(names)} groups")
    size = {name: 0 for name in names}
    for g in groups:
        size[g] += 1
    load = [0] * k
    fold_of: dict[str, int] = {}
    for name in sorted(names, key=lambda n: (-size[n], n)):
        fold = min(range(k), key=lambda f: (load[f], f))
        fold_of[name] = fold
        load[fold] += size[name]
    groups_arr = np.asarray([fold_of[g] for g in groups], dtype=np.int64)
    return [np.flatnonzero(groups_arr == f) for f in range(k)]


def rsm_per_class_for(n_labelled: int, rsm_per_class: int) -> int:
    """RSM windows per class and mode: rsm_per_class, or more where the labelled set is so large
    that the RSM would be less than 1 - LABELLED_SHARE of the stream."""
    need = math.ceil(n_labelled * (1 - LABELLED_SHARE) / LABELLED_SHARE / (3 * len(PATTERNS)))
    return max(int(rsm_per_class), need)


def repeats(n_labelled: int, n_rsm: int) -> int:
    """How often each labelled window goes into an epoch, so they make about LABELLED_SHARE of it."""
    return max(1, round(n_rsm * LABELLED_SHARE / (1 - LABELLED_SHARE) / max(1, n_labelled)))


def finetune(base_net, arch: str, x_labelled: np.ndarray, y_labelled: np.ndarray, x_rsm: np.ndarray,
             y_rsm: np.ndarray, *, repeat: int, epochs: int, seed: int, lr: float = FINETUNE_LR,
             progress: bool = True):
    """(network, History): base_net's weights trained on the labelled windows (normalised,
    `repeat` times) mixed with the RSM windows. base_net itself is left as it was."""
    from respmon.classify.data import normalize_windows
    from respmon.classify.train import train

    x = np.concatenate([np.repeat(normalize_windows(x_labelled), repeat, axis=0), x_rsm])
    y = np.concatenate([np.repeat(np.asarray(y_labelled, dtype=np.int64), repeat), y_rsm])
    return train(arch, x, y, epochs=epochs, seed=seed, lr=lr, init=base_net, progress=progress)


def sensitivities(y_true, y_pred) -> dict[str, float]:
    """Recall of each class present in y_true."""
    from respmon.classify.metrics import classification_report

    report = classification_report(y_true, y_pred)
    return {name: r["recall"] for name, r in report["per_class"].items() if r["support"]}


def _scores(y_true, y_pred) -> dict:
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    return {"accuracy": float((y_true == y_pred).mean()), "sensitivity": sensitivities(y_true, y_pred)}


def cross_validate(base_net, arch: str, labelled: LabelledSet, x_rsm: np.ndarray, y_rsm: np.ndarray, *,
                   epochs: int, seed: int, lr: float = FINETUNE_LR, progress: bool = True) -> dict:
    """Grouped by bed: per fold, the held-out beds read by the base and by a candidate fine-tuned on
    the other beds (the same RSM windows, the repeats for the fold's labelled windows); and the same
    pooled over all folds."""
    from respmon.classify.data import normalize_windows
    from respmon.classify.train import predict

    beds = labelled.beds_of_rows
    k = min(MAX_FOLDS, len(set(beds)))
    base_pred = predict(base_net, normalize_windows(labelled.windows)).argmax(1)
    cand_pred = np.full(len(labelled.labels), -1, dtype=np.int64)
    folds = []
    for number, test in enumerate(grouped_folds(beds, k), start=1):
        train_idx = np.setdiff1d(np.arange(len(beds)), test)
        test_beds = sorted({beds[i] for i in test})
        if progress:
            sys.stderr.write(f"cross-validation fold {number}/{k}: holding out {', '.join(test_beds)} "
                             f"({len(test)} windows), fine-tuning on {len(train_idx)}\n")
        net, _ = finetune(base_net, arch, labelled.windows[train_idx], labelled.labels[train_idx], x_rsm, y_rsm,
                          repeat=repeats(len(train_idx), len(y_rsm)), epochs=epochs, seed=seed, lr=lr, progress=progress)
        cand_pred[test] = predict(net, normalize_windows(labelled.windows[test])).argmax(1)
        y = labelled.labels[test]
        folds.append({"fold": number, "test_beds": test_beds, "windows": int(len(test)),
                      "base": _scores(y, base_pred[test]), "candidate": _scores(y, cand_pred[test])})
    return {"k": k, "grouped_by": "bed", "folds": folds,
            "pooled": {"windows": int(len(labelled.labels)), "base": _scores(labelled.labels, base_pred),
                       "candidate": _scores(labelled.labels, cand_pred)}}


def false_alarms(y_true, y_pred) -> int:
    """Windows read as an alarm pattern other than their label."""
    alarm = np.isin(np.asarray(y_pred), [PATTERNS.index(p) for p in ALARM_PATTERNS])
    return int((alarm & (np.asarray(y_pred) != np.asarray(y_true))).sum())
