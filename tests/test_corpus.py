"""Issue 11's corpus of bad inputs (tests/corpus/*/README.md lists each file and why it is bad):
every config, CSV and recording ends its command with exit status 2 and one short line naming
what is wrong; every message is refused as malformed, and `respmon watch` reports it and goes on.

The commands run in-process (tests/conftest.py's run_cli: a subprocess costs 2 s of imports, and
the corpus has 177 configs, CSVs and recordings); a few run as real subprocesses too, side by side,
to show the same from the outside. tests/corpus/make_corpus.py writes the corpus and its indexes.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from respmon.publish.schema import MalformedMessage, check_snapshot, decode, decode_snapshot
from tests.conftest import REPO, run_cli

CORPUS = REPO / "tests" / "corpus"
MAX_LINE = 500  # an error line names the file and the problem; it never echoes an input at length


def index(folder: str) -> list[tuple[str, str, str, str]]:
    """(file, command, expect, why) of each row of FOLDER/README.md's table."""
    rows = []
    for line in (CORPUS / folder / "README.md").read_text(encoding="utf-8").splitlines():
        if not line.startswith("| `"):
            continue
        cells = [c.strip().strip("`").replace("\\|", "|") for c in re.split(r"(?<!\\)\|", line)[1:-1]]
        rows.append(tuple(cells))
    assert rows, f"{folder}/README.md lists no files"
    return rows


# --- files made when the test runs (too large to keep, or not files at all) -----------------


def _fifo(path: Path) -> None:
    os.mkfifo(path)


def _dev_zero(path: Path) -> None:
    path.symlink_to("/dev/zero")


def _folder(path: Path) -> None:
    path.mkdir()


def _nothing(path: Path) -> None:
    pass


def _text(text: str):
    return lambda path: path.write_text(text, encoding="utf-8")


def _sparse(size: int):
    def make(path: Path) -> None:
        with open(path, "wb") as f:
            f.truncate(size)  # no disk used: the reader must refuse it by its size alone
    return make


def _copy(name: str):
    return lambda path: shutil.copyfile(CORPUS / "recordings" / name, path)


def _message(make_message):
    return lambda path: path.write_bytes(make_message())


def _good(name: str) -> dict:
    return json.loads((CORPUS / "messages" / name).read_text(encoding="utf-8"))


MADE_AT_TEST_TIME = {
    "configs": {
        "too-large.yaml": _text("# padding\n" * 30_000 + "bed:\n  name: bed-3\n"),
        "fifo.yaml": _fifo,
        "dev-zero.yaml": _dev_zero,
        "folder.yaml": _folder,
        "missing.yaml": _nothing,
        "bed-name-200-kb.yaml": _text("bed:\n  name: '" + "b" * 100 + "/" + "x" * 200_000 + "'\n"),
        "long-wrong-type-value.yaml": _text("camera:\n  width: " + "w" * 200_000 + "\n"),
        "long-unknown-key.yaml": _text("? " + "k" * 200_000 + "\n: 1\n"),
        "long-undefined-alias.yaml": _text("bed: *" + "a" * 200_000 + "\n"),
    },
    "csv": {
        "wave-cell-of-200-kb.csv": _text("t,displacement\n0," + "1" * 200_000 + "\n"),
        "wave-too-large.csv": _sparse(300 * 1024 * 1024),
        "wave-fifo.csv": _fifo,
        "wave-dev-zero.csv": _dev_zero,
        "wave-folder.csv": _folder,
        "wave-missing.csv": _nothing,
        "rows-fifo.csv": _fifo,
        "rows-dev-zero.csv": _dev_zero,
        "rows-folder.csv": _folder,
    },
    "recordings": {
        "fifo.db3": _fifo,
        "dev-zero.bag": _dev_zero,
        "folder.db3": _folder,
        "missing.db3": _nothing,
        "upper-case.DB3": _copy("half-a-second.db3"),
        "good-recording.npy": _copy("half-a-second.db3"),
    },
    "messages": {
        "bed-5-mb.json": _message(lambda: json.dumps({**_good("good-alert.json"), "bed": "x" * 5_000_000}).encode()),
        "bed-500-kb.json": _message(lambda: json.dumps({**_good("good-alert.json"), "bed": "x" * 500_000}).encode()),
        "nesting-100k.json": _message(lambda: b"[" * 100_000 + b"]" * 100_000),
        "snapshot-2-mb.json": _message(lambda: json.dumps({**_good("good-snapshot.json"), "padding": "x" * 2_000_000}).encode()),
    },
}

