"""The bed's sockets against a peer that means harm: what it sends must not grow the publishing
process (issue 11's probes: a 1 GiB message, requests echoed back to a client that never reads, a
flood of subscriptions, 1,100 connections), a peer without an allowed CURVE key gets nothing, and a
real subscriber stays served. The publisher runs in its own process, as the daemon does (CURVE on),
so that its resident memory is its own.

An allowed client can still grow it with made-up subscriptions (libzmq keeps every subscription in
a trie, in XPUB's manual mode too): the allow-list is the bound, as for any trusted peer."""

from __future__ import annotations

import os
import resource
import socket
import subprocess
import sys
import time

import pytest
import zmq

from respmon.publish.security import (ClientSecurity, create_key_pair, load_key_pair, load_public_key,
                                      secure_client)
from respmon.publish.zmq_pub import receive, request_snapshot, subscriber
from tests.conftest import REPO
from tests.test_publish import endpoint

PUBLISHER = """
import resource, sys, time
from pathlib import Path
from respmon.publish.security import ServerSecurity, load_key_pair
from respmon.publish.zmq_pub import Publisher
resource.setrlimit(resource.RLIMIT_NOFILE, (8192, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))  # the unit's
keys = Path(sys.argv[3])
security = ServerSecurity(load_key_pair(keys / "bed-7.key_secret"), keys / "clients")
pub = Publisher(sys.argv[1], sys.argv[2], "bed-7", security=security)
pub.set_snapshot([], {"t": 1})
print("ready", flush=True)
while True:
    pub.publish("heartbeat", {"state": "breathing"})
    time.sleep(0.05)
"""
BUDGET_MB = 20.0  # the bound on growth over the baseline
CONNECTIONS = 1100  # the probe that exhausted the default 1,024 descriptors


def _rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:")) / 1024.0


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    folder = tmp_path_factory.mktemp("keys")
    create_key_pair(folder, "bed-7")
    create_key_pair(folder, "nurse", authorize=True)
    create_key_pair(folder, "stranger")  # a well-formed key pair nobody allowed
    return folder


def _client(keys, name: str) -> ClientSecurity:
    return ClientSecurity(load_key_pair(keys / f"{name}.key_secret"), load_public_key(keys / "bed-7.key"))


@pytest.fixture
def served(keys):
    pub_endpoint, snap_endpoint = endpoint(), endpoint()
    process = subprocess.Popen([sys.executable, "-c", PUBLISHER, pub_endpoint, snap_endpoint, str(keys)],
                               cwd=REPO, stdout=subprocess.PIPE, text=True,
                               env={**os.environ, "PYTHONPATH": str(REPO)})
    assert process.stdout.readline().strip() == "ready"
    time.sleep(0.5)
    yield process, pub_endpoint, snap_endpoint
    process.kill()
    process.wait(timeout=10)


def _heartbeats(pub_endpoint: str, security: ClientSecurity | None, wait_s: float) -> list:
    sub = subscriber(pub_endpoint, ["heartbeat/bed-7/"], security=security)
    got, deadline = [], time.monotonic() + wait_s
    try:
        while time.monotonic() < deadline and len(got) < 3:
            message = receive(sub, 200)
            if message is not None:
                got.append(message)
    finally:
        sub.close(linger=0)
    return got


def _still_served(keys, pub_endpoint: str, snap_endpoint: str) -> None:
    nurse = _client(keys, "nurse")
    got = _heartbeats(pub_endpoint, nurse, 10.0)
    assert got and got[0][1]["type"] == "heartbeat"
    assert request_snapshot(snap_endpoint, 5.0, security=nurse)["bed"] == "bed-7"


def _raw_socket(keys, kind: int, name: str | None) -> zmq.Socket:
    """A socket as an attacker makes it: CURVE client with `name`'s keys, or plain text (None)."""
    sock = zmq.Context.instance().socket(kind)
    sock.setsockopt(zmq.LINGER, 0)
    secure_client(sock, _client(keys, name) if name is not None else None)
    return sock


def _dealer(keys, name: str | None, snap_endpoint: str) -> zmq.Socket:
    attacker = _raw_socket(keys, zmq.DEALER, name)
    attacker.connect(snap_endpoint)
    return attacker


