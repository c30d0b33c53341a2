"""ZeroMQ edge: a PUB socket for alerts, vitals and heartbeats, and a ROUTER socket that answers
snapshot requests with the alerts active now. The message schema is docs/messages.md.

Topics are "KIND/BED/" (alerts: "alert/BED/CONDITION"), so a subscriber prefix-filters by kind
("alert/"), by kind and bed ("alert/bed-12/"; the trailing slash keeps bed-1 from matching bed-12),
or takes everything (""). Every message carries the schema version, this publisher's id (new at
each start) and a sequence number counted per kind, so a subscriber to one kind can tell a gap.
"""

from __future__ import annotations

import json
import math
import threading
import time
import uuid

import zmq

from respmon.errors import UsageError
from respmon.publish.schema import MAX_MESSAGE_BYTES, SCHEMA_VERSION, MalformedMessage, decode, decode_snapshot
from respmon.publish.security import AllowList, ClientSecurity, ServerSecurity, secure_client, secure_server

KINDS = ("alert", "vitals", "heartbeat")
SNAPSHOT_POLL_MS = 200
SNAPSHOT_REQUEST = b"snapshot"
# What a peer may send these sockets: a subscription (a topic prefix, under 100 bytes) or the
# snapshot request. ZeroMQ drops the connection of a peer that sends more (issue 11: one 1 GiB
# message took the daemon from 327 MB to 2.3 GB).
MAX_INBOUND_BYTES = 1024
SNAPSHOT_SEND_HWM = 16  # replies queued for a client that does not read them, at most
HANDSHAKE_IVL_MS = 5000  # a connection that has not completed ZeroMQ's handshake by then is dropped
HEARTBEAT_IVL_MS, HEARTBEAT_TIMEOUT_MS = 5000, 15000  # and one whose peer stopped answering


class PublishError(UsageError):
    pass


def _finite(value):
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite(v) for key, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def encode(message: dict) -> bytes:
    """Strict JSON (no NaN, which many subscribers' parsers refuse): a non-finite number is null."""
    try:
        return json.dumps(message, separators=(",", ":"), allow_nan=False).encode()
    except ValueError:
        return json.dumps(_finite(message), separators=(",", ":"), allow_nan=False).encode()


def topic_for(kind: str, bed: str, condition: str | None = None) -> str:
    return f"{kind}/{bed}/{condition}" if condition else f"{kind}/{bed}/"


def _harden(socket: zmq.Socket) -> None:
    """Limits on what a peer can make a listening socket hold: message size, handshake time, and
    ZeroMQ heartbeats that drop a peer that stopped answering."""
    socket.setsockopt(zmq.MAXMSGSIZE, MAX_INBOUND_BYTES)
    socket.setsockopt(zmq.HANDSHAKE_IVL, HANDSHAKE_IVL_MS)
    socket.setsockopt(zmq.HEARTBEAT_IVL, HEARTBEAT_IVL_MS)
    socket.setsockopt(zmq.HEARTBEAT_TIMEOUT, HEARTBEAT_TIMEOUT_MS)


def _bind(socket: zmq.Socket, endpoint: str, what: str) -> None:
    try:
        socket.bind(endpoint)
    except zmq.ZMQError as err:
        socket.close(linger=0)  # closing twice (again in Publisher.close) is harmless
        raise PublishError(f"cannot bind the {what} socket to {endpoint}: {err}") from None


