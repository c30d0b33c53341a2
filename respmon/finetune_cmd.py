"""`respmon train --finetune` and `respmon evaluate --compare`: a candidate fine-tuned on labelled
windows from real beds, and the gate it must pass before it may replace the model it came from.
The procedure is described in respmon/classify/finetune.py."""

from __future__ import annotations

import datetime
import json
import shlex
import sys
import time
from pathlib import Path

import numpy as np

from respmon.config import load_config
from respmon.errors import UsageError
from respmon.patterns import PATTERNS

FINETUNE_EPOCHS = 5
FINETUNE_RSM_PER_CLASS = 100
# The gate: held-out RSM accuracy may fall by at most this many percentage points in any mode, and
# no class present in the labelled data may lose sensitivity there.
MAX_HELD_OUT_DROP_POINTS = 0.5
_held_out_cache: dict[str, tuple[np.ndarray, np.ndarray]] = {}


def _held_out() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """held_out_sets() at their full size (300 windows per class and mode, the sets `respmon
    evaluate` and the model card score: about 5 s to draw), drawn once per process (the same seeds
    give the same windows; tests run several commands in one process)."""
    from respmon.classify_cmd import held_out_sets

    if not _held_out_cache:
        _held_out_cache.update(held_out_sets())
    return _held_out_cache


def _held_out_accuracy(net) -> dict[str, float]:
    from respmon.classify.train import predict

    return {mode: float((predict(net, x).argmax(1) == y).mean()) for mode, (x, y) in _held_out().items()}


def model_version(info: dict) -> str:
    """A model's version: a fine-tune's own, else arch@code_revision (as PatternClassifier names it)."""
    meta = info.get("meta", {}) or {}
    return meta.get("version") or f"{info['arch']}@{meta.get('code_revision', 'unknown')}"


def _command(*parts) -> str:
    return shlex.join(str(p) for p in parts)


def run_finetune(args) -> int:
    from respmon.classify.data import training_set
    from respmon.classify.finetune import (FINETUNE_LR, LABELLED_SHARE, cross_validate, finetune,
                                           read_labelled, repeats, rsm_per_class_for, weights_sha256)
    from respmon.classify.model_io import DEFAULT_MODEL, code_revision, load_model, save_model
    from respmon.classify.onnx_model import require_onnx_writer
    from respmon.classify_cmd import TEST_SEEDS, VALIDATION_SEED_OFFSET, _torch_threads, model_path

    for option, value in (("--model", args.model), ("--per-class", args.per_class),
                          ("--scene-windows", args.scene_windows), ("--plot", args.plot)):
        if value is not None:
            raise UsageError(f"{option} does not apply to --finetune (the candidate goes to --out; "
                             f"RSM windows: --rsm-per-class)")
    config = load_config(args.config)
    settings = config.classifier
    epochs = args.epochs if args.epochs is not None else FINETUNE_EPOCHS
    seed = args.seed if args.seed is not None else settings.seed
    rsm_per_class = args.rsm_per_class if args.rsm_per_class is not None else FINETUNE_RSM_PER_CLASS
    if seed in TEST_SEEDS.values() or seed + VALIDATION_SEED_OFFSET in TEST_SEEDS.values():
        raise UsageError(f"--seed {seed} is reserved for the held-out test sets")
    out = args.out
    if out is None:
        raise UsageError("--finetune needs --out CANDIDATE.pt")
    if out.suffix != ".pt":
        raise UsageError(f"--out: {out} must end in .pt")
    if not out.parent.is_dir():
        raise UsageError(f"--out: folder {out.parent} does not exist")
    base_path = args.from_model or model_path(args, config) or DEFAULT_MODEL
    base_net, base_info = load_model(base_path)
    arch, base_version = base_info["arch"], model_version(base_info)
    labelled = read_labelled(args.finetune, "--finetune")
    if len(labelled.beds) < 2:
        raise UsageError(f"--finetune: {args.finetune.name} holds windows of {len(labelled.beds)} bed; "
                         f"cross-validation grouped by bed needs at least 2")
    require_onnx_writer()
    _torch_threads(settings.threads)
    started = time.monotonic()
    per_class = rsm_per_class_for(len(labelled.labels), rsm_per_class)
    x_rsm, y_rsm = training_set(per_class, seed)
    repeat = repeats(len(labelled.labels), len(y_rsm))
    mix = {"rsm_per_class_per_mode": per_class, "rsm_windows": int(len(y_rsm)), "labelled_repeat": repeat,
           "labelled_share": round(repeat * len(labelled.labels) / (repeat * len(labelled.labels) + len(y_rsm)), 3),
           "target_labelled_share": LABELLED_SHARE, "lr": FINETUNE_LR, "optimiser": "AdamW, one-cycle"}
    cv = cross_validate(base_net, arch, labelled, x_rsm, y_rsm, epochs=epochs, seed=seed)
    sys.stderr.write(f"fine-tuning on all {len(labelled.beds)} beds ({len(labelled.labels)} windows x {repeat}, "
                     f"{len(y_rsm)} RSM windows)\n")
    net, history = finetune(base_net, arch, labelled.windows, labelled.labels, x_rsm, y_rsm, repeat=repeat,
                            epochs=epochs, seed=seed)
    sys.stderr.write("scoring the held-out RSM sets\n")
    held_out = {"base": _held_out_accuracy(base_net), "candidate": _held_out_accuracy(net)}
    revision = code_revision()
    version = f"{arch}@{revision}+ft.{weights_sha256(net)[:8]}"
    command = _command("respmon", "train", "--finetune", args.finetune, "--from", base_path,
                       "--out", out, "--seed", seed, "--epochs", epochs, "--rsm-per-class", rsm_per_class,
                       *(["--config", args.config] if args.config is not None else []))
    meta = {
        "rate_hz": 10.0, "window_s": 60.0, "normalisation": "z-score per window",
        "version": version, "seed": seed, "epochs": epochs, "code_revision": revision, "command": command,
        "held_out": {mode: {"accuracy": acc} for mode, acc in held_out["candidate"].items()},
        "finetune": {
            "base": {"version": base_version, "file": Path(base_path).name,
                     "held_out_accuracy": held_out["base"]},
            "labels": labelled.summary(), "mix": mix, "cv": cv,
        },
        "training_wall_s": round(time.monotonic() - started, 1),
        "history": {"loss": history.loss, "train_accuracy": history.train_accuracy},
    }
    save_model(out, net, arch, meta)
    print(json.dumps({"model": str(out), "version": version, "base": base_version,
                      "labels": {k: meta["finetune"]["labels"][k] for k in ("file", "windows", "per_class", "beds")},
                      "mix": mix, "cv": cv, "held_out": held_out, "training_wall_s": meta["training_wall_s"]}))
    return 0


