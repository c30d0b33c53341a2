"""respmon against NeuroKit2 on real data: the rr-realsense D435 recordings (reference: a
respiration belt) and NeuroKit2's own 5-minute resting belt recording (no reference).

Run: .venv/bin/python bench/eval_realdata.py

The data lives outside the repository in ../shared/data (read-only, never tuned on); without it the
script says so and exits 0. NeuroKit2 is a benchmark-only dependency, not a runtime one:
`.venv/bin/pip install neurokit2`; without it the script exits 2.

For every displacement file:
  respmon:   `respmon replay FILE` (replay_waveform, default config), the summary's median_rr_bpm
             (None when no window had a rate).
  NeuroKit2: displacement linearly resampled to a uniform 15 Hz grid on its timestamps,
             `nk.rsp_process(signal, sampling_rate=15)` with the default method and with
             method="biosppy"; the median of its RSP_Rate column.
Each is compared with the belt's rate for the same (bpm, distance, subject); the belt files name
their conditions at 10 fps, which is ignored.
"""

from __future__ import annotations

import csv
import math
import re
import sys
import time
import warnings
from pathlib import Path

import numpy as np

from respmon.config import default_config
from respmon.replay import replay_waveform
from respmon.sources.waveform import read_waveform_csv

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
RR_DIR = DATA / "rr-realsense"
NK_RESTING = DATA / "neurokit" / "bio_resting_5min_100hz.csv"
NK_RATE_HZ = 15.0
DISPLACEMENT = re.compile(r"^(\d+)bpm_(\d)m_\d+fps_.*_prob(\d+)_C\.csv$")
BELT_CONDITION = re.compile(r"^(\d+)bpm_(\d)m_\d+fps_prob(\d+)$")
WITHIN_BPM = 1.0
NK_METHODS = ("default", "biosppy")


def belt_rates(folder: Path) -> dict[tuple[int, int, int], float]:
    """(paced bpm, distance m, subject) → the belt's rate from every probN_RBnew.csv."""
    rates: dict[tuple[int, int, int], float] = {}
    for path in sorted(folder.glob("prob*_RBnew.csv")):
        with open(path, newline="", encoding="latin-1") as handle:
            rows = list(csv.reader(handle, delimiter=";"))
        names, headers, values = rows[0], rows[1], rows[2]
        for i, name in enumerate(names):
            match = BELT_CONDITION.match(name.strip())
            if not match:
                continue
            column = next((j for j in range(i, min(i + 3, len(headers)))
                           if headers[j].strip().startswith("Atmungsrate")), None)
            if column is None:
                raise SystemExit(f"{path}: no Atmungsrate column for condition {name}")
            key = tuple(int(g) for g in match.groups())
            rates[key] = float(values[column])
    return rates


def respmon_replay(path: Path, column: str | None, rate_hz: float | None) -> dict:
    """The replay's summary line: median_rr_bpm (None: no window had a rate), windows, windows_with_rate."""
    summary = None
    for line in replay_waveform(path, default_config(), column, rate_hz):
        if line["type"] == "summary":
            summary = line
    return summary


