"""`respmon watch` against a hostile or broken publisher: every malformed message is reported as
such and skipped, and the console goes on (issue 11: it died with a traceback on 8 of 9)."""

from __future__ import annotations

import copy
import io
import json
import subprocess
import sys
import threading
import time

import pytest
import zmq
from hypothesis import given, settings
from hypothesis import strategies as st

from respmon.publish.schema import MalformedMessage, check_message, check_snapshot, decode
from respmon.watch import Console
from tests.conftest import REPO
from tests.test_publish import endpoint, plain_config

ALERT = {"schema": 1, "type": "alert", "publisher": "p1", "seq": 1, "bed": "bed-3", "time": 1.7e9,
         "event": "onset", "id": "a" * 32, "condition": "central_apnea", "pattern": "central_apnea",
         "kind": "physiological", "priority": "high", "t": 120, "onset_t": 120.0,
         "onset": "2026-12-06T03:00:00.000Z", "confidence": 1.0, "rr_bpm": None,
         "evidence": {"state": "apnea", "seconds_without_breathing": 20.0, "quality": 0.9, "probs": None},
         "model_version": "biatgru@0", "signal": {"rate_hz": 10.0, "end_t": 119.9, "mm": [0.5, -1.25, None]}}
HEARTBEAT = {"schema": 1, "type": "heartbeat", "publisher": "p1", "seq": 1, "bed": "bed-3", "time": 1.7e9,
             "state": "breathing", "source": "camera 1", "frames": 10, "bad_frames": 0, "uptime_s": 1.0,
             "t": 1, "reason": None, "active_alerts": 0}


def _with(message: dict, **changes) -> dict:
    out = copy.deepcopy(message)
    out.update(changes)
    return out


# The malformed messages, and the like: each must be refused by name, none may raise else.
MALFORMED = [
    [b"alert/bed-3/x", json.dumps(_with(ALERT, time="03:00")).encode()],
    [b"alert/bed-3/x", json.dumps(_with(ALERT, evidence=None)).encode()],
    [b"alert/bed-3/x", b"not json"],
    [b"alert/bed-3/x", b"\xff\xfe"],
    [b"\xff", json.dumps(ALERT).encode()],
    [b"alert/bed-3/x"],
    [b"alert/bed-3/x", b"[]", b"extra"],
    [b"alert/bed-3/x", json.dumps(_with(ALERT, bed="x" * 5_000_000)).encode()],
    [b"alert/bed-3/x", json.dumps(_with(ALERT, confidence="high")).encode()],
    [b"heartbeat/bed-3/", json.dumps(_with(HEARTBEAT, active_alerts=None)).encode()],
    [b"alert/bed-3/x", json.dumps(_with(ALERT, time=1e300)).encode()],
    [b"alert/bed-3/x", b"[" * 100_000 + b"]" * 100_000],
]
# An onset's signal that is not {"rate_hz": 0 < number <= 100, "end_t": number or null, "mm": at
# most 6,000 numbers or nulls}
BAD_SIGNALS = [
    [1.0, 2.0], "0.5,0.7", {"end_t": 1.0, "mm": []}, {"rate_hz": 0, "end_t": 1.0, "mm": []},
    {"rate_hz": 1000.0, "end_t": 1.0, "mm": []}, {"rate_hz": True, "end_t": 1.0, "mm": []},
    {"rate_hz": 10.0, "mm": [1.0]}, {"rate_hz": 10.0, "end_t": "now", "mm": [1.0]},
    {"rate_hz": 10.0, "end_t": 1.0, "mm": "1,2"}, {"rate_hz": 10.0, "end_t": 1.0, "mm": [1.0, "2"]},
    {"rate_hz": 10.0, "end_t": 1.0, "mm": [[1.0]]}, {"rate_hz": 10.0, "end_t": 1.0, "mm": [0.0] * 6001},
]
MALFORMED += [[b"alert/bed-3/x", json.dumps(_with(ALERT, signal=signal)).encode()] for signal in BAD_SIGNALS]


@pytest.mark.parametrize("frames", MALFORMED, ids=range(len(MALFORMED)))
def test_each_malformed_message_is_named_not_raised(frames):
    with pytest.raises(MalformedMessage):
        decode(frames)


def test_a_bad_signal_is_named():
    with pytest.raises(MalformedMessage, match=r"^signal\.mm: unexpected value"):
        check_message(_with(ALERT, signal={"rate_hz": 10.0, "end_t": 1.0, "mm": [1.0, "2"]}))
    with pytest.raises(MalformedMessage, match=r"^signal\.end_t: missing"):
        check_message(_with(ALERT, signal={"rate_hz": 10.0, "mm": [1.0]}))


