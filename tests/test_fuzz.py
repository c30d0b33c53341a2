"""Property tests of the three readers that take input from outside (issue 11): the config
loader, the CSV readers and the message parser. Whatever they are given, they return something
valid or raise their one-line error; never another exception, never a hang.

Examples are drawn the same on every run (tests/conftest.py's profile: derandomize); each property
draws a few hundred, a few seconds in all. The deadline is generous (inputs are small: a slow
example is a real slowness, not a busy CI machine). For a longer hunt:
RESPMON_FUZZ_EXAMPLES=5000 .venv/bin/python -m pytest tests/test_fuzz.py
"""

from __future__ import annotations

import io
import json
import os
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from respmon.classify_cmd import read_signal_rows
from respmon.config import SCHEMA, ConfigError, Setting, check_value, parse_config
from respmon.errors import UsageError
from respmon.publish.schema import MAX_MESSAGE_BYTES, MalformedMessage, check_message, check_snapshot, decode, decode_snapshot
from respmon.sources.clock import MAX_SOURCE_TIME_S
from respmon.sources.waveform import MAX_SIGNAL_ABS, read_waveform_csv
from respmon.watch import Console
from tests.conftest import REPO

MAX_LINE = 500
EXAMPLES = int(os.environ.get("RESPMON_FUZZ_EXAMPLES", "300"))
FUZZ = settings(max_examples=EXAMPLES, deadline=timedelta(seconds=2), suppress_health_check=[HealthCheck.too_slow])


def _one_line(exc: BaseException) -> None:
    text = str(exc)
    assert text and "\n" not in text and "\r" not in text, repr(text[:300])
    assert len(text) <= MAX_LINE, f"{len(text)} characters: {text[:300]!r}"


# --- the config loader --------------------------------------------------------------------------


def _leaves(schema: dict, prefix: tuple = ()):
    for key, entry in schema.items():
        if isinstance(entry, dict):
            yield from _leaves(entry, prefix + (key,))
        else:
            yield prefix + (key,), entry


LEAVES = list(_leaves(SCHEMA))
SECTIONS = sorted(k for k, v in SCHEMA.items() if isinstance(v, dict))


def _assert_valid(config) -> None:
    """A config the loader returned holds only values its schema allows."""
    for path, setting in LEAVES:
        value = config
        for key in path:
            value = getattr(value, key)
        check_value(setting, value, ".".join(path))  # raises if the loader let a bad value through


def _load(text: str) -> None:
    try:
        config = parse_config(text, "fuzz.yaml")
    except ConfigError as exc:
        _one_line(exc)
        return
    _assert_valid(config)


@FUZZ
@given(st.text(max_size=300))
def test_config_loader_on_any_text(text):
    _load(text)


# YAML-ish text put together from the schema's own names and the kinds of scalars a hand-edited
# file holds, so that most documents get past the parser into the checks of the keys.
SAFE_SCALARS = [
    "0", "1", "-1", "10", "848", "30", "0.5", "1.0e+400", "-.inf", ".inf", ".nan", "1e3", "0x10", "0o17",
    "1_000", "12:30", "true", "yes", "no", "on", "null", "~", "''", '""', "'text'", '"a\\tb"', '"\\u00e9"',
    "bed-3", "tcp://127.0.0.1:5556", "tcp://127.0.0.1:99999", "ipc:///tmp/x", "info", "INFO",
    "[]", "{}", "[1, 2, 3, 4]", "[0, 0, 10, 10]", "[1.5, 2, 3, 4]", "{a: 1}", "[[1]]", "2024-12-06",
    "2024-12-06T05:46:40Z", "&a 5", "*a", "&b [1, 2]", "*b", "!!str 5", "!!float 5", "!!int 5", "!!binary aGk=",
    "eupnea:60", "eupnea:-5", "- 1", "? x",
] + ["5", "20", "0.9", "1.0", "bed-3", "eupnea@14:60,central_apnea:25"] * 4  # more often: values that may be right
# Scalars the safe loader turns into another exception than YAMLError (tags, impossible dates, huge
# integers): each must still be one line naming the key.
LOADER_BUG_SCALARS = ["!foo x", "!!python/name:os.system", "!!int x", "!!float x", "!!bool x", "!!map x", "!!seq x", "2024-13-45",
                      "9" * 4400, "1" * 400, "!!timestamp x", "!!pairs x"]


