"""The ZeroMQ edge: topics, stamps, the snapshot endpoint, and a subscriber that never reads."""

from __future__ import annotations

import resource
import socket
import time
from pathlib import Path

import pytest
import zmq

from respmon.publish.zmq_pub import SCHEMA_VERSION, PublishError, Publisher, receive, request_snapshot, subscriber


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def endpoint() -> str:
    return f"tcp://127.0.0.1:{free_port()}"


def plain_config(folder) -> Path:
    """Defaults, but plain text on loopback (publish.insecure): for tests about something else."""
    path = folder / "plain.yaml"
    path.write_text("publish:\n  insecure: true\n", encoding="utf-8")
    return path


@pytest.fixture
def publisher():
    pub = Publisher(endpoint(), endpoint(), "bed-1")
    yield pub
    pub.close()


def _collect(sub, want: int, timeout_s: float = 5.0) -> list[tuple[str, dict]]:
    got, deadline = [], time.monotonic() + timeout_s
    while len(got) < want and time.monotonic() < deadline:
        item = receive(sub, 100)
        if item is not None:
            got.append(item)
    return got


def _joined(pub: Publisher, sub) -> None:
    """Publish heartbeats until the subscriber sees one (ZeroMQ subscriptions take a moment)."""
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline:
        pub.publish("heartbeat", {"state": "test"})
        if receive(sub, 50) is not None:
            while receive(sub, 50) is not None:
                pass
            return
    raise AssertionError("subscriber never joined")


def test_topics_filter_by_kind_and_bed_and_messages_are_stamped(publisher):
    other = Publisher(endpoint(), None, "bed-12")
    try:
        alerts_bed1 = subscriber([publisher.endpoint, other.endpoint], ["alert/bed-1/", "heartbeat/"])
        _joined(publisher, alerts_bed1)
        _joined(other, alerts_bed1)
        publisher.publish("vitals", {"t": 1, "rr_bpm": 14.0})
        publisher.publish("alert", {"event": "onset", "condition": "central_apnea"}, condition="central_apnea")
        other.publish("alert", {"event": "onset", "condition": "tachypnea"}, condition="tachypnea")
        publisher.publish("alert", {"event": "clear", "condition": "central_apnea"}, condition="central_apnea")
        got = [(t, m) for t, m in _collect(alerts_bed1, 2, 3.0) if m["type"] == "alert"]
        assert [t for t, _ in got] == ["alert/bed-1/central_apnea"] * 2
        first, second = (m for _, m in got)
        assert first["schema"] == SCHEMA_VERSION and first["bed"] == "bed-1"
        assert first["publisher"] == publisher.publisher_id != other.publisher_id
        assert second["seq"] == first["seq"] + 1  # counted per kind: the vitals line in between does not count
        assert publisher.seq == {"alert": 2, "vitals": 1, "heartbeat": publisher.seq["heartbeat"]}
        alerts_bed1.close()
    finally:
        other.close()


def test_snapshot_returns_the_active_alerts_and_survives_odd_requests(publisher):
    active = [{"id": "a1", "condition": "central_apnea", "priority": "high"}]
    publisher.publish("alert", {"event": "onset"}, condition="central_apnea")
    publisher.set_snapshot(active, {"t": 5, "rr_bpm": None})
    # Anything but the one small request gets nothing (garbage, extra frames that used to be echoed
    # back, a request too large for the socket), and the server lives on.
    dealer = zmq.Context.instance().socket(zmq.DEALER)
    dealer.connect(publisher.snapshot_endpoint)
    dealer.send_multipart([b"\xff\x00garbage"])
    dealer.send_multipart([b"", b"snapshot", b"x" * 100])
    dealer.send_multipart([b"", b"snapshot" * 100])
    assert not dealer.poll(1000)
    dealer.close(linger=0)
    snap = request_snapshot(publisher.snapshot_endpoint, 2.0)
    assert snap["type"] == "snapshot" and snap["alerts"] == active and snap["vitals"]["t"] == 5
    assert snap["seq"]["alert"] == 1 and snap["publisher"] == publisher.publisher_id


def test_snapshot_of_nobody_is_none():
    assert request_snapshot(endpoint(), 0.3) is None


def test_endpoint_in_use_is_one_clear_error(publisher):
    with pytest.raises(PublishError, match="cannot bind the publish socket to tcp://127.0.0.1:"):
        Publisher(publisher.endpoint, None, "bed-2")


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def test_a_subscriber_that_never_reads_neither_blocks_nor_grows_memory():
    pub = Publisher(endpoint(), None, "bed-1", send_hwm=100)
    stalled = zmq.Context.instance().socket(zmq.SUB)
    stalled.setsockopt(zmq.RCVHWM, 100)
    stalled.setsockopt(zmq.RCVBUF, 4096)
    stalled.setsockopt(zmq.SUBSCRIBE, b"")
    stalled.connect(pub.endpoint)
    time.sleep(0.3)  # connected and subscribed; from now on it never reads
    payload = {"probs": "x" * 4000}
    for _ in range(2000):  # warm up: fill every queue and buffer there is
        pub.publish("vitals", payload)
    before = _rss_mb()
    started = time.monotonic()
    for _ in range(40_000):  # 160 MB of messages: unbounded queueing would show
        pub.publish("vitals", payload)
    elapsed = time.monotonic() - started
    grown = _rss_mb() - before
    stalled.close(linger=0)
    pub.close()
    assert grown < 40, f"memory grew by {grown:.0f} MB"
    assert elapsed < 20, f"publishing stalled: {elapsed:.1f} s for 40,000 messages"


def test_a_non_finite_number_goes_out_as_null_not_as_invalid_json(publisher):
    sub = subscriber(publisher.endpoint, ["vitals/", "heartbeat/"])
    _joined(publisher, sub)
    publisher.publish("vitals", {"t": 3, "quality": float("nan"), "probs": {"eupnea": float("inf")}})
    [(_, message)] = _collect(sub, 1)
    assert message["quality"] is None and message["probs"] == {"eupnea": None} and message["t"] == 3
    sub.close()