def neurokit_median(nk, signal: np.ndarray, rate_hz: float, method: str) -> float | None:
    kwargs = {} if method == "default" else {"method": method}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            frame, _ = nk.rsp_process(signal, sampling_rate=rate_hz, **kwargs)
    except Exception as exc:  # a benchmark reports a failing method, it does not stop
        print(f"  neurokit2 {method} failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return None
    rate = frame["RSP_Rate"].to_numpy(dtype=float)
    rate = rate[np.isfinite(rate)]
    return float(np.median(rate)) if rate.size else None


def uniform(t_s: np.ndarray, values: np.ndarray, rate_hz: float) -> np.ndarray:
    grid = np.arange(t_s[0], t_s[-1] + 1e-9, 1.0 / rate_hz)
    return np.interp(grid, t_s, values)


def errors(pairs: list[tuple[float | None, float]]) -> tuple[float, float, int]:
    """MAE, RMSE over the pairs with an estimate, and the count without one."""
    diffs = np.array([est - ref for est, ref in pairs if est is not None], dtype=float)
    nulls = sum(est is None for est, _ in pairs)
    if diffs.size == 0:
        return math.nan, math.nan, nulls
    return float(np.mean(np.abs(diffs))), float(np.sqrt(np.mean(diffs ** 2))), nulls


def within_share(pairs: list[tuple[float | None, float]]) -> float:
    hits = sum(est is not None and abs(est - ref) <= WITHIN_BPM for est, ref in pairs)
    return hits / len(pairs) if pairs else math.nan


def fmt(x: float | None, digits: int = 2) -> str:
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def evaluate_rr_realsense(nk) -> None:
    belts = belt_rates(RR_DIR)
    files = sorted(p for p in RR_DIR.glob("*_C.csv") if DISPLACEMENT.match(p.name))
    results = []  # dicts: name, distance, belt, respmon, default, biosppy
    for i, path in enumerate(files, start=1):
        bpm, distance, subject = (int(g) for g in DISPLACEMENT.match(path.name).groups())
        belt = belts.get((bpm, distance, subject))
        if belt is None:
            print(f"[{i}/{len(files)}] {path.name}: no belt rate, skipped", file=sys.stderr)
            continue
        print(f"[{i}/{len(files)}] {path.name}", file=sys.stderr, flush=True)
        summary = respmon_replay(path, "displacement", None)
        row = {"name": path.name, "distance": distance, "belt": belt, "respmon": summary["median_rr_bpm"],
               "windows": f"{summary['windows_with_rate']}/{summary['windows']}"}
        t_s, values, _ = read_waveform_csv(path, "displacement")
        signal = uniform(t_s, values, NK_RATE_HZ)
        for method in NK_METHODS:
            row[method] = neurokit_median(nk, signal, NK_RATE_HZ, method)
        results.append(row)

    print(f"\n## rr-realsense: {len(results)} files, median rate vs the belt (bpm)\n")
    print("| distance | n | respmon within 1 bpm | respmon MAE | respmon RMSE | respmon null files "
          "| NK2 default MAE | NK2 default RMSE | NK2 biosppy MAE | NK2 biosppy RMSE |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    groups = [(f"{d} m", [r for r in results if r["distance"] == d]) for d in (1, 2, 3)]
    groups.append(("all", results))
    for label, rows in groups:
        ours = [(r["respmon"], r["belt"]) for r in rows]
        mae, rmse, nulls = errors(ours)
        cells = [label, str(len(rows)), f"{within_share(ours):.0%}", fmt(mae), fmt(rmse), str(nulls)]
        for method in NK_METHODS:
            m_mae, m_rmse, m_nulls = errors([(r[method], r["belt"]) for r in rows])
            suffix = f" ({m_nulls} null)" if m_nulls else ""
            cells += [fmt(m_mae) + suffix, fmt(m_rmse)]
        print("| " + " | ".join(cells) + " |")
    near = [(r["respmon"], r["belt"]) for r in results if r["distance"] in (1, 2)]
    hits = sum(e is not None and abs(e - b) <= WITHIN_BPM for e, b in near)
    print(f"\nrespmon within 1 bpm at 1 m + 2 m: {hits}/{len(near)} = {within_share(near):.0%}")

    print("\n### Per file (bpm)\n")
    print("| file | belt | respmon | respmon windows with a rate | NK2 default | NK2 biosppy |")
    print("| --- | --- | --- | --- | --- | --- |")
    for r in results:
        flag = "" if r["respmon"] is not None and abs(r["respmon"] - r["belt"]) <= WITHIN_BPM else " **"
        print(f"| {r['name']}{flag} | {fmt(r['belt'])} | {fmt(r['respmon'])} | {r['windows']} "
              f"| {fmt(r['default'])} "
              f"| {fmt(r['biosppy'])} |")
    print("\n`**`: respmon is null or more than 1 bpm off the belt.")


def evaluate_resting(nk) -> None:
    print("\n## NeuroKit2 bio_resting_5min_100hz.csv, RSP at 100 Hz (no reference)\n", flush=True)
    print("[resting] respmon replay", file=sys.stderr, flush=True)
    summary = respmon_replay(NK_RESTING, "RSP", 100.0)
    ours = summary["median_rr_bpm"]
    _, values, _ = read_waveform_csv(NK_RESTING, "RSP", 100.0)
    print("[resting] neurokit2", file=sys.stderr, flush=True)
    theirs = {method: neurokit_median(nk, values, 100.0, method) for method in NK_METHODS}
    print("| estimator | median rate (bpm) | respmon − estimator (bpm) |")
    print("| --- | --- | --- |")
    print(f"| respmon replay ({summary['windows_with_rate']}/{summary['windows']} windows with a rate) "
          f"| {fmt(ours)} | |")
    for method in NK_METHODS:
        diff = None if ours is None or theirs[method] is None else ours - theirs[method]
        print(f"| NeuroKit2 {method} | {fmt(theirs[method])} | {fmt(diff)} |")


def main() -> int:
    if not RR_DIR.is_dir():
        print(f"skipped: evaluation data not found at {DATA} (it is not part of the repository)")
        return 0
    try:
        import neurokit2 as nk
    except ImportError:
        print("neurokit2 is not installed: pip install neurokit2 to run this benchmark "
              "(.venv/bin/pip install neurokit2); it is a benchmark-only dependency", file=sys.stderr)
        return 2
    started = time.perf_counter()
    print(f"respmon vs NeuroKit2 {nk.__version__} on real data")
    evaluate_rr_realsense(nk)
    if NK_RESTING.is_file():
        evaluate_resting(nk)
    else:
        print(f"\n(skipped the resting recording: {NK_RESTING} not found)")
    print(f"\ntotal {time.perf_counter() - started:.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