class Publisher:
    """Not thread-safe: publish() from one thread. The snapshot is served from its own thread from
    whatever set_snapshot() last stored.

    With security (respmon.publish.security), both sockets are CURVE servers and only clients whose
    keys are in the allow-list get through the handshake: anyone else receives nothing and can send
    nothing (not even a subscription). The publisher then has its own ZeroMQ context, whose one ZAP
    handler is its allow-list. Without, plain text: for loopback and tests (publish.insecure).

    Several publishers in one process (simulated beds) share one context and its one ZAP handler:
    `context` and `allow_list` (an AllowList on that context, stopped by its owner, not here)."""

    def __init__(self, endpoint: str, snapshot_endpoint: str | None, bed: str, send_hwm: int = 1000,
                 context: zmq.Context | None = None, security: ServerSecurity | None = None,
                 hold_snapshots: bool = False, allow_list: AllowList | None = None):
        self.bed = bed
        self.publisher_id = uuid.uuid4().hex[:12]
        self._own_context = security is not None and context is None
        self.context = zmq.Context() if self._own_context else (context or zmq.Context.instance())
        self._own_allow_list = security is not None and allow_list is None
        self.allow_list = AllowList(self.context, security.clients_dir) if self._own_allow_list else allow_list
        self.seq = dict.fromkeys(KINDS, 0)
        self._lock = threading.Lock()
        self._snapshot: dict = {"alerts": [], "vitals": None}
        self._stop = threading.Event()
        # hold_snapshots: requests wait, queued in the socket, until set_snapshot() first says what
        # is active (a daemon restoring its alarms from the journal must not answer "none" before).
        self._snapshot_set = threading.Event()
        if not hold_snapshots:
            self._snapshot_set.set()
        self._thread = None
        self.snapshot_endpoint = None
        self.socket = self.context.socket(zmq.PUB)
        try:
            self._open(endpoint, snapshot_endpoint, send_hwm, security)
        except PublishError:
            self.close()
            raise

    def _open(self, endpoint: str, snapshot_endpoint: str | None, send_hwm: int,
              security: ServerSecurity | None) -> None:
        secure_server(self.socket, security)
        # Per subscriber: at the high-water mark ZeroMQ drops that subscriber's messages instead of
        # queueing without bound; a send never blocks the frame loop.
        self.socket.setsockopt(zmq.SNDHWM, send_hwm)
        self.socket.setsockopt(zmq.LINGER, 500)
        _harden(self.socket)
        _bind(self.socket, endpoint, "publish")
        self.endpoint = self.socket.getsockopt_string(zmq.LAST_ENDPOINT)
        if snapshot_endpoint:
            router = self.context.socket(zmq.ROUTER)
            router.setsockopt(zmq.LINGER, 0)
            router.setsockopt(zmq.SNDHWM, SNAPSHOT_SEND_HWM)
            secure_server(router, security)
            _harden(router)
            _bind(router, snapshot_endpoint, "snapshot")
            self.snapshot_endpoint = router.getsockopt_string(zmq.LAST_ENDPOINT)
            self._thread = threading.Thread(target=self._serve_snapshots, args=(router,), name="snapshot",
                                            daemon=True)
            self._thread.start()

    def publish(self, kind: str, payload: dict, condition: str | None = None) -> dict:
        """Stamp and send one message; returns the message as sent."""
        with self._lock:
            self.seq[kind] += 1
            message = self._stamp(kind, payload, self.seq[kind])
        body = encode(message)
        try:
            self.socket.send_multipart([topic_for(kind, self.bed, condition).encode(), body], flags=zmq.NOBLOCK)
        except zmq.Again:  # PUB drops at the high-water mark rather than block; never wait here
            pass
        return message

    def _stamp(self, kind: str, payload: dict, seq: int) -> dict:
        envelope = {"schema": SCHEMA_VERSION, "type": kind, "publisher": self.publisher_id, "seq": seq,
                    "bed": self.bed, "time": time.time()}
        return {**envelope, **{key: value for key, value in payload.items() if key not in envelope}}

    def set_snapshot(self, alerts: list[dict], vitals: dict | None) -> None:
        with self._lock:
            self._snapshot = {"alerts": alerts, "vitals": vitals, "seq": dict(self.seq)}
        self._snapshot_set.set()

    def _snapshot_reply(self) -> bytes:
        with self._lock:
            snap = dict(self._snapshot)
            snap.setdefault("seq", dict(self.seq))
        message = {"schema": SCHEMA_VERSION, "type": "snapshot", "publisher": self.publisher_id,
                   "bed": self.bed, "time": time.time(), **snap}
        return encode(message)

    def _serve_snapshots(self, router: zmq.Socket) -> None:
        poller = zmq.Poller()
        poller.register(router, zmq.POLLIN)
        try:
            while not self._stop.is_set():
                if not self._snapshot_set.wait(SNAPSHOT_POLL_MS / 1000) or not poller.poll(SNAPSHOT_POLL_MS):
                    continue
                frames = router.recv_multipart()
                # A REQ client sends [identity, b"", b"snapshot"] and gets one reply. Anything else
                # gets nothing: answering it, extra frames echoed back, let a client that never
                # reads have the daemon hold 60 copies of its 20 MB requests (issue 11).
                if len(frames) != 3 or frames[1] != b"" or frames[2] != SNAPSHOT_REQUEST:
                    continue
                try:
                    router.send_multipart([frames[0], b"", self._snapshot_reply()], flags=zmq.NOBLOCK)
                except zmq.ZMQError:
                    pass  # the client went away, or holds SNAPSHOT_SEND_HWM replies unread
        finally:
            router.close(linger=0)

    def stop_snapshots(self) -> None:
        """Ask the snapshot thread to end; close() waits for it (up to SNAPSHOT_POLL_MS). Many
        publishers closing together ask them all first and wait once, not once each."""
        self._stop.set()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
        self.socket.close()
        if self.allow_list is not None and self._own_allow_list:
            self.allow_list.stop()
        if self._own_context:
            self.context.term()

    def reload_clients(self) -> int | None:
        """Read the allow-list folder again (SIGHUP); the number of keys, None without security.
        KeyFileError (one line) when it cannot be read: the old list stays."""
        return self.allow_list.reload() if self.allow_list is not None else None