def test_only_an_allowed_key_receives_anything(keys, served):
    _, pub_endpoint, snap_endpoint = served
    _still_served(keys, pub_endpoint, snap_endpoint)  # the allowed key: heartbeats and the snapshot
    stranger = _client(keys, "stranger")
    wrong_server = ClientSecurity(_client(keys, "nurse").keys, load_public_key(keys / "stranger.key"))
    for security in (stranger, wrong_server, None):  # unknown key, wrong server key, plain text
        assert _heartbeats(pub_endpoint, security, 3.0) == []
        assert request_snapshot(snap_endpoint, 1.5, security=security) is None


@pytest.mark.parametrize("who", ["stranger", "nurse"])
def test_a_huge_message_to_the_snapshot_socket_is_dropped_unread(keys, served, who):
    process, pub_endpoint, snap_endpoint = served
    before = _rss_mb(process.pid)
    attacker = _dealer(keys, who, snap_endpoint)
    time.sleep(1.0)  # the handshake: a stranger's fails, and its DEALER then has no peer to send to
    for _ in range(4):
        try:
            attacker.send_multipart([b"", b"x" * (64 << 20)], flags=zmq.NOBLOCK)  # 4 x 64 MB
        except zmq.Again:
            pass
    time.sleep(3.0)
    attacker.close(linger=0)
    assert _rss_mb(process.pid) - before < BUDGET_MB
    _still_served(keys, pub_endpoint, snap_endpoint)


def test_requests_from_a_client_that_never_reads_are_not_echoed_back(keys, served):
    process, pub_endpoint, snap_endpoint = served
    before = _rss_mb(process.pid)
    attacker = _dealer(keys, "nurse", snap_endpoint)  # even an allowed client
    attacker.setsockopt(zmq.RCVHWM, 1)
    attacker.setsockopt(zmq.RCVBUF, 4096)
    for _ in range(5000):  # proper requests: at most SNAPSHOT_SEND_HWM replies wait for it
        attacker.send_multipart([b"", b"snapshot"])
    for _ in range(60):  # and requests whose extra frame used to be echoed back: 60 x 2 MB
        attacker.send_multipart([b"", b"snapshot", b"y" * (2 << 20)])
    time.sleep(3.0)
    assert _rss_mb(process.pid) - before < BUDGET_MB
    _still_served(keys, pub_endpoint, snap_endpoint)
    attacker.close(linger=0)


def test_a_subscription_flood_without_an_allowed_key_takes_nothing(keys, served):
    process, pub_endpoint, snap_endpoint = served
    before = _rss_mb(process.pid)
    rng = __import__("random").Random(9100)
    sockets = []
    for name in ("stranger", None):
        sub = _raw_socket(keys, zmq.SUB, name)
        for _ in range(60_000):  # 2 x 60,000 x 100 bytes: 12 MB of made-up topics
            sub.setsockopt(zmq.SUBSCRIBE, rng.randbytes(100))
        sub.connect(pub_endpoint)
        sockets.append(sub)
    time.sleep(4.0)
    assert _rss_mb(process.pid) - before < BUDGET_MB
    _still_served(keys, pub_endpoint, snap_endpoint)
    for sub in sockets:
        sub.close(linger=0)


def test_1100_idle_connections_leave_a_real_console_served(keys, served):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < CONNECTIONS + 256:
        pytest.skip(f"this process may open {hard} files, fewer than the probe's {CONNECTIONS}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, CONNECTIONS + 256), hard))
    process, pub_endpoint, snap_endpoint = served
    before = _rss_mb(process.pid)
    held = []
    try:
        for i in range(CONNECTIONS):
            host, port = (pub_endpoint if i % 2 else snap_endpoint)[len("tcp://"):].rsplit(":", 1)
            held.append(socket.create_connection((host, int(port)), timeout=5))
        time.sleep(1.0)
        _still_served(keys, pub_endpoint, snap_endpoint)
        assert _rss_mb(process.pid) - before < BUDGET_MB
    finally:
        for conn in held:
            conn.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
