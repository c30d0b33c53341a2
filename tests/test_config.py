from __future__ import annotations

import pytest
import yaml
from hypothesis import given, strategies as st

from respmon.config import ConfigError, default_config, load_config, parse_config, schema_keys
from tests.conftest import REPO


def test_shipped_config_states_every_key_with_its_default():
    shipped = load_config(REPO / "config.yaml")
    assert shipped == default_config()
    text = (REPO / "config.yaml").read_text()
    for key in schema_keys():
        assert f"{key.rsplit('.', 1)[-1]}:" in text, f"config.yaml does not document {key}"


def test_every_shipped_key_has_a_comment():
    lines = (REPO / "config.yaml").read_text().splitlines()
    for number, line in enumerate(lines):
        stripped = line.strip()
        if not stripped or stripped.startswith("#") or stripped.endswith(":"):
            continue
        commented = "#" in line or (number > 0 and lines[number - 1].strip().startswith("#"))
        assert commented, f"config.yaml line {number + 1} has no comment: {line!r}"


def test_fixed_region_box_loads():
    assert parse_config("region:\n  fixed_box_px: [100, 50, 220, 160]\n").region.fixed_box_px == [100, 50, 220, 160]


def test_empty_file_means_defaults():
    assert parse_config("") == default_config()


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("signal:\n  rate_hz: 10\n  colour: red\n", "<config>:3: signal.colour: unknown key"),
        ("signals:\n  rate_hz: 10\n", "<config>:1: signals: unknown key"),
        ("signal:\n  rate_hz: fast\n", "<config>:2: signal.rate_hz: must be float"),
        ("signal:\n  rate_hz: 0\n", "signal.rate_hz: must be >= 1.0"),
        ("signal:\n  rate_hz: .nan\n", "must be a finite number"),
        ("simulation:\n  recording:\n    fps: 14\n", "<config>:3: simulation.recording.fps: must be one of 6, 15, 30"),
        ("simulation:\n  recording:\n    width: true\n", "simulation.recording.width: must be int"),
        ("simulation:\n  recording: 3\n", "<config>:2: simulation.recording: must be a mapping"),
        ("simulation:\n  demo:\n    script: 'eupnea:10,snoring:5'\n", "unknown name 'snoring'"),
        ("signal:\n  rate_hz: 10\nsignal:\n  rate_hz: 11\n", "<config>:3: signal: key given twice"),
        ("signal: [1, 2\n", "not valid YAML"),
        ("- 1\n- 2\n", "top level: must be a mapping"),
        ("camera:\n  serial: 123456789012\n", 'camera.serial: must be str, got 123456789012 (quote it: "123456789012")'),
        ("region:\n  fixed_box_px: [10, 20, 5, 40]\n", "region.fixed_box_px: must have 0 <= x0 < x1"),
        ("region:\n  fixed_box_px: [10, 20, 30]\n", "must be null or [x0, y0, x1, y1]"),
    ],
)
def test_bad_config_is_one_line_naming_the_key(text, fragment):
    with pytest.raises(ConfigError) as caught:
        parse_config(text)
    message = str(caught.value)
    assert fragment in message
    assert "\n" not in message


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")


@given(st.floats(min_value=1.0, max_value=100.0, allow_nan=False))
def test_in_range_rates_load_as_given(rate):
    config = parse_config(yaml.safe_dump({"signal": {"rate_hz": rate}}))
    assert config.signal.rate_hz == rate


@given(st.one_of(st.floats(max_value=0.999), st.floats(min_value=100.001)).filter(lambda v: v == v))
def test_out_of_range_rates_are_refused(rate):
    with pytest.raises(ConfigError, match="signal.rate_hz"):
        parse_config(yaml.safe_dump({"signal": {"rate_hz": rate}}))


@pytest.mark.parametrize("text, fragment", [
    ("? [1, 2]\n: 3\n", "top level: keys must be plain names"),  # a complex key: was a TypeError
    ("signal:\n  ? {a: 1}\n  : 3\n", "<config>:2: signal: keys must be plain names"),
    ("[" * 3000 + "]" * 3000, "nested too deeply to be a config"),  # was a RecursionError
    ("region:\n  fixed_box_px: " + "[" * 300 + "]" * 300 + "\n", "nested too deeply to be a config"),
    ("bed:\n  name: " + "x" * 300_000 + "\n", "too large for a config"),
])
def test_hostile_config_text_is_one_line(text, fragment):
    with pytest.raises(ConfigError) as caught:
        parse_config(text)
    assert fragment in str(caught.value) and "\n" not in str(caught.value)


def test_a_config_must_be_a_regular_file_of_a_config_s_size(tmp_path):
    import os

    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)  # reading it would wait for a writer for ever
    for path, fragment in ((fifo, "not a regular file"), ("/dev/zero", "not a regular file"),
                           (tmp_path, "not a regular file")):
        with pytest.raises(ConfigError, match=fragment):
            load_config(path)
    big = tmp_path / "big.yaml"
    big.write_text("# " + "x" * 1_000_000 + "\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="too large for a config"):
        load_config(big)


def test_run_refuses_a_fifo_config_with_one_line(tmp_path):
    import os

    from tests.conftest import run_cli

    fifo = tmp_path / "respmon.yaml"
    os.mkfifo(fifo)
    code, _, err = run_cli("run", "--config", str(fifo))
    assert code == 2 and "not a regular file" in err and len(err.strip().splitlines()) == 1
