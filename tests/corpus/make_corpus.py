"""Writes the bad-input corpus of issue 11 and the README.md of each folder, the index that
tests/test_corpus.py reads: one row per case, `| file | command | expect | why |`.

    .venv/bin/python tests/corpus/make_corpus.py            # configs, csv, messages
    .venv/bin/python tests/corpus/make_corpus.py recordings # also the recordings (pyrealsense2)

Edit the cases here, not the files. A file named `@NAME` in an index is not checked in: the test
makes it when it runs (a fifo, a link to /dev/zero, a folder, or a file too large to keep here;
tests/test_corpus.py, MADE_AT_TEST_TIME, says how). Every case is refused with one line and
exit 2 naming what is wrong (messages: reported as malformed and skipped); `expect` is a piece of
that line. Random bytes are seeded, so a rerun writes the same files (recordings aside: the
recorder stores some wall-clock data).
"""

from __future__ import annotations

import gzip
import json
import random
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

# --------------------------------------------------------------------------------------------
# configs: `respmon run --config FILE` (the daemon's start; a SIGHUP reads the same loader)
# --------------------------------------------------------------------------------------------

RUN = "run --config {file}"


def _random_bytes(seed: int, n: int) -> bytes:
    rng = random.Random(seed)
    return bytes(rng.getrandbits(8) for _ in range(n))


def _bomb(levels: int = 9, key: str = "lol") -> str:
    lines = [f"{key}0: &a0 [x, x, x, x, x, x, x, x, x]"]
    for i in range(1, levels):
        refs = ", ".join([f"*a{i - 1}"] * 9)
        lines.append(f"{key}{i}: &a{i} [{refs}]")
    return "\n".join(lines) + "\n"


