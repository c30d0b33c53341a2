"""The bed's sockets against a peer that means harm: what it sends must not grow the publishing
process (issue 11's probes: a 1 GiB message, requests echoed back to a client that never reads),
and a real subscriber stays served. The publisher runs in its own process, so that its resident
memory is its own. (A flood of made-up subscriptions still grows it: libzmq keeps every
subscription in a trie, in XPUB's manual mode too; only keeping unknown peers out, CURVE with an
allow-list, can stop that.)"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
import zmq

from respmon.publish.zmq_pub import receive, request_snapshot, subscriber
from tests.conftest import REPO
from tests.test_publish import endpoint

PUBLISHER = """
import sys, time
from respmon.publish.zmq_pub import Publisher
pub = Publisher(sys.argv[1], sys.argv[2], "bed-7")
pub.set_snapshot([], {"t": 1})
print("ready", flush=True)
while True:
    pub.publish("heartbeat", {"state": "breathing"})
    time.sleep(0.05)
"""
BUDGET_MB = 20.0  # the bound on growth over the baseline


def _rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:")) / 1024.0


@pytest.fixture
def served():
    pub_endpoint, snap_endpoint = endpoint(), endpoint()
    process = subprocess.Popen([sys.executable, "-c", PUBLISHER, pub_endpoint, snap_endpoint], cwd=REPO,
                               stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert process.stdout.readline().strip() == "ready"
    time.sleep(0.5)
    yield process, pub_endpoint, snap_endpoint
    process.kill()
    process.wait(timeout=10)


def _still_served(pub_endpoint: str, snap_endpoint: str) -> None:
    sub = subscriber(pub_endpoint, ["heartbeat/bed-7/"])
    try:
        deadline = time.monotonic() + 10.0
        got = None
        while got is None and time.monotonic() < deadline:
            got = receive(sub, 200)
        assert got is not None and got[1]["type"] == "heartbeat"
    finally:
        sub.close(linger=0)
    assert request_snapshot(snap_endpoint, 5.0)["bed"] == "bed-7"


def test_a_huge_message_to_the_snapshot_socket_is_dropped_unread(served):
    process, pub_endpoint, snap_endpoint = served
    before = _rss_mb(process.pid)
    attacker = zmq.Context.instance().socket(zmq.DEALER)
    attacker.setsockopt(zmq.LINGER, 0)
    attacker.connect(snap_endpoint)
    for _ in range(4):
        attacker.send_multipart([b"", b"x" * (64 << 20)])  # 4 x 64 MB
    time.sleep(3.0)
    attacker.close(linger=0)
    assert _rss_mb(process.pid) - before < BUDGET_MB
    _still_served(pub_endpoint, snap_endpoint)


def test_requests_from_a_client_that_never_reads_are_not_echoed_back(served):
    process, pub_endpoint, snap_endpoint = served
    before = _rss_mb(process.pid)
    attacker = zmq.Context.instance().socket(zmq.DEALER)
    attacker.setsockopt(zmq.LINGER, 0)
    attacker.setsockopt(zmq.RCVHWM, 1)
    attacker.setsockopt(zmq.RCVBUF, 4096)
    attacker.connect(snap_endpoint)
    for _ in range(5000):  # proper requests: at most SNAPSHOT_SEND_HWM replies wait for it
        attacker.send_multipart([b"", b"snapshot"])
    for _ in range(60):  # and requests whose extra frame used to be echoed back: 60 x 2 MB
        attacker.send_multipart([b"", b"snapshot", b"y" * (2 << 20)])
    time.sleep(3.0)
    assert _rss_mb(process.pid) - before < BUDGET_MB
    _still_served(pub_endpoint, snap_endpoint)
    attacker.close(linger=0)
