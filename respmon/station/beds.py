"""The station's link to each bed: a CURVE subscriber to the bed's alerts, vitals and heartbeats,
the bed's snapshot on connect, after a publisher restart, after a sequence gap in its alerts and
when a silent bed speaks again; a bed that stops sending is reported silent (and reconnected).
One asyncio task per bed; nothing here waits on anything but its own bed's sockets.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Protocol

import zmq
import zmq.asyncio
from zmq.utils.monitor import parse_monitor_message

from respmon.publish.schema import MAX_MESSAGE_BYTES, MalformedMessage, decode, decode_snapshot
from respmon.publish.security import ClientSecurity, secure_client
from respmon.publish.zmq_pub import snapshot_socket

log = logging.getLogger("respmon.station")

TICK_S = 0.25
SNAPSHOT_RETRY_S = 5.0
HANDSHAKE_EVENTS = (zmq.EVENT_HANDSHAKE_FAILED_AUTH | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL
                    | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL | zmq.EVENT_HANDSHAKE_SUCCEEDED)
HANDSHAKE_REASONS = {
    "HANDSHAKE_FAILED_AUTH": "the bed refused the station's key (not in its allow-list)",
    "HANDSHAKE_FAILED_NO_DETAIL": "CURVE handshake failed (wrong bed public key?)",
    "HANDSHAKE_FAILED_PROTOCOL": "handshake failed (plain text on one side, CURVE on the other?)",
}


@dataclass(frozen=True)
class BedEndpoint:
    name: str
    endpoint: str
    snapshot_endpoint: str
    security: ClientSecurity | None


class Sink(Protocol):
    def bed_message(self, bed: str, kind: str, msg: dict) -> None: ...
    def bed_snapshot(self, bed: str, snap: dict, alerts_current: bool) -> None: ...
    def bed_link(self, bed: str, link: str, reason: str | None) -> None: ...


class BedLink:
    def __init__(self, bed: BedEndpoint, context: zmq.asyncio.Context, sink: Sink,
                 heartbeat_timeout_s: float, snapshot_timeout_s: float):
        self.bed = bed
        self.context = context
        self.sink = sink
        self.heartbeat_timeout_s = heartbeat_timeout_s
        self.snapshot_timeout_s = snapshot_timeout_s
        self.publisher: str | None = None
        self.seq: dict[str, int] = {}
        self.gaps = 0
        self.malformed = 0
        self.reason: str | None = None  # why the link is not up, as far as the handshake tells
        self.last_heard: float | None = None
        self.silent = False
        self.want_snapshot = True
        self.next_snapshot = 0.0
        self.stopped = asyncio.Event()
        self.snapshot_task: asyncio.Task | None = None
        self.errors = 0

    def stop(self) -> None:
        self.stopped.set()

    async def run(self) -> None:
        started = time.monotonic()
        while not self.stopped.is_set():
            sub, monitor = self._open()
            connected_at = time.monotonic()
            try:
                while not self.stopped.is_set():
                    try:
                        await self._step(sub, monitor)
                        if self._silent_for(started) and time.monotonic() - connected_at >= self.heartbeat_timeout_s:
                            break  # connect afresh: ZeroMQ keeps a dropped connection down
                    except (asyncio.CancelledError, zmq.ContextTerminated):
                        raise
                    except Exception:  # a bug of ours must not end the link: the bed's alarms come next
                        self.errors += 1
                        if self.errors == 1 or self.errors % 1000 == 0:
                            log.exception("bed %s: a message could not be handled (%d so far)", self.bed.name,
                                          self.errors, extra={"bed": self.bed.name, "event": "bed.error"})
                        await asyncio.sleep(TICK_S)
            finally:
                if self.snapshot_task is not None:
                    self.snapshot_task.cancel()
                sub.disable_monitor()
                monitor.close(linger=0)
                sub.close(linger=0)

    def _silent_for(self, started: float) -> bool:
        """Whether nothing has come from the bed for heartbeat_timeout_s (said once)."""
        since = time.monotonic() - (self.last_heard if self.last_heard is not None else started)
        if since <= self.heartbeat_timeout_s:
            return False
        if not self.silent:
            self.silent = True
            self.want_snapshot = True
            self.sink.bed_link(self.bed.name, "silent", self.reason or f"no message for {since:.0f} s")
        return True

    def _open(self) -> tuple[zmq.asyncio.Socket, zmq.asyncio.Socket]:
        sub = self.context.socket(zmq.SUB)
        sub.setsockopt(zmq.LINGER, 0)
        sub.setsockopt(zmq.RCVHWM, 10000)
        sub.setsockopt(zmq.MAXMSGSIZE, MAX_MESSAGE_BYTES)
        secure_client(sub, self.bed.security)
        for kind in ("alert", "vitals", "heartbeat"):
            sub.setsockopt(zmq.SUBSCRIBE, f"{kind}/{self.bed.name}/".encode())
        monitor = sub.get_monitor_socket(HANDSHAKE_EVENTS)
        sub.connect(self.bed.endpoint)
        return sub, monitor

    async def _step(self, sub, monitor) -> None:
        if self.want_snapshot and time.monotonic() >= self.next_snapshot and (
                self.snapshot_task is None or self.snapshot_task.done()):
            # its own task: a snapshot endpoint that does not answer must not hold the bed's alarms
            self.snapshot_task = asyncio.get_running_loop().create_task(self._snapshot())
        poller = zmq.asyncio.Poller()
        poller.register(sub, zmq.POLLIN)
        poller.register(monitor, zmq.POLLIN)
        ready = dict(await poller.poll(TICK_S * 1000))
        if monitor in ready:
            self._handshake(parse_monitor_message(await monitor.recv_multipart()))
        if sub in ready:
            for _ in range(100):  # a burst, without starving the other beds
                try:
                    frames = await sub.recv_multipart(flags=zmq.NOBLOCK)
                except zmq.Again:
                    break
                self._frames(frames)

    def _handshake(self, event: dict) -> None:
        name = zmq.Event(event["event"]).name
        if name == "HANDSHAKE_SUCCEEDED":
            self.reason = None
        elif name in HANDSHAKE_REASONS and self.reason != HANDSHAKE_REASONS[name]:
            self.reason = HANDSHAKE_REASONS[name]
            log.warning("bed %s: %s", self.bed.name, self.reason, extra={"bed": self.bed.name})
            if self.silent:
                self.sink.bed_link(self.bed.name, "silent", self.reason)

    def _frames(self, frames: list[bytes]) -> None:
        try:
            topic, msg = decode(frames)
        except MalformedMessage as exc:
            self._malformed(str(exc))
            return
        if msg["bed"] != self.bed.name:
            self._malformed(f"a message of bed {msg['bed']!r} on {self.bed.name}'s endpoint")
            return
        self.last_heard = time.monotonic()
        if self.silent:
            self.silent = False
            self.want_snapshot = True
            self.next_snapshot = 0.0
            self.sink.bed_link(self.bed.name, "up", None)
        kind = msg["type"]
        if msg["publisher"] != self.publisher:
            # a bed that restarted (or the first message): what it has on now comes from its snapshot
            self.publisher = msg["publisher"]
            self.seq = {}
            self.want_snapshot = True
            self.next_snapshot = 0.0
        elif kind in self.seq and msg["seq"] != self.seq[kind] + 1:
            self.gaps += 1
            if kind == "alert":
                log.warning("bed %s: alert sequence gap (%d after %d): fetching its snapshot",
                            self.bed.name, msg["seq"], self.seq[kind], extra={"bed": self.bed.name})
                self.want_snapshot = True
                self.next_snapshot = 0.0
        self.seq[kind] = msg["seq"]
        self.sink.bed_message(self.bed.name, kind, msg)

    def _malformed(self, problem: str) -> None:
        self.malformed += 1
        if self.malformed == 1 or self.malformed % 1000 == 0:
            log.warning("bed %s: skipped a malformed message (%d so far): %s", self.bed.name, self.malformed,
                        problem, extra={"bed": self.bed.name})

    async def _snapshot(self) -> None:
        self.next_snapshot = time.monotonic() + SNAPSHOT_RETRY_S
        try:
            snap = await request_snapshot(self.context, self.bed.snapshot_endpoint, self.snapshot_timeout_s,
                                          self.bed.security)
        except MalformedMessage as exc:
            self._malformed(f"snapshot: {exc}")
            return
        if snap is None:
            return
        if snap["bed"] != self.bed.name:
            self._malformed(f"a snapshot of bed {snap['bed']!r} on {self.bed.name}'s endpoint")
            return
        self.want_snapshot = False
        # Alerts heard after the snapshot was taken are newer than it: then its list is not the truth.
        same = snap["publisher"] == self.publisher
        current = not same or snap["seq"].get("alert", 0) >= self.seq.get("alert", 0)
        if self.publisher is None:
            self.publisher = snap["publisher"]
            self.seq = {k: v for k, v in snap["seq"].items()}
        self.sink.bed_snapshot(self.bed.name, snap, current)


async def request_snapshot(context: zmq.asyncio.Context, endpoint: str, timeout_s: float,
                           security: ClientSecurity | None) -> dict | None:
    """A bed's snapshot (checked), None if it does not answer in time; MalformedMessage otherwise."""
    socket = snapshot_socket(context, security)
    try:
        socket.connect(endpoint)
        await socket.send(b"snapshot")
        if not await socket.poll(int(timeout_s * 1000)):
            return None
        return decode_snapshot(await socket.recv())
    finally:
        socket.close(linger=0)
