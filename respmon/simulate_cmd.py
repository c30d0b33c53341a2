"""`respmon simulate signals|recording`: the CLI edge of `sim/`."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import numpy as np

from respmon.config import SCHEMA, check_value, load_config
from respmon.errors import UsageError
from respmon.patterns import PATTERNS, label_of
from sim.script import parse_script


def check_output_path(path: Path, suffixes: tuple[str, ...]) -> None:
    """Fail before any long work if the output cannot be written."""
    if path.suffix.lower() not in suffixes:
        raise UsageError(f"{path}: output must end in {' or '.join(suffixes)}")
    parent = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise UsageError(f"{path}: is a folder, not a file")
    if not parent.is_dir():
        raise UsageError(f"{path}: folder {parent} does not exist")
    existed = path.exists()
    try:
        with open(path, "ab"):
            pass
    except OSError as exc:
        raise UsageError(f"{path}: not writable: {exc.strerror or exc}") from None
    if not existed:
        path.unlink()


def generate_signals(pattern: str, count: int, mode: str, duration_s: float, rate_hz: float,
                     seed: int, authors_version: str) -> tuple[np.ndarray, np.ndarray]:
    patterns = PATTERNS if pattern == "all" else (pattern,)
    rng = np.random.default_rng(seed)
    try:
        if mode == "authors":
            from sim.rsm_authors import authors_dataset

            return authors_dataset(patterns, count, rng, duration_s=duration_s, rate_hz=rate_hz,
                                   version=authors_version)
        from sim.rsm_physiological import physiological_dataset

        return physiological_dataset(patterns, count, rng, duration_s=duration_s, rate_hz=rate_hz)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def _write_atomically(path: Path, write) -> None:
    tmp = None
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=path.suffix, dir=path.parent)
        os.close(fd)
        tmp = Path(tmp_name)
        write(tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except OSError as exc:
        raise UsageError(f"{path}: cannot write: {exc.strerror or exc}") from None
    finally:
        if tmp is not None:
            tmp.unlink(missing_ok=True)


def write_signals(path: Path, labels: np.ndarray, signals: np.ndarray, *, rate_hz: float, mode: str) -> None:
    """CSV in the authors' layout (label, then samples; one signal a row) or an .npz."""
    if path.suffix.lower() == ".csv":
        table = np.column_stack([labels.astype(float), signals])
        fmt = ["%d"] + ["%.6g"] * signals.shape[1]
        _write_atomically(path, lambda tmp: np.savetxt(tmp, table, fmt=fmt, delimiter=","))
    else:
        def save(tmp: Path) -> None:
            with open(tmp, "wb") as handle:
                np.savez_compressed(handle, labels=labels.astype(np.int64), signals=signals.astype(np.float32),
                                    rate_hz=np.float64(rate_hz), mode=np.str_(mode),
                                    patterns=np.array(PATTERNS))
        _write_atomically(path, save)


def run_signals(args) -> int:
    config = load_config(args.config)
    rate_hz = args.rate_hz if args.rate_hz is not None else config.signal.rate_hz
    check_output_path(args.out, (".csv", ".npz"))
    labels, signals = generate_signals(args.pattern, args.count, args.mode, args.duration, rate_hz,
                                       args.seed, args.authors_version)
    assert set(np.unique(labels)) <= {label_of(p) for p in PATTERNS}
    write_signals(args.out, labels, signals, rate_hz=rate_hz, mode=args.mode)
    print(f"wrote {len(labels)} signals of {signals.shape[1]} samples at {rate_hz:g} Hz to {args.out}",
          file=sys.stderr)
    return 0


def run_recording(args) -> int:
    from sim.recording import write_synthetic_recording

    config = load_config(args.config)
    defaults = config.simulation.recording
    try:
        segments = parse_script(args.script)
    except ValueError as exc:
        raise UsageError(f"--script: {exc}") from None
    check_output_path(args.out, (".db3",))
    width = args.width or defaults.width
    height = args.height or defaults.height
    fps = args.fps or defaults.fps
    distance_m = args.distance_m if args.distance_m is not None else defaults.distance_m
    tilt_deg = args.tilt_deg if args.tilt_deg is not None else defaults.tilt_deg
    _check_recording_settings(width, height, fps, distance_m, tilt_deg)
    result = write_synthetic_recording(
        args.out, segments, width=width, height=height, fps=fps, distance_m=distance_m,
        tilt_deg=tilt_deg, seed=args.seed, script=args.script,
    )
    print(f"wrote {result.path} ({result.frames_written} frames, {result.frames_played} play back) "
          f"and {result.truth_path} in {result.wall_s:.1f} s", file=sys.stderr)
    return 0


def _check_recording_settings(width: int, height: int, fps: int, distance_m: float, tilt_deg: float) -> None:
    limits = SCHEMA["simulation"]["recording"]
    for name, value in (("width", width), ("height", height), ("fps", fps),
                        ("distance_m", distance_m), ("tilt_deg", tilt_deg)):
        check_value(limits[name], value, "--" + name.replace("_", "-"))


def run(args) -> int:
    if args.kind == "signals":
        return run_signals(args)
    return run_recording(args)