# ---- evaluate --compare -------------------------------------------------------------------------

def _pct(v: float | None) -> str:
    return "–" if v is None else f"{100 * v:.2f} %"


def _f3(v: float | None) -> str:
    return "–" if v is None else f"{v:.3f}"


def run_compare(args) -> int:
    from respmon.classify.finetune import false_alarms, read_labelled
    from respmon.classify.metrics import classification_report
    from respmon.classify.model_io import load_model
    from respmon.classify.train import predict
    from respmon.classify.data import normalize_windows
    from respmon.classify_cmd import _torch_threads

    if args.model is not None:
        raise UsageError("--model does not apply to --compare (it takes BASE.pt and CANDIDATE.pt)")
    if args.plot is not None:
        raise UsageError("--plot does not apply to --compare")
    if args.rate_hz is not None and args.rate_hz != 10.0:
        raise UsageError("--compare reads labelled 60 s windows at 10 Hz: --rate-hz does not apply")
    config = load_config(args.config)
    base_path, cand_path = args.compare
    if args.card is not None and not args.card.is_file():
        raise UsageError(f"--card: {args.card} does not exist")
    base_net, base_info = load_model(base_path)
    cand_net, cand_info = load_model(cand_path)
    cand_meta = cand_info.get("meta", {}) or {}
    if args.card is not None and "finetune" not in cand_meta:
        raise UsageError(f"--card: {cand_path} was not made by `respmon train --finetune` (no fine-tune record)")
    sets = [read_labelled(p, "--data") for p in (args.data or [])]
    _torch_threads(config.classifier.threads)
    names = {"base": f"{Path(base_path).name} ({model_version(base_info)})",
             "candidate": f"{Path(cand_path).name} ({model_version(cand_info)})"}
    print(f"# {names['base']} vs {names['candidate']}\n")

    gate: list[dict] = []  # rows of the gate table; "failed" holds the refusal's words
    held = {"base": _held_out_accuracy(base_net), "candidate": _held_out_accuracy(cand_net)}
    print("## Held-out RSM accuracy\n")
    print("| mode | base | candidate | change (points) |\n|---|---:|---:|---:|")
    for mode in held["base"]:
        b, c = held["base"][mode], held["candidate"][mode]
        change = 100 * (c - b)
        print(f"| {mode} | {_pct(b)} | {_pct(c)} | {change:+.2f} |")
        failed = -change > MAX_HELD_OUT_DROP_POINTS + 1e-9
        gate.append({"check": f"held-out RSM accuracy, {mode}", "base": _pct(b), "candidate": _pct(c),
                     "limit": f"drop <= {MAX_HELD_OUT_DROP_POINTS} points", "ok": not failed,
                     "why": f"held-out RSM accuracy ({mode}) drops {-change:.2f} points (> {MAX_HELD_OUT_DROP_POINTS})"})
    for data in sets:
        x = normalize_windows(data.windows)
        reports, alarms = {}, {}
        for who, net in (("base", base_net), ("candidate", cand_net)):
            pred = predict(net, x).argmax(1)
            reports[who] = classification_report(data.labels, pred)
            alarms[who] = false_alarms(data.labels, pred)
        hours = data.hours
        print(f"\n## {data.path.name}: {len(data.labels)} windows, {len(data.beds)} beds, "
              f"{len(data.nights)} nights ({hours:.1f} h)\n")
        print("| | base | candidate |\n|---|---:|---:|")
        print(f"| accuracy | {_pct(reports['base']['accuracy'])} | {_pct(reports['candidate']['accuracy'])} |")
        print("| false alarms (per hour) | " + " | ".join(
            f"{alarms[w]} ({alarms[w] / hours:.2f})" if hours > 0 else f"{alarms[w]} (–)"
            for w in ("base", "candidate")) + " |")
        print("\n| class | windows | sensitivity base | sensitivity candidate | specificity base | "
              "specificity candidate |\n|---|---:|---:|---:|---:|---:|")
        for name in PATTERNS:
            rb, rc = reports["base"]["per_class"][name], reports["candidate"]["per_class"][name]
            print(f"| {name} | {rb['support']} | {_f3(rb['recall'])} | {_f3(rc['recall'])} | "
                  f"{_f3(rb['specificity'])} | {_f3(rc['specificity'])} |")
            if rb["support"]:
                failed = rc["recall"] < rb["recall"] - 1e-12
                gate.append({"check": f"sensitivity {name}, {data.path.name}", "base": _f3(rb["recall"]),
                             "candidate": _f3(rc["recall"]), "limit": "no drop", "ok": not failed,
                             "why": f"sensitivity for {name} on {data.path.name} drops from "
                                    f"{rb['recall']:.2f} to {rc['recall']:.2f}"})
    table = ["| check | base | candidate | limit | result |", "|---|---:|---:|---|---|"]
    table += [f"| {g['check']} | {g['base']} | {g['candidate']} | {g['limit']} | {'ok' if g['ok'] else '**fails**'} |"
              for g in gate]
    print("\n## Gate\n")
    print("\n".join(table))
    failed = [g for g in gate if not g["ok"]]
    if failed:
        more = f" (and {len(failed) - 1} more failed checks: see the gate table)" if len(failed) > 1 else ""
        print(f"refused: {failed[0]['why']}{more}", file=sys.stderr)
        return 1
    print("\naccepted")
    if args.card is not None:
        command = _command("respmon", "evaluate", "--compare", base_path, cand_path,
                           *(["--data", *args.data] if args.data else []), "--card", args.card,
                           *(["--config", args.config] if args.config is not None else []))
        _append_card(args.card, model_version(cand_info), cand_meta, table, command)
        print(f"model card: section added to {args.card}", file=sys.stderr)
    return 0