CONFIGS: list[tuple[str, str | bytes, str, str, str]] = [
    # (file, content, command, expect, why)
    ("unknown-key.yaml", "bed:\n  nmae: bed-3\n", RUN, "bed.nmae: unknown key", "a misspelt key"),
    ("unknown-section.yaml", "alarms:\n  apnea_delay_s: 20\n", RUN, "alarms: unknown key", "a section the program does not have"),
    ("wrong-type-int.yaml", "camera:\n  width: wide\n", RUN, "camera.width: must be int", "text where a whole number goes"),
    ("wrong-type-float-for-int.yaml", "camera:\n  fps: 30.0\n", RUN, "camera.fps: must be int", "a float where a whole number goes"),
    ("wrong-type-quoted-bool.yaml", "source:\n  loop: 'true'\n", RUN, "source.loop: must be bool", "a quoted 'true' is text, not a bool"),
    ("wrong-type-bool-for-float.yaml", "rate:\n  window_s: yes\n", RUN, "rate.window_s: must be float", "YAML 1.1 reads yes as a bool"),
    ("wrong-type-list-for-str.yaml", "bed:\n  name: [bed-3]\n", RUN, "bed.name: must be a single str", "a list where a name goes"),
    ("wrong-type-map-for-str.yaml", "bed:\n  name: {first: bed-3}\n", RUN, "bed.name: must be a single str", "a mapping where a name goes"),
    ("wrong-type-section-is-scalar.yaml", "bed: bed-3\n", RUN, "bed: must be a mapping", "a section given a value"),
    ("wrong-type-section-is-list.yaml", "alerts:\n  - apnea_delay_s: 20\n", RUN, "alerts: must be a mapping", "a section given a list"),
    ("wrong-type-timestamp.yaml", "bed:\n  name: 2024-12-06\n", RUN, "bed.name: must be str", "an unquoted date is a date, not a name"),
    ("python-tag.yaml", "bed:\n  name: !!python/object/apply:os.system ['touch /tmp/pwned']\n", RUN,
     "bed.name: must be a single str", "a Python object tag: the safe loader never runs it"),
    ("out-of-range-low.yaml", "signal:\n  rate_hz: 0.5\n", RUN, "signal.rate_hz: must be >= 1.0", "below the range"),
    ("out-of-range-high.yaml", "alerts:\n  apnea_delay_s: 600\n", RUN, "alerts.apnea_delay_s: must be <= 60", "above the range"),
    ("out-of-range-negative-seed.yaml", "classifier:\n  seed: -1\n", RUN, "classifier.seed: must be >= 0", "a negative seed"),
    ("not-a-choice.yaml", "camera:\n  fps: 14\n", RUN, "camera.fps: must be one of", "a frame rate the camera has no mode for"),
    ("log-level-uppercase.yaml", "log:\n  level: INFO\n", RUN, "log.level: must be one of", "levels are lower case"),
    ("complex-key.yaml", "? [1, 2]\n: x\n", RUN, "keys must be plain names", "a complex YAML key (issue 11: a TypeError killed the daemon on SIGHUP)"),
    ("complex-key-in-section.yaml", "alerts:\n  ? {a: 1}\n  : x\n", RUN, "alerts: keys must be plain names", "a mapping as a key"),
    ("deeply-nested-flow.yaml", "bed: " + "[" * 3000 + "]" * 3000 + "\n", RUN, "nested too deeply", "3,000 nested lists (issue 11)"),
    ("deeply-nested-box.yaml", "region:\n  fixed_box_px: " + "[" * 3000 + "]" * 3000 + "\n", RUN,
     "nested too deeply", "3,000 nested lists where a list value goes"),
    ("deeply-nested-blocks.yaml", "bed:\n  name:\n" + "".join("  " * (i + 2) + f"k{i}:\n" for i in range(100)), RUN,
     "bed.name: must be a single str", "100 levels of block mappings"),
    ("billion-laughs.yaml", _bomb(), RUN, "lol0: unknown key", "an alias bomb (9 levels of 9 aliases: 387 million nodes if expanded)"),
    ("billion-laughs-in-a-value.yaml", "region:\n  fixed_box_px: [" + ", ".join(
        "&a0 [x, x, x, x, x, x, x, x, x]" if i == 0 else f"&a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(9))
     + "]\n", RUN, "region.fixed_box_px: must be null or [x0, y0, x1, y1]", "an alias bomb in the one list-valued key"),
    ("alias-to-a-section.yaml", "log: &l\n  level: info\nbed: *l\n", RUN, "bed.level: unknown key", "a section aliased where another goes"),
    ("merge-key.yaml", "bed:\n  <<: {name: bed-3}\n", RUN, "bed.<<: unknown key", "a YAML merge key"),
    ("recursive-alias.yaml", "bed: &a\n  name: *a\n", RUN, "bed.name: must be a single str", "a mapping that contains itself"),
    ("undefined-alias.yaml", "bed: *nowhere\n", RUN, "not valid YAML: found undefined alias", "an alias with no anchor"),
    ("non-utf8-latin1.yaml", "bed:\n  name: lit-café\n".encode("latin-1"), RUN, "cannot read config file", "Latin-1, not UTF-8"),
    ("non-utf8-utf16.yaml", "bed:\n  name: bed-3\n".encode("utf-16"), RUN, "cannot read config file", "UTF-16 with a byte-order mark"),
    ("binary.yaml", _random_bytes(1, 2048), RUN, "cannot read config file", "random bytes"),
    ("gzip.yaml", gzip.compress(b"bed:\n  name: bed-3\n", mtime=0), RUN, "cannot read config file", "a compressed config"),
    ("nul-bytes.yaml", "bed:\n  name: bed\x00-3\n", RUN, "not valid YAML: unacceptable character #x0000", "a NUL byte"),
    ("control-characters.yaml", "bed:\n  name: bed-3\x1b[2J\n", RUN, "not valid YAML: unacceptable character #x001b", "a terminal escape sequence"),
    ("list-at-top.yaml", "- bed:\n    name: bed-3\n", RUN, "top level: must be a mapping", "a list at the top level"),
    ("scalar-at-top.yaml", "bed-3\n", RUN, "top level: must be a mapping", "a bare word at the top level"),
    ("null-at-top.yaml", "null\n", RUN, "top level: must be a mapping", "an explicit null document"),
    ("duplicate-key.yaml", "bed:\n  name: bed-3\n  name: bed-4\n", RUN, "bed.name: key given twice", "which one would win is a guess"),
    ("duplicate-section.yaml", "bed:\n  name: bed-3\nbed:\n  name: bed-4\n", RUN, "bed: key given twice", "a section twice"),
    ("tabs.yaml", "bed:\n\tname: bed-3\n", RUN, "not valid YAML: found character '\\t'", "a tab as indentation"),
    ("bad-indent.yaml", "bed:\n  name: bed-3\n log:\n  level: info\n", RUN, "not valid YAML", "inconsistent indentation"),
    ("unclosed-bracket.yaml", "region:\n  fixed_box_px: [1, 2, 3, 4\n", RUN, "not valid YAML", "a flow list never closed"),
    ("two-documents.yaml", "bed:\n  name: bed-3\n---\nbed:\n  name: bed-4\n", RUN, "not valid YAML: but found another document",
     "two YAML documents in one file"),
    ("huge-integer.yaml", "camera:\n  width: " + "9" * 5000 + "\n", RUN, "camera.width", "5,000 digits (beyond Python's int parsing limit)"),
    ("huge-integer-for-float.yaml", "signal:\n  rate_hz: " + "1" * 400 + "\n", RUN, "signal.rate_hz", "an integer beyond float's range"),
    ("huge-float.yaml", "signal:\n  rate_hz: 1.0e+400\n", RUN, "signal.rate_hz: must be a finite number", "overflows to inf"),
    ("nan.yaml", "signal:\n  rate_hz: .nan\n", RUN, "signal.rate_hz: must be a finite number", "NaN"),
    ("inf.yaml", "source:\n  stall_s: .inf\n", RUN, "source.stall_s: must be a finite number", "infinity"),
    ("negative-inf.yaml", "alerts:\n  clear_s: -.inf\n", RUN, "alerts.clear_s: must be a finite number", "minus infinity"),
    ("bed-name-with-spaces.yaml", "bed:\n  name: 'bed 3; rm -rf /'\n", RUN, "bed.name: must be 1-64 letters", "spaces and a shell command"),
    ("bed-name-path.yaml", "bed:\n  name: ../../etc/passwd\n", RUN, "bed.name: must be 1-64 letters", "a path (it becomes topics and file names)"),
    ("bed-name-too-long.yaml", "bed:\n  name: " + "b" * 65 + "\n", RUN, "bed.name: must be 1-64 letters", "65 characters"),
    ("bed-name-newline.yaml", 'bed:\n  name: "bed-3\\nbed-4"\n', RUN, "bed.name: must be 1-64 letters", "a newline in the name"),
    ("bed-name-empty.yaml", "bed:\n  name: ''\n", RUN, "bed.name: must be 1-64 letters", "an empty name"),
    ("bed-name-null.yaml", "bed:\n  name:\n", RUN, "bed.name: must be str, got None", "no name"),
    ("bed-name-number.yaml", "bed:\n  name: 12\n", RUN, "bed.name: must be str, got 12 (quote it", "a number, unquoted"),
    ("bed-name-unicode.yaml", "bed:\n  name: lit-3-é\n", RUN, "bed.name: must be 1-64 letters", "a letter outside ASCII"),
    ("endpoint-http.yaml", "publish:\n  endpoint: http://127.0.0.1:5556\n", RUN, "publish.endpoint: must be tcp://HOST:PORT or ipc://PATH",
     "not a ZeroMQ endpoint"),
    ("endpoint-port-99999.yaml", 'publish:\n  endpoint: "tcp://127.0.0.1:99999"\n', RUN, "publish.endpoint: the port must be 1 to 65535",
     "a port beyond 65535 (issue 11: ZeroMQ bound another port)"),
    ("endpoint-port-0.yaml", 'publish:\n  snapshot_endpoint: "tcp://127.0.0.1:0"\n', RUN,
     "publish.snapshot_endpoint: the port must be 1 to 65535", "port 0"),
    ("endpoint-port-5000-digits.yaml", 'publish:\n  endpoint: "tcp://127.0.0.1:' + "9" * 5000 + '"\n', RUN,
     "publish.endpoint", "a port of 5,000 digits"),
    ("endpoint-no-port.yaml", "publish:\n  endpoint: tcp://127.0.0.1\n", RUN, "publish.endpoint: must be tcp://HOST:PORT", "no port"),
    ("insecure-on-the-network.yaml", 'publish:\n  insecure: true\n  endpoint: "tcp://0.0.0.0:5556"\n', RUN,
     "publish.insecure: plain text is allowed on loopback and ipc:// only", "plain text offered to the network"),
    ("insecure-on-a-name.yaml", 'publish:\n  insecure: true\n  snapshot_endpoint: "tcp://127.0.0.1.example.org:5557"\n',
     RUN, "publish.insecure: plain text is allowed on loopback", "a host name that only looks like loopback"),
    ("keys-client-path.yaml", 'keys:\n  client: "../../etc/shadow"\n', RUN, "keys.client: must be 1-64",
     "a key name that is a path"),
    ("keys-dir-empty.yaml", 'keys:\n  dir: ""\n', RUN, "keys.dir: must be a folder path", "no key folder"),
    ("keys-missing.yaml", 'keys:\n  dir: "/nonexistent-respmon-keys"\n', RUN,
     "bed-1.key_secret: cannot read the key file", "CURVE on (the default) and no key pair for the bed"),
    ("endpoint-wildcard-port.yaml", 'publish:\n  endpoint: "tcp://*:*"\n', RUN, "publish.endpoint: must be tcp://HOST:PORT", "a wildcard port"),
    ("endpoint-number.yaml", "publish:\n  snapshot_endpoint: 5557\n", RUN, "publish.snapshot_endpoint: must be str, got 5557",
     "a bare port number"),
    ("box-three-numbers.yaml", "region:\n  fixed_box_px: [10, 20, 30]\n", RUN, "region.fixed_box_px: must be null or [x0, y0, x1, y1]",
     "a box of three numbers"),
    ("box-reversed.yaml", "region:\n  fixed_box_px: [300, 200, 100, 50]\n", RUN, "region.fixed_box_px: must have 0 <= x0 < x1",
     "corners swapped"),
    ("demo-script-bad.yaml", "simulation:\n  demo:\n    script: 'eupnea:-5'\n", RUN, "simulation.demo.script", "a negative segment"),
    ("recording-source-without-path.yaml", "source:\n  kind: recording\n", RUN, "source.recording: a recording path is needed",
     "a recording source with no recording"),
    ("recording-source-missing-file.yaml", "source:\n  kind: recording\n  recording: /nonexistent/night.db3\n", RUN,
     "recording not found", "a recording source whose file is not there"),
    ("recording-source-not-a-recording.yaml", "source:\n  kind: recording\n  recording: /etc/hostname\n", RUN,
     "must be a .db3 or .bag", "a recording source pointing at some other file"),
    # YAML that the safe loader turns into a Python exception rather than a YAMLError
    ("unknown-tag.yaml", "bed:\n  name: !bedname bed-3\n", RUN, "bed.name", "a tag no constructor knows"),
    ("int-tag-on-text.yaml", "camera:\n  width: !!int wide\n", RUN, "camera.width", "!!int on text"),
    ("float-tag-on-text.yaml", "signal:\n  rate_hz: !!float fast\n", RUN, "signal.rate_hz", "!!float on text"),
    ("bool-tag-on-text.yaml", "source:\n  loop: !!bool maybe\n", RUN, "source.loop", "!!bool on text"),
    ("map-tag-on-scalar.yaml", "bed:\n  name: !!map bed-3\n", RUN, "bed.name", "!!map on a scalar"),
    ("impossible-date.yaml", "bed:\n  name: 2024-13-45\n", RUN, "bed.name", "an unquoted date with month 13"),
    ("key-with-newline.yaml", 'bed:\n  "na\\nme": bed-3\n', RUN, "unknown key", "a key with a newline in it (the error would be two lines)"),
    # a few through other commands: they all read the config with the same loader, first
    ("replay-unknown-key.yaml", "rate:\n  windw_s: 30\n", "replay {file} --config {file}", "rate.windw_s: unknown key",
     "`respmon replay` reads the config first"),
    ("watch-bad-timeout.yaml", "watch:\n  heartbeat_timeout_s: 0\n", "watch --config {file} --for 1",
     "watch.heartbeat_timeout_s: must be >= 0.5", "`respmon watch`"),
    ("classify-bad-threads.yaml", "classifier:\n  threads: 0\n", "classify {file} --rate-hz 10 --config {file}",
     "classifier.threads: must be >= 1", "`respmon classify`"),
    ("demo-bad-fps.yaml", "simulation:\n  recording:\n    fps: 7\n", "demo --config {file}",
     "simulation.recording.fps: must be one of", "`respmon demo`"),
    # made when the test runs
    ("@too-large.yaml", None, RUN, "too large for a config", "300 KB of comments (configs are at most 256 KB)"),
    ("@fifo.yaml", None, RUN, "not a regular file", "a fifo: reading it would wait for ever"),
    ("@dev-zero.yaml", None, RUN, "not a regular file", "a link to /dev/zero: reading it would never end"),
    ("@folder.yaml", None, RUN, "not a regular file", "a folder"),
    ("@missing.yaml", None, RUN, "config file not found", "no such file"),
    ("@bed-name-200-kb.yaml", None, RUN, "bed.name: must be 1-64 letters", "a 200 KB bed name: not echoed back in full"),
    ("@long-wrong-type-value.yaml", None, RUN, "camera.width: must be int", "200 KB of text where a number goes"),
    ("@long-unknown-key.yaml", None, RUN, "unknown key", "a 200 KB explicit key"),
    ("@long-undefined-alias.yaml", None, RUN, "found undefined alias", "a 200 KB alias name"),
]

# --------------------------------------------------------------------------------------------
# csv: waveforms for `respmon replay FILE.csv` (a header, a time column and a value column) and
# signal rows for `respmon classify` / `respmon evaluate --data` (one signal a row, no header)
# --------------------------------------------------------------------------------------------

REPLAY = "replay {file}"
CLASSIFY = "classify {file} --rate-hz 10"


def _wave(n: int = 300, rate_hz: float = 10.0, header: str = "t,displacement", fmt=None) -> str:
    import math

    fmt = fmt or (lambda i: f"{i / rate_hz:.1f},{4 * math.sin(2 * math.pi * 0.25 * i / rate_hz):.3f}")
    return header + "\n" + "\n".join(fmt(i) for i in range(n)) + "\n"


def _row(n: int = 600, value=None) -> str:
    import math

    return ",".join(value if value is not None else f"{math.sin(2 * math.pi * 0.25 * i / 10):.3f}" for i in range(n))


def _replace_line(text: str, number: int, line: str) -> str:
    lines = text.split("\n")
    lines[number - 1] = line
    return "\n".join(lines)


CSVS: list[tuple[str, str | bytes, str, str, str]] = [
    ("wave-non-numeric.csv", _replace_line(_wave(), 6, "0.4,abc"), REPLAY, ":6: not a number in column 'displacement'",
     "text in the value column"),
    ("wave-non-numeric-time.csv", _replace_line(_wave(), 6, "four,1.0"), REPLAY, ":6: not a number", "text in the time column"),
    ("wave-nan.csv", _replace_line(_wave(), 6, "0.4,nan"), REPLAY, "values must be finite numbers", "NaN"),
    ("wave-inf.csv", _replace_line(_wave(), 6, "0.4,inf"), REPLAY, "values must be finite numbers", "infinity"),
    ("wave-nan-time.csv", _replace_line(_wave(), 6, "nan,1.0"), REPLAY, "values must be finite numbers", "a NaN time"),
    ("wave-time-goes-back.csv", _replace_line(_wave(), 6, "0.1,1.0"), REPLAY, "time column 't' does not increase",
     "time steps back"),
    ("wave-time-repeats.csv", _replace_line(_wave(), 6, "0.3,1.0"), REPLAY, "time column 't' does not increase", "a time twice"),
    ("wave-time-1e300.csv", _wave(fmt=lambda i: f"{1e300 + i * 1e290!r},{i % 7}"), REPLAY, "times must be within",
     "times of 1e300 s (issue 11)"),
    ("wave-timestamp-ms-1e300.csv", _wave(header="timestamp,displacement", fmt=lambda i: f"{1e300 + i * 1e290!r},{i % 7}"),
     REPLAY, "times must be within", "milliseconds of 1e300"),
    ("wave-epoch-ms-as-seconds.csv", _wave(fmt=lambda i: f"{1.7e12 + i * 100:.0f},{i % 7}"), REPLAY, "times must be within",
     "epoch milliseconds in a seconds column"),
    ("wave-value-1e39.csv", _wave(fmt=lambda i: f"{i / 10:.1f},1e39"), REPLAY, "values within +-1e+09", "values beyond float32"),
    ("wave-value-1e300.csv", _replace_line(_wave(), 6, "0.4,1e300"), REPLAY, "values within +-1e+09", "one value of 1e300"),
    ("wave-empty.csv", "", REPLAY, "empty file", "no bytes at all"),
    ("wave-blank-lines.csv", "\n \n\n\t\n", REPLAY, "empty file", "only blank lines"),
    ("wave-header-only.csv", "t,displacement\n", REPLAY, "no samples", "a header and nothing else"),
    ("wave-ragged-short-row.csv", _replace_line(_wave(), 6, "0.4"), REPLAY, ":6: not a number in column", "a row of one cell"),
    ("wave-ragged-long-row.csv", _replace_line(_wave(), 6, "0.4,1.0,2.0"), REPLAY, ":6: 3 cells, but the header names 2 columns",
     "a row of three cells under a header of two"),
    ("wave-semicolons.csv", _wave().replace(",", ";"), REPLAY, "columns must be separated by commas", "semicolons (a European spreadsheet)"),
    ("wave-tabs.csv", _wave().replace(",", "\t"), REPLAY, "columns must be separated by commas", "tabs"),
    ("wave-no-header.csv", _wave().split("\n", 1)[1], REPLAY, "no header line", "numbers on the first line"),
    ("wave-two-value-columns.csv", _wave(header="t,chest,belt", fmt=lambda i: f"{i / 10:.1f},{i % 7},{i % 5}"), REPLAY,
     "several value columns (chest, belt)", "which column is the signal is a guess"),
    ("wave-no-value-column.csv", _wave(header="t", fmt=lambda i: f"{i / 10:.1f}"), REPLAY, "no value column", "a time column only"),
    ("wave-same-name-twice.csv", _wave(header="t,t", fmt=lambda i: f"{i / 10:.1f},{i % 7}"), REPLAY, "no value column",
     "the time column's name twice"),
    ("wave-no-time-column.csv", _wave(header="displacement", fmt=lambda i: f"{i % 7}"), REPLAY, "no time column (t or timestamp)",
     "no time and no --rate-hz"),
    ("wave-unclosed-quote.csv", _replace_line(_wave(), 6, '0.4,"1.0'), REPLAY, ":6: a cell of over 1000 characters (a quote never closed?)",
     "a quote never closed: the rest of the file is one cell"),
    ("wave-unclosed-quote-near-the-end.csv", _replace_line(_wave(), 299, '29.8,"1.0'), REPLAY, ":299: not a number",
     "a quote never closed two lines before the end"),
    ("wave-cell-of-2000-digits.csv", _replace_line(_wave(), 6, "0.4," + "9" * 2000), REPLAY, ":6: a cell of over 1000 characters",
     "a number of 2,000 digits"),
    ("wave-newlines-in-header.csv", _wave(header='"chest\nfront","belt\x1b[2J"', fmt=lambda i: f"{i % 7},{i % 5}"), REPLAY,
     "several value columns ('chest\\nfront', 'belt\\x1b[2J')", "column names with a newline and an escape sequence: shown escaped, on one line"),
    ("wave-many-long-column-names.csv", _wave(n=10, header=",".join(f"column {i} " + "x" * 300 for i in range(50)),
                                              fmt=lambda i: ",".join(["1"] * 50)), REPLAY,
     "several value columns", "50 columns of 300-character names: the line stays short"),
    ("wave-binary.csv", _random_bytes(2, 4096), REPLAY, "not UTF-8 text", "random bytes"),
    ("wave-latin1.csv", "t,déplacement\n0,1\n".encode("latin-1"), REPLAY, "not UTF-8 text", "Latin-1"),
    ("wave-utf16.csv", _wave(n=20).encode("utf-16"), REPLAY, "not UTF-8 text", "UTF-16"),
    ("wave-gzip.csv", gzip.compress(_wave().encode(), mtime=0), REPLAY, "not UTF-8 text", "a compressed CSV"),
    ("wave-nul-bytes.csv", _replace_line(_wave(), 6, "0.4,1\x00.0"), REPLAY, ":6: not a number", "a NUL byte in a number"),
    ("wave-one-sample.csv", "t,displacement\n0,1.0\n", REPLAY, "too short to analyse", "one sample"),
    ("wave-five-seconds.csv", _wave(n=50), REPLAY, "too short to analyse", "5 s: not one slow breath"),
    ("wave-text-file.txt", _wave(), REPLAY, "unknown file type", "a waveform named .txt"),
    ("rows-non-numeric.csv", _row() + "\n" + _row().replace("0.000", "zero", 1) + "\n", CLASSIFY, ":2: not a row of numbers",
     "text in a signal"),
    ("rows-nan.csv", _row().replace("0.000", "nan", 1) + "\n", CLASSIFY, ":1: values must be finite numbers", "NaN"),
    ("rows-inf.csv", _row().replace("0.000", "-inf", 1) + "\n", CLASSIFY, ":1: values must be finite numbers", "minus infinity"),
    ("rows-1e39.csv", _row(value="1e39") + "\n", CLASSIFY, "row 1: signal values must be finite and within +-1e+09",
     "values beyond float32 (issue 11: 'eupnea', confidence NaN, exit 0)"),
    ("rows-empty.csv", "", CLASSIFY, "no signals", "no bytes"),
    ("rows-blank-lines.csv", "\n\n  \n", CLASSIFY, "no signals", "only blank lines"),
    ("rows-with-header.csv", ",".join(f"s{i}" for i in range(600)) + "\n" + _row() + "\n", CLASSIFY, ":1: not a row of numbers",
     "a header line"),
    ("rows-semicolons.csv", _row().replace(",", ";") + "\n", CLASSIFY, ":1: not a row of numbers", "semicolons"),
    ("rows-too-short.csv", _row(n=100) + "\n", CLASSIFY, "row 1: signal of 10.0 s is shorter than the 60 s window",
     "10 s of signal"),
    ("rows-ragged.csv", _row() + "\n" + _row(n=30) + "\n", CLASSIFY, "row 2: signal of 3.0 s is shorter", "a second row cut short"),
    ("rows-binary.csv", _random_bytes(3, 4096), CLASSIFY, "cannot read", "random bytes"),
    ("rows-latin1.csv", ("é," + _row() + "\n").encode("latin-1"), CLASSIFY, "cannot read", "Latin-1"),
    ("rows-labels-out-of-range.csv", "9," + _row() + "\n", CLASSIFY + " --labels first-column",
     "first column must hold labels 1..7", "a label 9 with --labels first-column"),
    ("rows-only-commas-with-labels.csv", "1," + _row() + "\n,,,\n", CLASSIFY + " --labels first-column", ":2: not a row of numbers",
     "a row of commas only, with --labels first-column"),
    ("rows-labels-non-numeric.csv", "eupnea," + _row() + "\n", "evaluate --data {file} --rate-hz 10 --labels first-column",
     ":1: not a row of numbers", "`respmon evaluate --data`: a label given as text"),
    ("@wave-cell-of-200-kb.csv", None, REPLAY, ":2: not a CSV file (field larger than field limit", "a 200 KB cell (beyond the csv module's limit)"),
    ("@wave-too-large.csv", None, REPLAY, "too large", "300 MB (a sparse file): beyond 256 MB"),
    ("@wave-fifo.csv", None, REPLAY, "not a regular file", "a fifo (issue 11: waited on for ever)"),
    ("@wave-dev-zero.csv", None, REPLAY, "not a regular file", "a link to /dev/zero (read until memory ran out)"),
    ("@wave-folder.csv", None, REPLAY, "a folder", "a folder"),
    ("@wave-missing.csv", None, REPLAY, "file not found", "no such file"),
    ("@rows-fifo.csv", None, CLASSIFY, "not a regular file", "a fifo"),
    ("@rows-dev-zero.csv", None, CLASSIFY, "not a regular file", "a link to /dev/zero"),
    ("@rows-folder.csv", None, CLASSIFY, "cannot read", "a folder"),
]

# --------------------------------------------------------------------------------------------
# messages: docs/messages.md, through respmon.publish.schema and `respmon watch`'s console.
# `command` says what carries the file: pub = the frames [topic, FILE]; pub-alone = [FILE];
# pub-extra-frame = [topic, FILE, FILE]; topic = [FILE, a good alert]; snapshot = a snapshot reply.
# --------------------------------------------------------------------------------------------

ALERT = {"schema": 1, "type": "alert", "publisher": "4f3c2a1b", "seq": 7, "bed": "bed-3", "time": 1765000000.25,
         "event": "onset", "id": "9b1d4c3e2f6a48d7a1c0e5b2d3f4a6b8", "condition": "central_apnea",
         "pattern": "central_apnea", "kind": "physiological", "priority": "high", "t": 412, "onset_t": 412.0,
         "onset": "2025-12-06T05:46:40.250Z", "confidence": 1.0, "rr_bpm": None,
         "evidence": {"state": "apnea", "seconds_without_breathing": 20.4, "quality": 0.91, "probs": None},
         "model_version": "biatgru@7767227"}
HEARTBEAT = {"schema": 1, "type": "heartbeat", "publisher": "4f3c2a1b", "seq": 90, "bed": "bed-3", "time": 1765000000.5,
             "state": "breathing", "source": "camera 123456789012", "frames": 2700, "bad_frames": 0, "uptime_s": 90.1,
             "t": 89, "reason": None, "active_alerts": 0}
VITALS = {"schema": 1, "type": "vitals", "publisher": "4f3c2a1b", "seq": 89, "bed": "bed-3", "time": 1765000000.4,
          "t": 89, "state": "breathing", "present": True, "rr_bpm": 14.2, "quality": 0.93, "seconds_since_breath": 1.2,
          "displacement_mm": 0.8, "pattern": "eupnea", "confidence": 0.97,
          "probs": {"eupnea": 0.97, "tachypnea": 0.01, "bradypnea": 0.01, "biots": 0.0, "cheyne_stokes": 0.0,
                    "kussmaul": 0.0, "central_apnea": 0.01}}
SNAPSHOT = {"schema": 1, "type": "snapshot", "publisher": "4f3c2a1b", "bed": "bed-3", "time": 1765000001.0,
            "alerts": [{**ALERT, "event": "update", "seq": 8}], "vitals": {k: v for k, v in VITALS.items() if k not in
                                                                         ("schema", "type", "publisher", "seq", "bed", "time")},
            "seq": {"alert": 8, "vitals": 89, "heartbeat": 90}}
GOOD = {"good-alert.json": ALERT, "good-heartbeat.json": HEARTBEAT, "good-vitals.json": VITALS, "good-snapshot.json": SNAPSHOT}


def _with(base: dict, drop: tuple = (), **changes) -> str:
    message = json.loads(json.dumps(base))
    for key in drop:
        message.pop(key)
    for key, value in changes.items():
        if "__" in key:  # evidence__state → message["evidence"]["state"]
            outer, inner = key.split("__")
            message[outer][inner] = value
        else:
            message[key] = value
    return json.dumps(message, indent=None if len(json.dumps(message)) > 4000 else 1)


def _raw(base: dict, field: str, literal: str) -> str:
    """base with `field` written as a raw JSON literal (NaN, 1e400, ...) json.dumps would not write."""
    return _with(base, **{field: "@@"}).replace('"@@"', literal)


MESSAGES: list[tuple[str, str | bytes, str, str, str]] = [
    ("not-json.txt", "alert: central apnea on bed-3\n", "pub", "not UTF-8 JSON", "plain text"),
    ("truncated-json.json", _with(ALERT)[:200], "pub", "not UTF-8 JSON", "cut off in the middle"),
    ("empty.json", "", "pub", "not UTF-8 JSON", "an empty frame"),
    ("non-utf8.bin", b'{"schema": 1, "bed": "b\xe9d-3"}', "pub", "not UTF-8 JSON", "Latin-1 inside JSON"),
    ("binary.bin", _random_bytes(4, 512), "pub", "not UTF-8 JSON", "random bytes"),
    ("json-list.json", "[1, 2, 3]\n", "pub", "not an object", "a JSON list"),
    ("json-string.json", '"alert"\n', "pub", "not an object", "a JSON string"),
    ("json-null.json", "null\n", "pub", "not an object", "JSON null"),
    ("json-number.json", "1\n", "pub", "not an object", "a JSON number"),
    ("wrong-schema-version.json", _with(ALERT, schema=2), "pub", "schema: unexpected value 2", "schema version 2"),
    ("schema-as-string.json", _with(ALERT, schema="1"), "pub", "schema: unexpected value '1'", "the version as text"),
    ("schema-as-bool.json", _with(ALERT, schema=True), "pub", "schema: unexpected value True", "true == 1 in Python"),
    ("no-schema.json", _with(ALERT, drop=("schema",)), "pub", "schema: missing", "no schema field"),
    ("unknown-type.json", _with(ALERT, type="alarm"), "pub", "type: unexpected value 'alarm'", "a type the page does not list"),
    ("snapshot-on-pub.json", _with(SNAPSHOT), "pub", "type: unexpected value 'snapshot'", "a snapshot where PUB messages go"),
    ("missing-id.json", _with(ALERT, drop=("id",)), "pub", "id: missing", "an alert without its id"),
    ("id-dot-dot.json", _with(ALERT, id=".."), "pub", "id: unexpected value '..'",
     "an id no URL can carry: the station could never acknowledge it"),
    ("id-with-slash.json", _with(ALERT, id="a/b"), "pub", "id: unexpected value 'a/b'",
     "an id that splits the station's acknowledgement path"),
    ("missing-evidence.json", _with(ALERT, drop=("evidence",)), "pub", "evidence: missing", "no evidence"),
    ("time-as-string.json", _with(ALERT, time="03:00"), "pub", "time: unexpected value '03:00'",
     "issue 11: the console died on it"),
    ("time-nan.json", _raw(ALERT, "time", "NaN"), "pub", "time: unexpected value nan", "NaN (Python's json reads it)"),
    ("time-infinity.json", _raw(ALERT, "time", "Infinity"), "pub", "time: unexpected value inf", "Infinity"),
    ("time-1e400.json", _raw(ALERT, "time", "1e400"), "pub", "time: unexpected value inf", "overflows to inf"),
    ("time-1e300.json", _with(ALERT, time=1e300), "pub", "time: unexpected value 1e+300", "no clock can print it"),
    ("time-negative.json", _with(ALERT, time=-1.0), "pub", "time: unexpected value -1.0", "before 1970"),
    ("seq-negative.json", _with(ALERT, seq=-1), "pub", "seq: unexpected value -1", "a negative sequence number"),
    ("seq-float.json", _with(ALERT, seq=7.5), "pub", "seq: unexpected value 7.5", "a fractional sequence number"),
    ("seq-2-to-the-64.json", _with(ALERT, seq=2**64), "pub", "seq: unexpected value 18446744073709551616", "beyond 64 bits"),
    ("seq-5000-digits.json", _raw(ALERT, "seq", "9" * 5000), "pub", "not UTF-8 JSON", "an integer json refuses to parse"),
    ("evidence-null.json", _with(ALERT, evidence=None), "pub", "evidence: unexpected value None", "issue 11: the console died on it"),
    ("evidence-list.json", _with(ALERT, evidence=[ALERT["evidence"]]), "pub", "evidence: unexpected value [", "extra nesting: a list"),
    ("evidence-state-nested.json", _with(ALERT, evidence__state={"state": "apnea"}), "pub", "evidence.state: unexpected value {",
     "extra nesting: an object where a word goes"),
    ("message-wrapped.json", json.dumps({"message": ALERT}), "pub", "schema: missing", "the whole message one level down"),
    ("confidence-as-string.json", _with(ALERT, confidence="high"), "pub", "confidence: unexpected value 'high'", "a word for a number"),
    ("confidence-bool.json", _with(ALERT, confidence=True), "pub", "confidence: unexpected value True", "a bool for a number"),
    ("rr-nan.json", _raw(ALERT, "rr_bpm", "NaN"), "pub", "rr_bpm: unexpected value nan", "a NaN rate"),
    ("unknown-event.json", _with(ALERT, event="start"), "pub", "event: unexpected value 'start'", "not onset, update or clear"),
    ("unknown-priority.json", _with(ALERT, priority="urgent"), "pub", "priority: unexpected value 'urgent'", "not high, medium or low"),
    ("bed-too-long.json", _with(ALERT, bed="b" * 65), "pub", "bed: unexpected value 'bbbb", "65 characters"),
    ("bed-with-newline.json", _with(ALERT, bed="bed-3\n05:46:41Z  CLEAR   high    bed-3  central_apnea"), "pub",
     "bed: unexpected value", "a newline: it would draw a made-up line on the console"),
    ("condition-escape-sequence.json", _with(ALERT, condition="\x1b[2Jcentral_apnea"), "pub", "condition: unexpected value",
     "a terminal escape sequence (clears the operator's screen)"),
    ("bed-lone-surrogate.json", _with(ALERT, bed="\ud800"), "pub", "bed: unexpected value",
     "a lone surrogate: printing it killed `respmon watch` (UnicodeEncodeError)"),
    ("reason-lone-surrogate.json", _with(ALERT, event="clear", reason="condition ended \udce9"), "pub",
     "reason: unexpected value", "a lone surrogate in a clear's reason"),
    ("reason-with-escape-and-newline.json", _with(ALERT, event="clear", reason="condition ended\x1b[2J\n05:46:41Z  CLEAR"),
     "pub", "reason: unexpected value", "a clear's reason that would clear the screen and draw a made-up line"),
    ("probs-100-keys.json", _with(VITALS, probs={f"p{i}": 0.01 for i in range(100)}), "pub", "probs: unexpected value",
     "100 probabilities (there are 7 patterns)"),
    ("probs-string-values.json", _with(VITALS, probs={"eupnea": "high"}), "pub", "probs: unexpected value", "a word for a probability"),
    ("vitals-present-as-string.json", _with(VITALS, present="yes"), "pub", "present: unexpected value 'yes'", "a word for a bool"),
    ("heartbeat-active-alerts-null.json", _with(HEARTBEAT, active_alerts=None), "pub", "active_alerts: unexpected value None",
     "issue 11"),
    ("heartbeat-frames-negative.json", _with(HEARTBEAT, frames=-5), "pub", "frames: unexpected value -5", "a negative count"),
    ("duplicate-keys.json", _with(ALERT).replace('"schema": 1,', '"schema": 1, "schema": 2,', 1), "pub",
     "schema: unexpected value 2", "a key twice: the last one wins, and it is wrong"),
    ("deep-nesting.json", "[" * 5000 + "]" * 5000, "pub", "not UTF-8 JSON", "5,000 nested lists: too deep to parse"),
    ("one-frame.json", _with(ALERT), "pub-alone", "1 frames, not [topic, JSON]", "a good alert without its topic frame"),
    ("three-frames.json", _with(ALERT), "pub-extra-frame", "3 frames, not [topic, JSON]", "a good alert and a frame too many"),
    ("topic-not-utf8.bin", b"alert/b\xe9d-3/central_apnea", "topic", "not UTF-8 JSON", "a topic frame that is not UTF-8"),
    ("snapshot-alerts-null.json", _with(SNAPSHOT, alerts=None), "snapshot", "alerts: unexpected value None",
     "issue 11: the console died on it"),
    ("snapshot-not-json.txt", "no alerts\n", "snapshot", "not UTF-8 JSON", "plain text"),
    ("snapshot-wrong-type.json", _with(SNAPSHOT, type="alert"), "snapshot", "type: unexpected value 'alert'", "an alert as a snapshot"),
    ("snapshot-seq-list.json", _with(SNAPSHOT, seq=[8, 89, 90]), "snapshot", "seq: unexpected value [", "seq as a list"),
    ("snapshot-bad-alert.json", _with(SNAPSHOT, alerts=[{**ALERT, "priority": 3}]), "snapshot", "alerts[0].priority: unexpected value 3",
     "one of its alerts malformed"),
    ("snapshot-vitals-list.json", _with(SNAPSHOT, vitals=[1, 2]), "snapshot", "vitals: unexpected value [1, 2]", "vitals as a list"),
    ("snapshot-65-alerts.json", _with(SNAPSHOT, alerts=[{**ALERT, "id": f"{i:032x}"} for i in range(65)]), "snapshot",
     "alerts: unexpected value", "more alerts than a bed can have"),
    ("@bed-5-mb.json", None, "pub", "too large", "a 5 MB bed name: beyond the 1 MiB a message may have"),
    ("@bed-500-kb.json", None, "pub", "bed: unexpected value", "a 500 KB bed name: refused, and not echoed back in full"),
    ("@nesting-100k.json", None, "pub", "not UTF-8 JSON", "100,000 nested lists"),
    ("@snapshot-2-mb.json", None, "snapshot", "too large", "a 2 MB snapshot"),
]


# --------------------------------------------------------------------------------------------


def _table(rows: list[tuple], header: str) -> str:
    def cell(text: str) -> str:
        return text.replace("|", "\\|")

    lines = ["| file | command | expect | why |", "| --- | --- | --- | --- |"]
    for name, _, command, expect, why in rows:
        lines.append(f"| `{name}` | `{cell(command)}` | `{cell(expect)}` | {cell(why)} |")
    return header + "\n" + "\n".join(lines) + "\n"


HEADERS = {
    "configs": """# Bad configs

Each is given to `respmon COMMAND` (`{file}` is the file); each must end it with exit status 2 and
one line on stderr, `respmon: error: FILE:LINE: KEY: what is wrong`, holding `expect`. No traceback, no hang, no
value echoed back at length. Written by `../make_corpus.py` (edit there); `@` files are made when
the test runs.

An empty config is not here: it means the built-in defaults (tests/test_config.py).
""",
    "csv": """# Bad CSV files

`wave-*`: waveforms for `respmon replay` (a header, a time column `t` in s or `timestamp` in ms,
one value column). `rows-*`: signals for `respmon classify` and `respmon evaluate --data` (one
signal a row, no header). Each must end the command with exit status 2 and one line on stderr
holding `expect`. Written by `../make_corpus.py` (edit there); `@` files are made when the test
runs.
""",
    "messages": """# Bad messages

What a hostile or broken publisher could send `respmon watch` (docs/messages.md). `command` says
how the file arrives: `pub` = the frames `[topic, FILE]`; `pub-alone` = `[FILE]`; `pub-extra-frame`
= `[topic, FILE, FILE]`; `topic` = `[FILE, good-alert.json]`; `snapshot` = the answer to a snapshot
request. Each must be refused by `respmon.publish.schema` with MalformedMessage holding `expect`,
and `respmon watch` must report it (`malformed_message` / `malformed_snapshot`) and go on. The
`good-*.json` files are the messages the bad ones were made from; they pass. Written by
`../make_corpus.py` (edit there); `@` files are made when the test runs.
""",
    "recordings": """# Bad recordings

Each is given to `respmon replay FILE`; each must end it with exit status 2 and one line on stderr
holding `expect`. The real recordings they start from are 64 x 48 px at 6 fps, written through
pyrealsense2's recorder (sim/rs_writer.py). Written by `../make_corpus.py recordings` (edit
there); `@` files are made when the test runs.
""",
}

RECORDINGS_INDEX: list[tuple[str, None, str, str, str]] = [
    ("empty.db3", None, REPLAY, "recording is empty", "no bytes"),
    ("empty.bag", None, REPLAY, "recording is empty", "no bytes"),
    ("random.db3", None, REPLAY, "not a valid rosbag2 database", "4 KB of random bytes"),
    ("random.bag", None, REPLAY, "not a valid ROS bag", "4 KB of random bytes"),
    ("text.bag", None, REPLAY, "not a valid ROS bag", "a text file named .bag"),
    ("text.db3", None, REPLAY, "not a valid rosbag2 database", "a text file named .db3"),
    ("ros1-magic-then-garbage.bag", None, REPLAY, "not a valid ROS bag", "a ROS1 bag's first line, then random bytes"),
    ("sqlite-header-then-garbage.db3", None, REPLAY, "not a valid rosbag2 database", "an SQLite header, then random bytes"),
    ("truncated.db3", None, REPLAY, "truncated or corrupt", "a real recording cut in half"),
    ("truncated-to-one-page.db3", None, REPLAY, "truncated or corrupt", "its first 4 KB"),
    ("sqlite-other-tables.db3", None, REPLAY, "not a valid rosbag2 database", "an SQLite database without rosbag2's tables"),
    ("no-topics-table.db3", None, REPLAY, "not a valid rosbag2 database", "a recording whose topics table was dropped"),
    ("rosbag2-no-messages.db3", None, REPLAY, "has no camera stream", "rosbag2's tables and topics, no messages"),
    ("wrong-topic.db3", None, REPLAY, "has no depth stream", "the depth topics renamed to an infrared stream's"),
    ("wrong-message-type.db3", None, REPLAY, "has no depth frames", "the depth image topic declared and filled as std_msgs/String"),
    ("colour-only.db3", None, REPLAY, "has no depth stream", "a colour stream and no depth"),
    ("depth-units-zero.db3", None, REPLAY, "no depth scale", "depth units of 0: every depth would be 0 mm"),
    ("frames-garbled.db3", None, REPLAY, "recording is corrupt (frame 0:", "12 s (2 fps) whose image messages are random bytes"),
    ("frames-garbled-after-3s.db3", None, REPLAY, "recording is corrupt (frame 6:", "12 s (2 fps), random bytes after 3 s"),
    ("half-a-second.db3", None, REPLAY, "too short to analyse", "3 frames: 0.5 s"),
    ("@fifo.db3", None, REPLAY, "not a file", "a fifo"),
    ("@dev-zero.bag", None, REPLAY, "not a file", "a link to /dev/zero"),
    ("@folder.db3", None, REPLAY, "not a file", "a folder"),
    ("@missing.db3", None, REPLAY, "recording not found", "no such file"),
    ("@upper-case.DB3", None, REPLAY, "must be a .db3 or .bag file", "a real recording named .DB3"),
    ("@good-recording.npy", None, REPLAY, "unknown file type", "a file type replay does not read"),
]


def _write(folder: str, rows: list[tuple]) -> None:
    out = HERE / folder
    out.mkdir(exist_ok=True)
    for name, content, *_ in rows:
        if name.startswith("@") or content is None:
            continue
        data = content if isinstance(content, bytes) else content.encode("utf-8", "surrogatepass")
        (out / name).write_bytes(data)
    (out / "README.md").write_text(_table(rows, HEADERS[folder]), encoding="utf-8")


def main(argv: list[str]) -> None:
    _write("configs", CONFIGS)
    _write("csv", CSVS)
    _write("messages", MESSAGES)
    for name, message in GOOD.items():
        (HERE / "messages" / name).write_text(json.dumps(message, indent=1) + "\n", encoding="utf-8")
    if "recordings" in argv:
        sys.path.insert(0, str(HERE / "recordings"))
        from make_recordings import make  # noqa: E402  (pyrealsense2 only when asked)

        make(HERE / "recordings")
    (HERE / "recordings" / "README.md").write_text(_table(RECORDINGS_INDEX, HEADERS["recordings"]), encoding="utf-8")


if __name__ == "__main__":
    main(sys.argv[1:])
