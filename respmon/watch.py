"""`respmon watch`: the operator's console.

Subscribes first, then asks the snapshot endpoint for the alerts active now (a console started
after an onset still shows it), then prints live alert events. It says when the publisher's
heartbeat stops and comes back, when sequence numbers jump (messages were missed) and when the
publisher restarted (new publisher id: the snapshot is fetched again). Every message is checked
against docs/messages.md (respmon.publish.schema): a malformed one is reported as such and skipped.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import datetime, timezone

import zmq
from zmq.utils.monitor import recv_monitor_message

from respmon.config import load_config
from respmon.publish.schema import MalformedMessage
from respmon.publish.security import ClientSecurity, client_security
from respmon.publish.zmq_pub import receive_checked, request_snapshot, subscriber

SNAPSHOT_TIMEOUT_S = 2.0
RECEIVE_TICK_MS = 200
# A CURVE client that is refused hears nothing, as if the daemon were down; its socket's monitor
# says why (ZMTP handshake events), and the console says it.
HANDSHAKE_TEXTS = {
    "HANDSHAKE_FAILED_AUTH": ("key_refused", "the bed at {endpoint} refused this console's key: its public key "
                              "(keys.dir/CLIENT.key) must be in the bed's keys/clients/ (then reload the bed)"),
    "HANDSHAKE_FAILED_NO_DETAIL": ("handshake_failed", "the CURVE handshake with {endpoint} failed: is "
                                   "keys.dir/BED.key that bed's public key?"),
    "HANDSHAKE_FAILED_PROTOCOL": ("handshake_failed", "the handshake with {endpoint} failed: one side speaks "
                                  "CURVE, the other plain text (publish.insecure)"),
}
HANDSHAKE_EVENTS = (zmq.EVENT_HANDSHAKE_FAILED_AUTH | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL
                    | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL | zmq.EVENT_HANDSHAKE_SUCCEEDED)
MAX_PUBLISHERS = 1000  # publisher ids remembered (one per daemon start)
SNAPSHOT_RETRY_S = 10.0  # snapshots asked for at most this often (the heartbeat timeout if longer)


def _clock(epoch_s: float) -> str:
    return datetime.fromtimestamp(epoch_s, timezone.utc).strftime("%H:%M:%SZ")


def format_alert(alert: dict, label: str | None = None) -> str:
    label = label or alert.get("event", "").upper()
    evidence = alert.get("evidence") or {}
    parts = [
        _clock(alert.get("time", time.time())), f"{label:<6}", f"{alert.get('priority', '?'):<6}",
        str(alert.get("bed")), str(alert.get("condition")),
    ]
    if alert.get("confidence") is not None:
        parts.append(f"confidence {alert['confidence']:.2f}")
    parts.append(f"rate {alert['rr_bpm']:.1f} bpm" if alert.get("rr_bpm") is not None else "rate -")
    if evidence.get("seconds_without_breathing") is not None:
        parts.append(f"no breath {evidence['seconds_without_breathing']:.0f} s")
    if alert.get("reason"):
        parts.append(f"({alert['reason']})")
    parts.append(f"since {alert.get('onset', '?')} t={alert.get('onset_t')} s id {str(alert.get('id'))[:8]}")
    return "  ".join(parts)


class Console:
    def __init__(self, as_json: bool, heartbeat_timeout_s: float, out=None):
        self.as_json = as_json
        self.heartbeat_timeout_s = heartbeat_timeout_s
        self.out = out or sys.stdout
        self.last_seq: dict[tuple[str, str], int] = {}
        self.snapshot_seq: dict[str, int] = {}  # per publisher: alerts up to here are in the snapshot
        self.last_heartbeat: float | None = None
        self.silent = False
        self.publishers: set[str] = set()
        self.last_reconnect = time.monotonic()
        self.handshake_said: set[str] = set()

    def emit(self, record: dict, text: str) -> None:
        self.out.write((json.dumps(record) if self.as_json else text) + "\n")
        self.out.flush()

    def notice(self, event: str, text: str, **fields) -> None:
        self.emit({"type": "watch", "event": event, **fields}, f"{_clock(time.time())} ** {text}")

    def snapshot(self, snap: dict | None, endpoint: str, bed: str | None) -> None:
        if snap is None:
            # Under CURVE a console whose key the bed does not allow, or that has the wrong bed
            # key, hears nothing at all: the same silence as a daemon that is down.
            self.notice("no_snapshot", f"no snapshot from {endpoint} (is respmon running there? with CURVE: "
                        "is this console's public key in the bed's keys/clients/, and is keys.dir/BED.key "
                        "that bed's?)",
                        endpoint=endpoint)
            return
        publisher = snap.get("publisher", "")
        self.publishers.add(publisher)
        self.snapshot_seq[publisher] = int((snap.get("seq") or {}).get("alert", 0))
        self.last_seq[(publisher, "alert")] = max(self.last_seq.get((publisher, "alert"), 0),
                                                  self.snapshot_seq[publisher])
        alerts = [a for a in snap.get("alerts", []) if bed is None or a.get("bed") == bed]
        if self.as_json:
            self.emit({**snap, "alerts": alerts}, "")
            return
        self.emit({}, f"{_clock(time.time())} ** {len(alerts)} active alert(s) on {snap.get('bed')}"
                      f" (publisher {publisher})")
        for alert in alerts:
            self.emit(alert, format_alert(alert, "ACTIVE"))

    def message(self, topic: str, msg: dict) -> bool:
        """Handle one message; True when this publisher's snapshot is wanted: it restarted, or
        none came from it yet (its snapshot failed, or it started after the console)."""
        kind, publisher = msg.get("type"), msg.get("publisher")
        if kind is None or publisher is None:
            return False
        if len(self.publishers) > MAX_PUBLISHERS:  # made-up ids must not grow the console
            self.publishers.clear()
            self.last_seq.clear()
        restarted = publisher not in self.snapshot_seq
        self.publishers.add(publisher)
        seq = msg.get("seq")
        key = (publisher, kind)
        previous = self.last_seq.get(key)
        if previous is not None and isinstance(seq, int) and seq > previous + 1:
            self.notice("sequence_gap", f"missed {seq - previous - 1} {kind} message(s) from {msg.get('bed')}",
                        kind=kind, missed=seq - previous - 1, bed=msg.get("bed"))
        if isinstance(seq, int):
            self.last_seq[key] = seq
        if kind == "heartbeat":
            self.last_heartbeat = time.monotonic()
            if self.silent:
                self.silent = False
                self.notice("heartbeat_back", f"heartbeat from {msg.get('bed')} is back", bed=msg.get("bed"))
                restarted = True  # alerts may have come and gone while it was silent
        elif kind == "alert":
            if isinstance(seq, int) and seq <= self.snapshot_seq.get(publisher, 0):
                return restarted  # already shown by the snapshot
            self.emit(msg, format_alert(msg))
        return restarted

    def handshake(self, event: str, endpoint: str) -> None:
        """What the subscriber's ZeroMQ monitor says of its handshakes: a refused key is said once
        (until a handshake succeeds), rather than left to look like a daemon that is down."""
        if event == "HANDSHAKE_SUCCEEDED":
            self.handshake_said.clear()
            return
        said = HANDSHAKE_TEXTS.get(event)
        if said is None or event in self.handshake_said:
            return
        self.handshake_said.add(event)
        name, text = said
        self.notice(name, text.format(endpoint=endpoint), endpoint=endpoint, handshake=event)

    def check_heartbeat(self, started: float) -> bool:
        """Says when the heartbeat stops; True once per heartbeat_timeout_s of silence (the caller
        connects afresh: a connection ZeroMQ dropped, e.g. for an oversized message, stays down)."""
        since = time.monotonic() - (self.last_heartbeat if self.last_heartbeat is not None else started)
        if since <= self.heartbeat_timeout_s:
            return False
        if not self.silent:
            self.silent = True
            self.notice("heartbeat_lost", f"no heartbeat for {since:.0f} s: the publisher is silent "
                        "(daemon down, network, or box off); alerts cannot arrive", seconds=round(since, 1))
        now = time.monotonic()
        if now - self.last_reconnect >= self.heartbeat_timeout_s:
            self.last_reconnect = now
            return True
        return False


def _snapshot(console: Console, endpoint: str, bed: str | None, security: ClientSecurity | None) -> None:
    try:
        snap = request_snapshot(endpoint, SNAPSHOT_TIMEOUT_S, checked=True, security=security)
    except MalformedMessage as exc:
        console.notice("malformed_snapshot", f"skipped a malformed snapshot from {endpoint}: {exc}",
                       endpoint=endpoint, problem=str(exc))
        return
    console.snapshot(snap, endpoint, bed)


def run(args) -> int:
    config = load_config(args.config)
    endpoint = args.endpoint or config.publish.endpoint
    snapshot_endpoint = args.snapshot_endpoint or config.publish.snapshot_endpoint
    bed = args.bed
    scope = f"{bed}/" if bed else ""
    topics = [f"alert/{scope}", f"heartbeat/{scope}"]
    # The bed's public key is DIR/BED.key: the watched bed's (--bed) or this config's bed.name.
    security = client_security(config, args.config, bed or config.bed.name, [endpoint, snapshot_endpoint])
    sub = subscriber(endpoint, topics, security=security)
    monitor = sub.get_monitor_socket(HANDSHAKE_EVENTS)
    console = Console(args.json, config.watch.heartbeat_timeout_s)
    started = time.monotonic()
    next_snapshot = started
    deadline = started + args.for_s if args.for_s is not None else None
    try:
        _snapshot(console, snapshot_endpoint, bed, security)
        while deadline is None or time.monotonic() < deadline:
            try:
                got = receive_checked(sub, RECEIVE_TICK_MS)
            except MalformedMessage as exc:
                console.notice("malformed_message", f"skipped a malformed message: {exc}", problem=str(exc))
                got = None
            # A snapshot is fetched when one is wanted, at most every SNAPSHOT_RETRY_S: a stream of
            # made-up publisher ids, or a snapshot socket that does not answer, must not keep the
            # console waiting on snapshots.
            if got is not None and console.message(*got) and time.monotonic() >= next_snapshot:
                next_snapshot = time.monotonic() + max(console.heartbeat_timeout_s, SNAPSHOT_RETRY_S)
                console.notice("fetching_snapshot", "a publisher without a snapshot here (restarted, started "
                               "after this console, or silent for a while); fetching its snapshot")
                _snapshot(console, snapshot_endpoint, bed, security)
            while monitor.poll(0):
                console.handshake(zmq.Event(recv_monitor_message(monitor)["event"]).name, endpoint)
            if console.check_heartbeat(started):
                sub.disable_monitor()
                monitor.close(linger=0)
                sub.close(linger=0)
                sub = subscriber(endpoint, topics, security=security)
                monitor = sub.get_monitor_socket(HANDSHAKE_EVENTS)
    except KeyboardInterrupt:
        pass
    finally:
        sub.disable_monitor()
        monitor.close(linger=0)
        sub.close(linger=0)
    return 0