def _documents(scalars: list[str]):
    """Documents of the schema's sections and keys (now and then a wrong one), indented as a hand
    would (now and then with a tab), holding the scalars given."""
    value = st.sampled_from(scalars)
    junk = st.sampled_from(["<<", "? [1, 2]", "nmae", "1", "x y", "~", "'bed'", "&k bed"])

    def block(draw, schema: dict, indent: str, lines: list) -> None:
        keys = st.sampled_from(sorted(schema)) if draw(st.integers(0, 7)) else junk
        for key in draw(st.lists(keys, min_size=1, max_size=4)):
            entry = schema.get(key)
            if isinstance(entry, dict) and draw(st.integers(0, 11)):
                lines.append(f"{indent}{key}:")
                block(draw, entry, indent + draw(st.sampled_from(["  "] * 18 + ["    ", "\t"])), lines)
            else:
                lines.append(f"{indent}{key}: {draw(value)}")

    @st.composite
    def document(draw):
        lines: list[str] = []
        block(draw, SCHEMA, "", lines)
        return "\n".join(lines) + draw(st.sampled_from(["\n"] * 8 + ["", "\n---\n", "\n...\n"]))

    return document()


@FUZZ
@given(_documents(SAFE_SCALARS))
def test_config_loader_on_yaml_made_of_its_own_keys(text):
    _load(text)


@settings(FUZZ, max_examples=200)
@given(_documents(SAFE_SCALARS + LOADER_BUG_SCALARS))
def test_config_loader_on_yaml_with_tags_and_huge_numbers(text):
    _load(text)


# Key names without line breaks: a key with one is echoed unescaped, on two lines (reported:
# respmon/config.py; test_config_loader_on_keys_with_line_breaks below).
plain_key = st.text(alphabet=st.characters(exclude_categories=("Cs", "Cc", "Zl", "Zp")), max_size=12)
json_like = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(plain_key, inner, max_size=4),
    max_leaves=12,
)


@st.composite
def config_structures(draw):
    """Dictionaries shaped like the schema, some values right, some wrong, some keys unknown."""
    out = {}
    for section in draw(st.lists(st.sampled_from(SECTIONS) | plain_key, max_size=4, unique=True)):
        entry = SCHEMA.get(section)
        if not isinstance(entry, dict) or draw(st.integers(0, 9)) == 0:
            out[section] = draw(json_like)
            continue
        keys = st.sampled_from(sorted(entry)) | plain_key
        defaults = [s.default for s in entry.values() if isinstance(s, Setting)] or [None]
        out[section] = {k: draw(st.sampled_from(defaults) | json_like)
                        for k in draw(st.lists(keys, max_size=4, unique=True))}
    return out


@FUZZ
@given(config_structures(), st.sampled_from([yaml.safe_dump, lambda v: yaml.safe_dump(v, default_flow_style=True)]))
def test_config_loader_on_structures_dumped_as_yaml(structure, dump):
    _load(dump(structure))


@settings(FUZZ, max_examples=50)
@given(st.sampled_from(SECTIONS), st.text(min_size=1, max_size=6).map(lambda t: t[:3] + "\n" + t[3:]))
def test_config_loader_on_keys_with_line_breaks(section, key):
    _load(yaml.safe_dump({section: {key: 1}}))


