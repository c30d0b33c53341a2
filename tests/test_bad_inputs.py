"""Inputs the issue-11 probes found giving a traceback, a hang or a wrong answer: each is now one
line naming what is wrong, exit 2."""

from __future__ import annotations

import numpy as np
import pytest

from respmon.config import ConfigError, parse_config
from tests.conftest import run_cli


def one_line_exit_2(code: int, err: str, fragment: str) -> None:
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert fragment in err, err


@pytest.fixture
def one_signal(tmp_path):
    path = tmp_path / "signals.csv"
    x = np.sin(2 * np.pi * 0.25 * np.arange(600) / 10.0)
    path.write_text(",".join(f"{v:.4f}" for v in x) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("rate", ["1e9", "1e-6", "0.1"])
def test_classify_refuses_a_sample_rate_no_chest_signal_has(one_signal, rate):
    code, _, err = run_cli("classify", str(one_signal), "--rate-hz", rate)
    one_line_exit_2(code, err, "must be 0.5 to 1000 Hz")


def test_classify_refuses_values_beyond_what_the_network_can_take(tmp_path):
    # >= 1e39 overflowed float32: "eupnea", confidence NaN, exit 0
    path = tmp_path / "huge.csv"
    path.write_text(",".join(["1e39"] * 600) + "\n", encoding="utf-8")
    code, _, err = run_cli("classify", str(path), "--rate-hz", "10")
    one_line_exit_2(code, err, "must be finite and within +-1e+09")


def test_replay_refuses_timestamps_that_are_no_time(tmp_path):
    path = tmp_path / "wave.csv"
    rows = "\n".join(f"{1e300 + i * 1e290},{np.sin(i / 10):.3f}" for i in range(300))
    path.write_text("t,displacement\n" + rows + "\n", encoding="utf-8")
    code, _, err = run_cli("replay", str(path))
    one_line_exit_2(code, err, "times must be within")


def test_a_port_beyond_65535_is_refused_not_bound_elsewhere(tmp_path):
    config = tmp_path / "respmon.yaml"
    config.write_text('publish:\n  endpoint: "tcp://127.0.0.1:99999"\n', encoding="utf-8")
    code, _, err = run_cli("run", "--config", str(config))
    one_line_exit_2(code, err, "the port must be 1 to 65535")


def test_a_huge_bad_bed_name_is_not_echoed_back_in_full():
    with pytest.raises(ConfigError) as caught:
        parse_config("bed:\n  name: '" + "x" * 100 + "/" + "y" * 200_000 + "'\n")
    assert len(str(caught.value)) < 300 and "bed.name" in str(caught.value)