def test_well_formed_messages_pass():
    assert decode([b"alert/bed-3/x", json.dumps(ALERT).encode()])[1]["id"] == ALERT["id"]
    check_message(HEARTBEAT)
    check_message(_with(ALERT, extra_field_from_a_newer_daemon=[1, 2]))
    check_message(_with(ALERT, signal=None))  # a source without a signal
    check_message(_with(ALERT, signal={"rate_hz": 100.0, "end_t": None, "mm": [0.0] * 6000}))
    no_signal = _with(ALERT)
    del no_signal["signal"]  # updates and clears, and a daemon from before signals
    check_message(no_signal)


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                                        max_size=3), max_leaves=8)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.sampled_from([ALERT, HEARTBEAT]), st.sampled_from(sorted(set(ALERT) | set(HEARTBEAT))), json_values,
       st.booleans())
def test_a_message_with_any_field_changed_is_checked_or_refused_and_the_console_survives_it(base, field, value, drop):
    message = copy.deepcopy(base)
    if drop:
        message.pop(field, None)
    else:
        message[field] = value
    out = io.StringIO()
    console = Console(as_json=True, heartbeat_timeout_s=10.0, out=out)
    try:
        checked = check_message(message)
    except MalformedMessage:
        return
    console.message("alert/bed-3/x", checked)  # whatever passed the check, the console can show
    console.snapshot(check_snapshot({"schema": 1, "type": "snapshot", "publisher": "p2", "bed": "bed-3",
                                     "time": 1.7e9, "alerts": [checked] if checked["type"] == "alert" else [],
                                     "vitals": None, "seq": {"alert": 0}}), "tcp://x", None)
    Console(as_json=False, heartbeat_timeout_s=10.0, out=io.StringIO()).message("alert/bed-3/x", checked)


def test_watch_reports_malformed_messages_and_snapshots_and_still_shows_a_real_alert(tmp_path):
    pub_endpoint, snap_endpoint = endpoint(), endpoint()
    context = zmq.Context.instance()
    pub = context.socket(zmq.PUB)
    pub.bind(pub_endpoint)
    router = context.socket(zmq.ROUTER)
    router.bind(snap_endpoint)
    stop = threading.Event()

    def serve():  # a snapshot server that answers garbage
        while not stop.is_set():
            if router.poll(100):
                frames = router.recv_multipart()
                router.send_multipart([frames[0], b"", b'{"schema": 1, "alerts": null}'])

    server = threading.Thread(target=serve, daemon=True)
    server.start()
    watch = subprocess.Popen([sys.executable, "-m", "respmon.cli", "watch", "--endpoint", pub_endpoint,
                              "--snapshot-endpoint", snap_endpoint, "--json", "--for", "9",
                              "--config", str(plain_config(tmp_path))],
                             cwd=REPO, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        time.sleep(2.0)  # the console subscribes, then asks for its snapshot
        # The 5 MB message goes last: over the subscriber's size limit, ZeroMQ drops the connection
        # (it never reaches the console) and the console reconnects. The "\xff" topic is not one
        # the console subscribed to, so it is filtered out before that.
        oversize = [f for f in MALFORMED if len(f[-1]) > 1_000_000]
        for frames in [f for f in MALFORMED if f not in oversize] + oversize:
            pub.send_multipart(frames)
            time.sleep(0.05)
        # ZeroMQ does not reconnect a subscriber it dropped for an oversized message: the console
        # says the publisher is silent, then connects afresh, and the alert sent then is shown.
        seq = 2
        while watch.poll() is None:
            pub.send_multipart([b"alert/bed-3/central_apnea", json.dumps(_with(ALERT, seq=seq)).encode()])
            seq += 1
            time.sleep(0.5)
        out, err = watch.communicate(timeout=60)
    finally:
        stop.set()
        server.join(timeout=5)
        pub.close(linger=0)
        router.close(linger=0)
    assert watch.returncode == 0 and "Traceback" not in err, err
    records = [json.loads(line) for line in out.splitlines()]
    events = [r.get("event") for r in records]
    assert events[0] == "malformed_snapshot"
    reaching = [f for f in MALFORMED if len(f[-1]) <= 1_000_000 and f[0].startswith(b"alert/")
                or f[0].startswith(b"heartbeat/")]
    assert events.count("malformed_message") == len(reaching) == 10 + len(BAD_SIGNALS)
    assert "heartbeat_lost" in events
    assert any(r.get("type") == "alert" and r.get("id") == ALERT["id"] for r in records[events.index("heartbeat_lost"):])