def _bomb(levels: int) -> str:
    """A flow list of anchors, each aliasing the one before 9 times: 9**levels leaves if expanded."""
    items = ["&a0 [x, x, x, x, x, x, x, x, x]"] + [
        f"&a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, levels + 1)]
    return "[" + ", ".join(items) + "]"


@settings(max_examples=40, deadline=timedelta(seconds=2))
@given(st.integers(1, 9), st.sampled_from(["{b}\n", "bed:\n  name: {b}\n", "region:\n  fixed_box_px: {b}\n",
                                           "signal: {b}\n", "camera:\n  width: {b}\n"]))
def test_config_loader_on_alias_bombs_is_quick(levels, where):
    with pytest.raises(ConfigError) as caught:  # each is wrong, and found wrong without expanding it
        parse_config(where.format(b=_bomb(levels)))
    _one_line(caught.value)


# --- the CSV readers ------------------------------------------------------------------------------

CELLS = ["0", "1", "-1", "0.1", "1e3", "1e39", "1e300", "-1e308", "1.7e12", "nan", "NaN", "inf", "-inf", "", " ",
         "abc", "1,5", '"1"', '"', "1_0", "0x1", "\x00", "t", "timestamp", "displacement", "é", "9" * 50, "-0", "+1"]


@st.composite
def csv_texts(draw):
    sep = draw(st.sampled_from([",", ",", ",", ";", "\t"]))
    header = draw(st.lists(st.sampled_from(["t", "timestamp", "displacement", "RSP", "", "a b", "t"]), min_size=0, max_size=4))
    width = max(1, len(header))
    rows = []
    t = draw(st.floats(-1e3, 1e3, allow_nan=False))
    for _ in range(draw(st.integers(0, 30))):
        n = draw(st.sampled_from([width, width, width, width - 1, width + 1, 0]))
        cells = []
        for i in range(max(n, 0)):
            if draw(st.integers(0, 3)) == 0:
                cells.append(draw(st.sampled_from(CELLS)))
            elif i == 0:
                t += draw(st.sampled_from([0.1, 0.1, 0.1, 0.0, -0.1, 1e6]))
                cells.append(repr(t))
            else:
                cells.append(repr(draw(st.floats(-10, 10, allow_nan=False))))
        rows.append(sep.join(cells))
    newline = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    return newline.join([sep.join(header)] * bool(header) + rows) + newline * draw(st.integers(0, 2))


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


def _write(folder: Path, data: bytes) -> Path:
    path = folder / "fuzz.csv"
    path.write_bytes(data)
    return path


def _check_waveform(path: Path, column, rate_hz) -> None:
    try:
        t, v, name = read_waveform_csv(path, column, rate_hz)
    except UsageError as exc:
        _one_line(exc)
        return
    assert isinstance(name, str) and len(t) == len(v) >= 1
    assert t.dtype == v.dtype == np.float64
    assert np.all(np.isfinite(t)) and np.all(np.isfinite(v))
    assert np.all(np.diff(t) > 0)
    assert np.max(np.abs(t)) <= MAX_SOURCE_TIME_S and np.max(np.abs(v)) <= MAX_SIGNAL_ABS


def _check_rows(path: Path, labels) -> None:
    try:
        rows, truth = read_signal_rows(path, labels)
    except UsageError as exc:
        _one_line(exc)
        return
    assert rows and all(np.all(np.isfinite(r)) for r in rows)
    assert truth is None or len(truth) == len(rows)


@FUZZ
@given(st.binary(max_size=400), st.sampled_from([None, "displacement", "t"]), st.sampled_from([None, 10.0]))
def test_waveform_reader_on_any_bytes(folder, data, column, rate_hz):
    _check_waveform(_write(folder, data), column, rate_hz)


@FUZZ
@given(st.text(max_size=400), st.sampled_from([None, "displacement"]), st.sampled_from([None, 10.0]))
def test_waveform_reader_on_any_text(folder, text, column, rate_hz):
    _check_waveform(_write(folder, text.encode("utf-8")), column, rate_hz)


@FUZZ
@given(csv_texts(), st.sampled_from([None, "displacement", "RSP"]), st.sampled_from([None, 25.0]))
def test_waveform_reader_on_csv_like_text(folder, text, column, rate_hz):
    _check_waveform(_write(folder, text.encode("utf-8")), column, rate_hz)


signal_rows = st.one_of(st.binary(max_size=300), csv_texts().map(str.encode))


@FUZZ
@given(signal_rows)
def test_signal_row_reader_on_anything(folder, data):
    _check_rows(_write(folder, data), None)


@settings(FUZZ)
@given(signal_rows)
@example(b"1,2\n,,\n")
def test_signal_row_reader_with_labels_on_anything(folder, data):
    _check_rows(_write(folder, data), "first-column")


# --- the message parser ------------------------------------------------------------------------

GOOD = {name: json.loads((REPO / "tests" / "corpus" / "messages" / f"good-{name}.json").read_text())
        for name in ("alert", "heartbeat", "vitals", "snapshot")}
FIELDS = sorted({k for name in ("alert", "heartbeat", "vitals") for k in GOOD[name]} | {"reason", "duration_s"})

# Text with what a console must not print raw: line breaks, escapes, lone surrogates.
nasty_text = st.lists(st.one_of(st.characters(), st.sampled_from(["\n", "\x1b[2J", "\ud800", "\udce9", "\u2028", "\x00"])),
                      max_size=12).map("".join)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | nasty_text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(nasty_text, inner, max_size=3),
    max_leaves=10,
)