def _append_card(card: Path, version: str, meta: dict, gate_table: list[str], command: str) -> None:
    ft = meta["finetune"]
    labels, cv, mix = ft["labels"], ft["cv"], ft.get("mix", {})
    counts = ", ".join(f"{name} {n}" for name, n in labels["per_class"].items())
    nights = labels.get("nights", [])
    pooled = cv["pooled"]
    lines = [
        f"### Fine-tune {version} ({datetime.date.today().isoformat()})", "",
        f"From {ft['base']['version']} ({ft['base']['file']}), on `{labels['file']}` (sha256 "
        f"{labels['sha256'][:16]}…): {labels['windows']} labelled windows ({counts}) from "
        f"{len(labels['beds'])} beds ({', '.join(labels['beds'])}) over {len(nights)} bed-nights "
        f"({labels.get('night_hours', 0):.1f} h), mixed with {mix.get('rsm_windows', '?')} fresh RSM windows "
        f"(labelled windows repeated {mix.get('labelled_repeat', '?')} times: {mix.get('labelled_share', '?')} of "
        f"the stream), {meta.get('epochs')} epochs, seed {meta.get('seed')}, code {meta.get('code_revision')}.", "",
        f"Cross-validated on held-out beds ({cv['k']} folds grouped by bed): accuracy "
        f"{_pct(pooled['base']['accuracy'])} (base) → {_pct(pooled['candidate']['accuracy'])} (fine-tuned).", "",
        "The gate (`respmon evaluate --compare`):", "",
        *gate_table, "",
        "Made and checked with:", "",
        "```sh",
        meta.get("command") or "(train command not recorded)",
        command,
        "```", "",
    ]
    text = card.read_text(encoding="utf-8")
    heading = "" if "\n## Fine-tunes\n" in text else "\n## Fine-tunes\n\nGenerated by `respmon evaluate --compare ... --card`.\n"
    sep = "" if text.endswith("\n") else "\n"
    try:
        with open(card, "a", encoding="utf-8") as handle:
            handle.write(sep + heading + "\n" + "\n".join(lines))
    except OSError as exc:
        raise UsageError(f"--card: cannot write {card}: {exc.strerror or exc}") from None
