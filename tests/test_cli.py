from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from respmon import __version__
from respmon.patterns import PATTERNS
from tests.conftest import run_cli


def test_help_lists_subcommands():
    code, out, _ = run_cli("--help")
    assert code == 0
    assert "simulate" in out and "demo" in out


def test_version():
    code, out, _ = run_cli("--version")
    assert code == 0
    assert out.strip() == f"respmon {__version__}"


def _one_line_exit_2(code: int, err: str, fragment: str) -> None:
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert fragment in lines[0]
    assert "Traceback" not in err


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["simulate", "signals", "--pattern", "snoring", "--count", "1", "--out", "{tmp}/x.csv"], "invalid choice: 'snoring'"),
        (["simulate", "signals", "--pattern", "all", "--count", "0", "--out", "{tmp}/x.csv"], "--count"),
        (["simulate", "signals", "--pattern", "all", "--count", "1", "--duration", "-60", "--out", "{tmp}/x.csv"], "--duration"),
        (["simulate", "signals", "--pattern", "all", "--count", "1", "--seed", "-1", "--out", "{tmp}/x.csv"], "--seed"),
        (["simulate", "signals", "--pattern", "all", "--count", "1", "--out", "{tmp}/x.txt"], "must end in .csv or .npz"),
        (["simulate", "signals", "--pattern", "all", "--count", "1", "--out", "{tmp}/no/such/x.csv"], "does not exist"),
        (["simulate", "signals", "--pattern", "all", "--count", "1", "--out", "{tmp}"], "must end in"),
        (["simulate", "signals", "--pattern", "all", "--count", "1", "--mode", "authors", "--duration", "45",
          "--out", "{tmp}/x.csv"], "60"),
        (["simulate", "signals", "--pattern", "all", "--count", "1", "--config", "{tmp}/bad.yaml",
          "--out", "{tmp}/x.csv"], "bad.yaml:2: signal.rate_hzz: unknown key"),
        (["simulate", "recording", "--script", "eupnea:60,snoring:5", "--out", "{tmp}/x.db3"], "unknown name 'snoring'"),
        (["simulate", "recording", "--script", "eupnea:-5", "--out", "{tmp}/x.db3"], "duration must be > 0"),
        (["simulate", "recording", "--script", "eupnea 60", "--out", "{tmp}/x.db3"], "expected NAME[@RATE]:SECONDS"),
        (["simulate", "recording", "--script", "eupnea:5", "--out", "{tmp}/x.bag"], "must end in .db3"),
        (["simulate", "recording", "--script", "eupnea:5", "--fps", "14", "--out", "{tmp}/x.db3"], "--fps: must be one of"),
        (["simulate", "recording", "--script", "eupnea:5", "--distance-m", "9", "--out", "{tmp}/x.db3"], "--distance-m: must be <="),
        (["simulate", "recording", "--script", "eupnea:5", "--out", "{tmp}/ro/x.db3"], "not writable"),
        (["simulate", "recording", "--script", "eupnea:5", "--out", "/sys/respmon-test.db3"], "not writable"),
        (["simulate", "signals", "--pattern", "all", "--count", "1", "--out", "/sys/respmon-test.csv"], "not writable"),
        (["demo", "--config", "{tmp}/missing.yaml"], "config file not found"),
        (["demo", "--config", "{tmp}/bad.yaml"], "unknown key"),
        (["bogus"], "invalid choice"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, argv, fragment):
    (tmp_path / "bad.yaml").write_text("signal:\n  rate_hzz: 10\n")
    readonly = tmp_path / "ro"
    readonly.mkdir()
    readonly.chmod(0o555)
    if "{tmp}/ro" in " ".join(argv) and _root_ignores_permissions(readonly):
        pytest.skip("running as root: a read-only folder is still writable")
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    code, _, err = run_cli(*argv)
    _one_line_exit_2(code, err, fragment)


def _root_ignores_permissions(folder) -> bool:
    import os

    return os.access(folder, os.W_OK)


def test_unwritable_output_as_root_too(tmp_path):
    # Root can write anywhere, but not into a path whose parent is a file.
    blocker = tmp_path / "file"
    blocker.write_text("")
    code, _, err = run_cli("simulate", "signals", "--pattern", "eupnea", "--count", "1",
                           "--out", str(blocker / "x.csv"))
    _one_line_exit_2(code, err, "does not exist")


def test_installed_entry_point_prints_no_traceback(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "respmon.cli", "simulate", "recording", "--script", "eupnea:-1",
         "--out", str(tmp_path / "x.db3")],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.strip() == "respmon: error: --script: segment 'eupnea:-1': duration must be > 0 and <= 86400 s"


def test_signals_csv_has_authors_layout_and_is_reproducible(tmp_path):
    first, second = tmp_path / "a.csv", tmp_path / "b.csv"
    for out in (first, second):
        code, _, err = run_cli("simulate", "signals", "--pattern", "all", "--count", "100", "--seed", "1",
                               "--out", str(out))
        assert code == 0, err
    assert first.read_bytes() == second.read_bytes()
    table = np.loadtxt(first, delimiter=",")
    assert table.shape == (700, 601)
    assert np.array_equal(np.bincount(table[:, 0].astype(int)), [0] + [100] * len(PATTERNS))
    assert table[:, 1:].min() >= 0 and table[:, 1:].max() <= 1
    code, _, _ = run_cli("simulate", "signals", "--pattern", "all", "--count", "100", "--seed", "2",
                         "--out", str(second))
    assert first.read_bytes() != second.read_bytes()


def test_signals_npz_physiological(tmp_path):
    out = tmp_path / "p.npz"
    code, _, err = run_cli("simulate", "signals", "--pattern", "tachypnea", "--count", "3", "--mode",
                           "physiological", "--duration", "30", "--rate-hz", "25", "--out", str(out))
    assert code == 0, err
    with np.load(out) as data:
        assert data["signals"].shape == (3, 750)
        assert list(data["labels"]) == [3, 3, 3]
        assert float(data["rate_hz"]) == 25.0
        assert str(data["mode"]) == "physiological"
