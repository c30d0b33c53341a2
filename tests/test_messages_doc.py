"""docs/messages.md against the messages the code really sends: nothing missing, nothing extra."""

from __future__ import annotations

import json
import re
import time

import pytest

from respmon.config import default_config
from respmon.daemon.app import Daemon
from respmon.daemon.bedside import Bedside
from respmon.publish.zmq_pub import Publisher, receive, request_snapshot, subscriber
from respmon.replay import with_alerts
from tests.conftest import REPO
from tests.test_alert_engine import obs
from tests.test_publish import _joined, endpoint

DOC = REPO / "docs" / "messages.md"
SIGNAL = {"rate_hz": 10.0, "end_t": 23.9, "mm": [round(0.01 * i, 2) for i in range(600)]}


def documented(section: str) -> tuple[set[str], set[str]]:
    """(always-sent fields, conditional fields) of the table under `## section`."""
    text = DOC.read_text(encoding="utf-8")
    body = re.split(r"^## ", text, flags=re.M)
    [part] = [b for b in body if b.lower().startswith(section.lower())]
    part = part.split("\n### ")[0]  # the field table, not the subsections after it
    always, sometimes = set(), set()
    for field, kind in re.findall(r"^\| `([a-z_.]+)` \| ([^|]+) \|", part, flags=re.M):
        (sometimes if ("only" in kind or "optional" in kind) else always).add(field)
    return always, sometimes


def flat_keys(message: dict, envelope: set[str]) -> set[str]:
    keys = set()
    for key, value in message.items():
        if key in envelope:
            continue
        keys.add(key)
        if key in ("evidence", "signal") and isinstance(value, dict):
            keys |= {f"{key}.{k}" for k in value}
    return keys


@pytest.fixture(scope="module")
def sent():
    """Real messages: an apnea's onset, update and clear, a lost source, vitals, heartbeats of the
    daemon and of replay, and a snapshot, all through a Publisher to a SUB socket."""
    config = default_config()
    config.alerts.update_interval_s = 2.0
    publisher = Publisher(endpoint(), endpoint(), "bed-4")
    sub = subscriber(publisher.endpoint, [""])
    _joined(publisher, sub)
    bedside = Bedside(config, "test@0", publisher, signal=lambda: SIGNAL)
    windows = ([obs(t, state="apnea", rr=None, since=float(t)) for t in range(1, 25)]
               + [obs(t) for t in range(25, 40)]
               + [{**obs(t, state="lost", rr=None, since=None, pattern=None), "reason": "recording ended"}
                  for t in range(40, 43)])
    list(with_alerts(iter(windows), bedside, heartbeat_s=0.0))
    daemon = Daemon(config, None, None, publisher)
    daemon._heartbeat(time.monotonic())
    snapshot = request_snapshot(publisher.snapshot_endpoint, checked=True)
    messages = []
    while (got := receive(sub, 300)) is not None:
        messages.append(got[1])
    sub.close(linger=0)
    publisher.close()
    return messages, snapshot


def test_the_envelope_is_in_every_message(sent):
    messages, snapshot = sent
    envelope, _ = documented("Envelope")
    assert envelope == {"schema", "type", "publisher", "seq", "bed", "time"}
    for message in messages:
        assert envelope <= set(message)
    assert envelope - {"seq"} <= set(snapshot)


@pytest.mark.parametrize("kind", ["alert", "vitals", "heartbeat"])
def test_every_field_sent_is_documented_and_every_documented_field_is_sent(sent, kind):
    messages, _ = sent
    envelope, _ = documented("Envelope")
    always, sometimes = documented(kind)
    mine = [m for m in messages if m["type"] == kind]
    assert len(mine) >= 2
    seen = set()
    for message in mine:
        keys = flat_keys(message, envelope)
        assert keys <= always | sometimes, f"undocumented {kind} fields: {keys - always - sometimes}"
        assert always <= keys, f"documented {kind} fields not sent: {always - keys}"
        seen |= keys
    assert sometimes <= seen, f"conditional {kind} fields never seen: {sometimes - seen}"


def test_alert_lifecycle_and_conditions_match_the_doc(sent):
    messages, _ = sent
    alerts = [m for m in messages if m["type"] == "alert"]
    assert {m["event"] for m in alerts} == {"onset", "update", "clear"}
    text = DOC.read_text(encoding="utf-8")
    from respmon.alerts.engine import CONDITIONS

    for condition, (kind, priority) in CONDITIONS.items():
        assert f"| `{condition}` | {kind} | {priority} |" in text


def test_the_snapshot_is_as_documented(sent):
    _, snapshot = sent
    always, _ = documented("snapshot")
    assert set(snapshot) == always
    assert [a["condition"] for a in snapshot["alerts"]] == ["camera_lost"]
    assert snapshot["alerts"][0]["signal"] == SIGNAL  # the onset's, while the alarm is active
    assert snapshot["seq"]["alert"] >= 4


def test_onsets_carry_the_signal_and_nothing_else_does(sent):
    messages, _ = sent
    alerts = [m for m in messages if m["type"] == "alert"]
    assert {m["event"] for m in alerts if "signal" in m} == {"onset"}
    assert all(m["signal"] == SIGNAL for m in alerts if m["event"] == "onset")
    onset = next(m for m in alerts if m["event"] == "onset")
    assert 3_000 < len(json.dumps(onset["signal"])) < 6_000  # "about 4 KB" in the doc


def test_every_message_sent_passes_the_consumers_check(sent):
    # respmon.publish.schema is what `respmon watch` holds every message to: what the daemon sends
    # must pass it, or a console would skip real alerts as malformed.
    from respmon.publish.schema import check_message, check_snapshot

    messages, snapshot = sent
    assert {m.get("type") for m in messages} == {"alert", "vitals", "heartbeat"}
    for message in messages:
        check_message(message)
    check_snapshot(snapshot)