def snapshot_socket(context: zmq.Context, security: ClientSecurity | None) -> zmq.Socket:
    """A REQ socket for one snapshot request (any context: the station's is asyncio's): no
    linger, a hostile answer over MAX_MESSAGE_BYTES dropped, CURVE when there is security."""
    socket = context.socket(zmq.REQ)
    socket.setsockopt(zmq.LINGER, 0)
    socket.setsockopt(zmq.MAXMSGSIZE, MAX_MESSAGE_BYTES)
    secure_client(socket, security)
    return socket


def request_snapshot(endpoint: str, timeout_s: float = 2.0, context: zmq.Context | None = None,
                     checked: bool = False, security: ClientSecurity | None = None) -> dict | None:
    """The publisher's snapshot, or None if it does not answer within timeout_s; MalformedMessage
    if the answer is not JSON or, when checked, not a snapshot of docs/messages.md's."""
    socket = snapshot_socket(context or zmq.Context.instance(), security)
    try:
        socket.connect(endpoint)
        socket.send(b"snapshot")
        if not socket.poll(int(timeout_s * 1000)):
            return None
        body = socket.recv()
        if checked:
            return decode_snapshot(body)
        try:
            return json.loads(body)
        except (UnicodeDecodeError, ValueError) as exc:
            raise MalformedMessage(f"snapshot not UTF-8 JSON ({type(exc).__name__})") from None
    finally:
        socket.close(linger=0)


def subscriber(endpoints: list[str] | str, prefixes: list[str], context: zmq.Context | None = None,
               rcv_hwm: int = 10000, security: ClientSecurity | None = None) -> zmq.Socket:
    context = context or zmq.Context.instance()
    socket = context.socket(zmq.SUB)
    socket.setsockopt(zmq.RCVHWM, rcv_hwm)
    socket.setsockopt(zmq.LINGER, 0)
    socket.setsockopt(zmq.MAXMSGSIZE, MAX_MESSAGE_BYTES)  # a hostile publisher's 1 GiB is dropped
    secure_client(socket, security)
    for prefix in prefixes:
        socket.setsockopt(zmq.SUBSCRIBE, prefix.encode())
    for endpoint in [endpoints] if isinstance(endpoints, str) else endpoints:
        socket.connect(endpoint)
    return socket


def receive(socket: zmq.Socket, timeout_ms: int) -> tuple[str, dict] | None:
    """(topic, message) or None after timeout_ms; a message that is not [topic, JSON] is skipped
    as ("", {}). The transport only: receive_checked holds messages to docs/messages.md."""
    if not socket.poll(timeout_ms):
        return None
    frames = socket.recv_multipart()
    if len(frames) != 2:
        return ("", {})
    try:
        return frames[0].decode(), json.loads(frames[1])
    except (UnicodeDecodeError, ValueError, RecursionError):
        return ("", {})


def receive_checked(socket: zmq.Socket, timeout_ms: int) -> tuple[str, dict] | None:
    """(topic, message) or None after timeout_ms; MalformedMessage, naming what is wrong, for a
    message that is not one of docs/messages.md's."""
    if not socket.poll(timeout_ms):
        return None
    return decode(socket.recv_multipart())