def _terminal() -> io.TextIOWrapper:
    return io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="strict", write_through=True)


def _shown(topic: str, message: dict) -> None:
    """What passed the check, `respmon watch` can show (on a strict UTF-8 terminal, one line)."""
    check_message(message)
    for as_json in (False, True):
        out = _terminal()
        console = Console(as_json, heartbeat_timeout_s=10.0, out=out)
        console.message(topic, message)
        text = out.buffer.getvalue().decode("utf-8")
        assert "\x1b" not in text and text.count("\n") <= 2, repr(text)


def _decode(frames: list[bytes]) -> None:
    try:
        topic, message = decode(frames)
    except MalformedMessage as exc:
        _one_line(exc)
        return
    _shown(topic, message)


def _encode(value) -> bytes:
    return json.dumps(value).encode("utf-8", "surrogatepass")  # json.dumps escapes them anyway


MSG = settings(max_examples=EXAMPLES, deadline=timedelta(seconds=1))


@MSG
@given(st.lists(st.binary(max_size=200), max_size=4))
def test_message_parser_on_any_frames(frames):
    _decode(frames)


@MSG
@given(json_values, st.sampled_from([b"alert/bed-3/x", b"heartbeat/bed-3/", b"", b"\xff"]))
def test_message_parser_on_any_json(value, topic):
    _decode([topic, _encode(value)])


@MSG
@given(st.sampled_from(["alert", "heartbeat", "vitals"]), st.lists(st.tuples(st.sampled_from(FIELDS), json_values,
                                                                             st.booleans()), min_size=1, max_size=3))
@example("alert", [("reason", "ended\x1b[2J\n05:46:41Z  CLEAR", False)])  # would draw a made-up line
@example("alert", [("onset", "\ud800", False)])  # printing it raised UnicodeEncodeError
def test_message_parser_on_good_messages_with_fields_changed(kind, changes):
    message = json.loads(json.dumps(GOOD[kind]))
    for field, value, drop in changes:
        evidence = message.get("evidence")
        nested = field in ("state", "quality", "probs") and kind == "alert" and isinstance(evidence, dict)
        target = evidence if nested else message
        if drop:
            target.pop(field, None)
        else:
            target[field] = value
    _decode([f"{kind}/bed-3/".encode(), _encode(message)])


@MSG
@given(st.one_of(st.binary(max_size=300), json_values.map(_encode),
                 st.tuples(st.sampled_from(sorted(GOOD["snapshot"])), json_values).map(
                     lambda c: _encode({**GOOD["snapshot"], c[0]: c[1]}))))
def test_snapshot_parser_on_anything(body):
    try:
        snapshot = decode_snapshot(body)
    except MalformedMessage as exc:
        _one_line(exc)
        return
    check_snapshot(snapshot)
    for as_json in (False, True):
        Console(as_json, heartbeat_timeout_s=10.0, out=_terminal()).snapshot(snapshot, "tcp://x", None)


def test_message_size_limit_holds_for_what_hypothesis_cannot_draw():
    """The sizes the properties above cannot reach, once each."""
    big = _encode({**GOOD["alert"], "bed": "x" * MAX_MESSAGE_BYTES})
    for frames in ([b"alert/x", big], [b"alert/x", b"[" * 200_000 + b"]" * 200_000], [b"x" * MAX_MESSAGE_BYTES, b"{}"]):
        with pytest.raises(MalformedMessage) as caught:
            decode(frames)
        _one_line(caught.value)
