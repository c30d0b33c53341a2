"""The messages of docs/messages.md, checked as a consumer must: whatever arrives on a socket may be
malformed, truncated or hostile, and a console that trusts it dies (issue 11: `respmon watch` died
with a traceback on 8 of 9 malformed messages) or echoes 50 MB of a bed name back.

`check_message` returns the message when it has the fields and types the page lists (extra fields
are allowed: a newer publisher may add some), and raises MalformedMessage naming the first field
that is wrong otherwise. Numbers may be null where the publisher's encoder turns a non-finite
value into null (respmon.publish.zmq_pub.encode). Pure: dicts in, dicts out.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from typing import Any

from respmon.errors import short_repr

SCHEMA_VERSION = 1
MAX_MESSAGE_BYTES = 1 << 20  # a snapshot with every alert is a few kB; more is not a message of ours
MAX_NAME = 64  # bed names, ids, conditions (bed.name is at most 64 characters)
MAX_TEXT = 1024  # reasons, sources, versions
MAX_VERSION = 128  # a heartbeat's model version: the station shows it on every page, every second
MAX_EPOCH_S = 1e11  # wall clocks beyond this are no time a console can print
MAX_SIGNAL_SAMPLES = 6000  # an onset's signal: 60 s at up to 100 Hz (signal.rate_hz's limit)
MAX_SIGNAL_RATE_HZ = 100.0


_SURROGATE = re.compile(r"[\ud800-\udfff]")


class MalformedMessage(ValueError):
    pass


Check = Callable[[Any], bool]


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _count(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 2**63


def _text(limit: int) -> Check:
    # Text a console can print: no lone surrogate (JSON's "\ud800" decodes to one, and printing
    # it to a UTF-8 stdout raised UnicodeEncodeError: `respmon watch` died).
    return lambda v: isinstance(v, str) and len(v) <= limit and not _SURROGATE.search(v)


def _name(v: Any) -> bool:
    # Beds, ids, conditions, states: a console prints them as they are, so no control characters
    # (a newline or an escape sequence in a bed name could draw a made-up line on the operator's
    # screen). What the publisher sends (bed.name's pattern, fixed words, hex ids, ISO times) passes.
    return isinstance(v, str) and len(v) <= MAX_NAME and v.isprintable()


_ALERT_ID = re.compile(r"[A-Za-z0-9_.:-]{1,64}")


def _alert_id(v: Any) -> bool:
    # The station acknowledges and judges an alarm at /api/alarms/BED/ID/...: an id must stay one
    # path segment there, or the alarm could never be acknowledged ("." and ".." are resolved
    # away by every URL parser, "/" splits the path). respmon sends 32 hex digits.
    return isinstance(v, str) and _ALERT_ID.fullmatch(v) is not None and v.strip(".") != ""


def _one_of(*values: str) -> Check:
    return lambda v: v in values


def _or_null(check: Check) -> Check:
    return lambda v: v is None or check(v)


def _epoch(v: Any) -> bool:
    return _number(v) and 0 <= v <= MAX_EPOCH_S


def _probs(v: Any) -> bool:
    return isinstance(v, dict) and len(v) <= 16 and all(
        _name(k) and _number(p) for k, p in v.items())


ENVELOPE: dict[str, Check] = {
    "schema": lambda v: v == SCHEMA_VERSION and not isinstance(v, bool),
    "type": _one_of("alert", "vitals", "heartbeat"),
    "publisher": _name,
    "seq": _count,
    "bed": _name,
    "time": _epoch,
}
EVIDENCE: dict[str, Check] = {
    "state": _name,
    "seconds_without_breathing": _or_null(_number),
    "quality": _or_null(_number),
    "probs": _or_null(_probs),
}
ALERT: dict[str, Check] = {
    "event": _one_of("onset", "update", "clear"),
    "id": _alert_id,
    "bed": _name,
    "condition": _name,
    "pattern": _or_null(_name),
    "kind": _one_of("physiological", "technical"),
    "priority": _one_of("high", "medium", "low"),
    "t": _or_null(_number),
    "onset_t": _or_null(_number),
    "onset": _name,
    "confidence": _or_null(_number),
    "rr_bpm": _or_null(_number),
    "evidence": lambda v: isinstance(v, dict),
    "model_version": _or_null(_text(MAX_TEXT)),
}
SIGNAL: dict[str, Check] = {
    "rate_hz": lambda v: _number(v) and 0 < v <= MAX_SIGNAL_RATE_HZ,
    "end_t": _or_null(_number),
    # a non-finite sample is sent as null (zmq_pub.encode)
    "mm": lambda v: isinstance(v, list) and len(v) <= MAX_SIGNAL_SAMPLES and all(x is None or _number(x) for x in v),
}
# A clear's reason is printed by the console too ("condition ended", "nobody in bed"). An onset's
# signal is checked field by field (check_alert).
ALERT_OPTIONAL: dict[str, Check] = {"reason": lambda v: _text(MAX_TEXT)(v) and v.isprintable(),
                                    "duration_s": _or_null(_number),
                                    "signal": lambda v: v is None or isinstance(v, dict)}
HEARTBEAT: dict[str, Check] = {
    "state": _name,
    "source": _text(MAX_TEXT),
    "frames": _or_null(_count),
    "bad_frames": _or_null(_count),
    "uptime_s": _or_null(_number),
    "t": _or_null(_number),
    "reason": _or_null(_text(MAX_TEXT)),
    "active_alerts": _count,
}
HEARTBEAT_OPTIONAL: dict[str, Check] = {"model_version": _or_null(_text(MAX_VERSION))}  # older daemons: none
VITALS: dict[str, Check] = {
    "t": _or_null(_number),
    "state": _name,
    "present": lambda v: v is None or isinstance(v, bool),
    "rr_bpm": _or_null(_number),
    "quality": _or_null(_number),
    "seconds_since_breath": _or_null(_number),
    "displacement_mm": _or_null(_number),
    "pattern": _or_null(_name),
    "confidence": _or_null(_number),
    "probs": _or_null(_probs),
}
BY_TYPE = {"alert": ALERT, "heartbeat": HEARTBEAT, "vitals": VITALS}


def _fields(msg: Any, checks: dict[str, Check], where: str, optional: dict[str, Check] | None = None) -> None:
    if not isinstance(msg, dict):
        raise MalformedMessage(f"{where}: not an object")
    for name, check in checks.items():
        if name not in msg:
            raise MalformedMessage(f"{where}{name}: missing")
        if not check(msg[name]):
            raise MalformedMessage(f"{where}{name}: unexpected value {short_repr(msg[name], 40)}")
    for name, check in (optional or {}).items():
        if name in msg and not check(msg[name]):
            raise MalformedMessage(f"{where}{name}: unexpected value {short_repr(msg[name], 40)}")


def check_alert(alert: Any, where: str = "") -> dict:
    _fields(alert, ALERT, where, ALERT_OPTIONAL)
    _fields(alert["evidence"], {}, f"{where}evidence.", EVIDENCE)
    if alert.get("signal") is not None:
        _fields(alert["signal"], SIGNAL, f"{where}signal.")
    return alert


def check_message(msg: Any) -> dict:
    """A PUB message (alert, vitals or heartbeat), checked; MalformedMessage otherwise."""
    _fields(msg, ENVELOPE, "")
    if msg["type"] == "alert":
        return check_alert(msg)
    _fields(msg, BY_TYPE[msg["type"]], "", HEARTBEAT_OPTIONAL if msg["type"] == "heartbeat" else None)
    return msg


def check_snapshot(msg: Any) -> dict:
    """A snapshot reply, checked; MalformedMessage otherwise."""
    envelope = {k: v for k, v in ENVELOPE.items() if k not in ("type", "seq")}
    _fields(msg, {**envelope, "type": _one_of("snapshot"), "alerts": lambda v: isinstance(v, list) and len(v) <= 64,
                  "seq": lambda v: isinstance(v, dict) and len(v) <= 8 and all(_count(n) for n in v.values())}, "")
    for i, alert in enumerate(msg["alerts"]):
        check_alert(alert, f"alerts[{i}].")
    if msg.get("vitals") is not None and not isinstance(msg["vitals"], dict):
        # Only its shape: the alerts are what a snapshot is for, and odd vitals must not hide them.
        raise MalformedMessage(f"vitals: unexpected value {short_repr(msg['vitals'], 40)}")
    return msg


def decode(frames: list[bytes]) -> tuple[str, dict]:
    """[topic, JSON] frames as (topic, message), the message checked; MalformedMessage otherwise."""
    if len(frames) != 2:
        raise MalformedMessage(f"{len(frames)} frames, not [topic, JSON]")
    if sum(len(f) for f in frames) > MAX_MESSAGE_BYTES:
        raise MalformedMessage(f"{sum(len(f) for f in frames)} bytes: too large")
    try:
        topic = frames[0].decode("utf-8")
        message = json.loads(frames[1])
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise MalformedMessage(f"not UTF-8 JSON ({type(exc).__name__})") from None
    return topic, check_message(message)


def decode_snapshot(body: bytes) -> dict:
    if len(body) > MAX_MESSAGE_BYTES:
        raise MalformedMessage(f"{len(body)} bytes: too large")
    try:
        message = json.loads(body)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise MalformedMessage(f"not UTF-8 JSON ({type(exc).__name__})") from None
    return check_snapshot(message)