def _case(folder: str, row: tuple) -> pytest.param:
    name = row[0]
    return pytest.param(row, id=name)


def _path(folder: str, name: str, tmp_path: Path) -> Path:
    if not name.startswith("@"):
        path = CORPUS / folder / name
        assert path.is_file(), f"{path} is listed in {folder}/README.md but missing"
        return path
    path = tmp_path / name[1:]
    MADE_AT_TEST_TIME[folder][name[1:]](path)
    return path


class ConfigAccepted(Exception):
    pass


def _no_daemon(monkeypatch) -> None:
    """`respmon run` with a config that loads would go on to monitor a camera: fail instead."""
    import respmon.replay

    def accepted(*args, **kwargs):
        raise ConfigAccepted("the config was accepted")

    monkeypatch.setattr(respmon.replay, "load_classifier", accepted)


def _assert_refused(code: int, err: str, path: Path, expect: str) -> None:
    lines = err.splitlines()
    assert "Traceback" not in err, err[-3000:]
    assert code == 2, err[-3000:]
    assert len(lines) == 1, err[-3000:]
    line = lines[0]
    assert line.startswith("respmon: error: "), line[:MAX_LINE]
    assert expect in line, line[:MAX_LINE]
    assert path.name in line, line[:MAX_LINE]
    assert len(line) <= MAX_LINE, f"{len(line)} characters: {line[:MAX_LINE]}..."


def _run_refused(folder: str, row: tuple, tmp_path: Path, monkeypatch) -> None:
    name, command, expect, _ = row
    path = _path(folder, name, tmp_path)
    argv = command.format(file=path).split()
    if argv[0] == "run":
        _no_daemon(monkeypatch)
    started = time.monotonic()
    code, _, err = run_cli(*argv)
    _assert_refused(code, err, path, expect)
    assert time.monotonic() - started < 20.0, "refusing a bad input should not take this long"


@pytest.mark.parametrize("row", [_case("configs", r) for r in index("configs")])
def test_bad_config_is_one_line_and_exit_2(row, tmp_path, monkeypatch):
    _run_refused("configs", row, tmp_path, monkeypatch)


@pytest.mark.parametrize("row", [_case("csv", r) for r in index("csv")])
def test_bad_csv_is_one_line_and_exit_2(row, tmp_path, monkeypatch):
    _run_refused("csv", row, tmp_path, monkeypatch)


@pytest.mark.parametrize("row", [_case("recordings", r) for r in index("recordings")])
def test_bad_recording_is_one_line_and_exit_2(row, tmp_path, monkeypatch):
    _run_refused("recordings", row, tmp_path, monkeypatch)


def test_every_corpus_file_is_indexed():
    """A file added to the corpus without a line saying why it is bad is a mistake."""
    for folder in ("configs", "csv", "recordings", "messages"):
        listed = {row[0] for row in index(folder)} | {"README.md"}
        if folder == "messages":
            listed |= {p.name for p in (CORPUS / folder).glob("good-*.json")}
        if folder == "recordings":
            listed.add("make_recordings.py")
        present = {p.name for p in (CORPUS / folder).iterdir() if p.name != "__pycache__"}
        assert present <= listed, f"{folder}: not in README.md: {sorted(present - listed)}"
        assert {n for n in listed if not n.startswith("@")} <= present, f"{folder}: listed but missing"
        assert set(MADE_AT_TEST_TIME[folder]) == {n[1:] for n in listed if n.startswith("@")}, folder


def test_the_corpus_stays_small():
    sizes = {p: p.stat().st_size for p in CORPUS.rglob("*") if p.is_file() and "__pycache__" not in p.parts}
    assert sum(sizes.values()) < 1_000_000
    assert max(sizes.values()) <= 100_000, max(sizes, key=sizes.get)


# The same from the outside: real processes, as an operator or systemd would run them, side by side.
SUBPROCESS_CASES = [
    ("configs", "complex-key.yaml"),
    ("configs", "deeply-nested-flow.yaml"),
    ("csv", "wave-time-1e300.csv"),
    ("csv", "rows-1e39.csv"),
    ("recordings", "truncated.db3"),
]


def test_a_few_through_real_processes():
    rows = {(folder, row[0]): row for folder in ("configs", "csv", "recordings") for row in index(folder)}
    running = []
    for folder, name in SUBPROCESS_CASES:
        _, command, expect, _ = rows[(folder, name)]
        path = CORPUS / folder / name
        argv = [sys.executable, "-m", "respmon.cli", *command.format(file=path).split()]
        running.append((path, expect, subprocess.Popen(argv, cwd=REPO, stdout=subprocess.DEVNULL,
                                                       stderr=subprocess.PIPE, text=True)))
    for path, expect, process in running:
        try:
            _, err = process.communicate(timeout=120)
        finally:
            process.kill()
        _assert_refused(process.returncode, err, path, expect)


# --- messages ---------------------------------------------------------------------------------

TOPIC = b"alert/bed-3/central_apnea"
GOOD_ID = "feedface" * 4  # a good alert sent between the bad messages


def _frames(kind: str, body: bytes) -> list[bytes]:
    good = (CORPUS / "messages" / "good-alert.json").read_bytes()
    return {"pub": [TOPIC, body], "pub-alone": [body], "pub-extra-frame": [TOPIC, body, body],
            "topic": [body, good]}[kind]


def _message_body(name: str, tmp_path: Path) -> bytes:
    return _path("messages", name, tmp_path).read_bytes()


MESSAGE_ROWS = index("messages")


@pytest.mark.parametrize("row", [_case("messages", r) for r in MESSAGE_ROWS])
def test_bad_message_is_refused_by_name(row, tmp_path):
    name, kind, expect, _ = row
    body = _message_body(name, tmp_path)
    with pytest.raises(MalformedMessage) as caught:
        decode_snapshot(body) if kind == "snapshot" else decode(_frames(kind, body))
    problem = str(caught.value)
    assert expect in problem and "\n" not in problem and len(problem) <= 200, problem[:300]


def test_good_messages_pass():
    for name in ("good-alert.json", "good-heartbeat.json", "good-vitals.json"):
        body = (CORPUS / "messages" / name).read_bytes()
        assert decode([TOPIC, body])[1] == json.loads(body)
    check_snapshot(decode_snapshot((CORPUS / "messages" / "good-snapshot.json").read_bytes()))


def _terminal() -> io.TextIOWrapper:
    """What stdout is on an operator's terminal: UTF-8, strict (a StringIO would take anything)."""
    return io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="strict", write_through=True)


def _output(stream: io.TextIOWrapper) -> str:
    return stream.buffer.getvalue().decode("utf-8")


@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
def test_the_console_reports_each_bad_message_and_goes_on(as_json, tmp_path):
    """The handling of `respmon watch`'s loop: a message is decoded, reported as malformed if it
    is, otherwise shown; between the bad ones, good alerts are still shown."""
    from respmon.watch import Console

    out = _terminal()
    console = Console(as_json, heartbeat_timeout_s=10.0, out=out)
    console.snapshot(decode_snapshot((CORPUS / "messages" / "good-snapshot.json").read_bytes()), "tcp://x", None)
    good = _good("good-alert.json")
    seq = _good("good-snapshot.json")["seq"]["alert"] + 1  # the next alert after the snapshot
    pub_rows = [r for r in MESSAGE_ROWS if r[1] != "snapshot"]
    for name, kind, _, _ in pub_rows:
        for frames in (_frames(kind, _message_body(name, tmp_path)),
                       [TOPIC, json.dumps({**good, "seq": seq, "id": GOOD_ID}).encode()]):
            try:
                console.message(*decode(frames))
            except MalformedMessage as exc:
                console.notice("malformed_message", f"skipped a malformed message: {exc}", problem=str(exc))
        seq += 1
    for name, _, _, _ in [r for r in MESSAGE_ROWS if r[1] == "snapshot"]:
        try:
            console.snapshot(decode_snapshot(_message_body(name, tmp_path)), "tcp://x", None)
        except MalformedMessage as exc:
            console.notice("malformed_snapshot", f"skipped a malformed snapshot: {exc}", problem=str(exc))
    text = _output(out)
    lines = text.splitlines()
    assert len(lines) == 1 + (0 if as_json else 1) + 2 * len(pub_rows) + (len(MESSAGE_ROWS) - len(pub_rows))
    assert sum("malformed_message" in line or "skipped a malformed message" in line for line in lines) == len(pub_rows)
    assert sum(GOOD_ID[:8] in line for line in lines) == len(pub_rows)
    assert "\x1b" not in text and all(len(line) < 2000 for line in lines)


class _FakeSubscriber:
    """Hands `respmon watch` the frames given, as a SUB socket would, then nothing."""

    def __init__(self, frames: list[list[bytes]]):
        self.frames = list(frames)

    def poll(self, timeout_ms: int = 0) -> bool:
        if self.frames:
            return True
        time.sleep(min(timeout_ms, 10) / 1000.0)
        return False

    def recv_multipart(self) -> list[bytes]:
        return self.frames.pop(0)

    def close(self, linger=None) -> None:
        pass

    def get_monitor_socket(self, events=None) -> "_FakeSubscriber":
        return _FakeSubscriber([])  # no handshake events: a socket that never speaks

    def disable_monitor(self) -> None:
        pass


@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
def test_respmon_watch_reports_each_bad_message_and_shows_the_good_alert_after(as_json, tmp_path, monkeypatch):
    """`respmon watch` itself (its socket and its snapshot request faked): every bad message of
    the corpus, then a good alert; a bad snapshot first."""
    import respmon.watch as watch

    bad = [_frames(kind, _message_body(name, tmp_path)) for name, kind, _, _ in MESSAGE_ROWS if kind != "snapshot"]
    good = {**_good("good-alert.json"), "seq": 99, "id": GOOD_ID}
    feed = bad + [[TOPIC, json.dumps(good).encode()]]
    snapshot = (CORPUS / "messages" / "snapshot-alerts-null.json").read_bytes()
    monkeypatch.setattr(watch, "subscriber", lambda *args, **kwargs: _FakeSubscriber(feed))
    monkeypatch.setattr(watch, "request_snapshot", lambda *args, **kwargs: decode_snapshot(snapshot))
    # CURVE keys (issue 11's transport security) are not what this test is about
    monkeypatch.setattr(watch, "client_security", lambda *args, **kwargs: None, raising=False)
    out = _terminal()
    monkeypatch.setattr(sys, "stdout", out)
    args = SimpleNamespace(config=None, endpoint="tcp://127.0.0.1:1", snapshot_endpoint="tcp://127.0.0.1:2",
                           bed=None, json=as_json, for_s=1.0)
    assert watch.run(args) == 0
    lines = _output(out).splitlines()
    malformed = [line for line in lines if "malformed message" in line or '"malformed_message"' in line]
    assert "malformed snapshot" in lines[0] or '"malformed_snapshot"' in lines[0], lines[0]
    assert len(malformed) == len(bad), "\n".join(lines)
    shown = [i for i, line in enumerate(lines) if GOOD_ID[:8] in line]
    assert shown and shown[0] > lines.index(malformed[-1]), "\n".join(lines[-5:])
