"""Write depth frames as a librealsense rosbag2 recording (``.db3``) without librealsense.

The file holds what librealsense's own recorder (2.58+, sim/rs_writer.py) writes for a depth
camera, topic for topic and message for message: the device and sensor descriptions, the depth
units option, and per frame the depth image as ``16UC1; compressedDepth png``, its metadata and
its camera info, each frame's messages stored at the frame's own time (as sim/rs_writer.py's
re-timing leaves them). What differs: the PNG's deflate (ISA-L's or zlib's, where librealsense has
its own: the same pixels in other bytes), the padding bytes between CDR fields (zeros here, whatever was in
librealsense's buffer there), and the metadata's "Actual Fps" (librealsense's own estimate from the
timestamps, from the second frame on), which respmon does not read and does not write. tests/test_db3_writer.py plays files written here through
librealsense's playback and compares every frame, number, timestamp and the stream description
with the frames written, and compares every message but the PNG bytes with a file librealsense
wrote of the same frames.

Why: simulated recordings (`respmon simulate recording`, `respmon demo`) need no camera extra.
"""

from __future__ import annotations

import sqlite3
import struct
import zlib
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from respmon.sim.scene import Intrinsics

try:  # ISA-L's deflate, 4x zlib's at the same level (about 1 ms a 424x240 frame, as large as librealsense's)
    from isal import isal_zlib as _deflate
except ImportError:
    _deflate = zlib

FIRST_FRAME_NUMBER = 0
FILE_VERSION = 4
_PNG_LEVEL = 1  # a fast level: generating a recording should not wait on deflate
_STATIC_QOS = ("- history: 1\n  depth: 1\n  reliability: 1\n  durability: 1\n  deadline:\n    sec: 0\n"
               "    nsec: 0\n  lifespan:\n    sec: 0\n    nsec: 0\n  liveliness: 0\n  liveliness_lease_duration:\n"
               "    sec: 0\n    nsec: 0\n  avoid_ros_namespace_conventions: false")
_QUEUE_SIZE_DESCRIPTION = ("Max number of frames you can hold at a given time. Increasing this number will reduce "
                           "frame drops but increase latency, and vice versa")
_STREAM = "/device_0/sensor_0/Depth_0"
_SENSOR = "/device_0/sensor_0"
TOPICS = (  # (name, type, QoS) in librealsense's order; the ids are 1, 2, ...
    ("/file_version", "std_msgs/msg/UInt32", ""),
    (f"{_STREAM}/info", "std_msgs/msg/String", ""),
    (f"{_STREAM}/camera_info", "std_msgs/msg/String", ""),
    ("/device_0/info", "std_msgs/msg/String", ""),
    (f"{_SENSOR}/info", "std_msgs/msg/String", ""),
    (f"{_SENSOR}/option/Frames_Queue_Size/value", "std_msgs/msg/String", ""),
    (f"{_SENSOR}/option/Frames_Queue_Size/description", "std_msgs/msg/String", ""),
    (f"{_SENSOR}/option/Depth_Units/value", "std_msgs/msg/String", ""),
    (f"{_SENSOR}/option/Depth_Units/description", "std_msgs/msg/String", ""),
    (f"{_STREAM}/image/data/compressedDepth", "sensor_msgs/msg/CompressedImage", ""),
    (f"{_STREAM}/image/metadata", "std_msgs/msg/String", ""),
    (f"{_STREAM}/image/camera_info", "sensor_msgs/msg/CameraInfo", ""),
    (f"{_STREAM}/tf/ref_1", "std_msgs/msg/String", ""),
    ("/tf_static", "tf2_msgs/msg/TFMessage", _STATIC_QOS),
)
TOPIC_ID = {name: i for i, (name, _, _) in enumerate(TOPICS, start=1)}


class CdrWriter:
    """A little-endian CDR message; alignment counts from the end of the encapsulation header."""

    def __init__(self) -> None:
        self.buf = bytearray(b"\x00\x01\x00\x00")

    def _align(self, n: int) -> None:
        self.buf += bytes(-(len(self.buf) - 4) % n)

    def u32(self, value: int) -> "CdrWriter":
        self._align(4)
        self.buf += struct.pack("<I", value)
        return self

    def i32(self, value: int) -> "CdrWriter":
        self._align(4)
        self.buf += struct.pack("<i", value)
        return self

    def f64(self, *values: float) -> "CdrWriter":
        for value in values:
            self._align(8)
            self.buf += struct.pack("<d", value)
        return self

    def u8(self, value: int) -> "CdrWriter":
        self.buf.append(value)
        return self

    def string(self, text: str) -> "CdrWriter":
        data = text.encode("utf-8") + b"\x00"
        self.u32(len(data))
        self.buf += data
        return self

    def octets(self, data: bytes) -> "CdrWriter":
        self.u32(len(data))
        self.buf += data
        return self

    def header(self, stamp_ns: int, frame_id: str) -> "CdrWriter":
        return self.i32(stamp_ns // 1_000_000_000).u32(stamp_ns % 1_000_000_000).string(frame_id)

    def bytes(self) -> bytes:
        return bytes(self.buf)


def _text(text: str) -> bytes:
    return CdrWriter().string(text).bytes()


def _number(value: float) -> str:
    """A float as librealsense writes it in a stream's description (nine significant digits)."""
    return f"{value:.9g}"


def depth_png(depth: np.ndarray) -> bytes:
    """uint16 (H, W) as a 16-bit greyscale PNG, rows unfiltered (as librealsense writes them)."""
    height, width = depth.shape

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    rows = np.zeros((height, 1 + 2 * width), dtype=np.uint8)
    rows[:, 1:] = depth.astype(">u2").view(np.uint8).reshape(height, 2 * width)
    header = struct.pack(">IIBBBBB", width, height, 16, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", _deflate.compress(rows.tobytes(), _PNG_LEVEL))
            + chunk(b"IEND", b""))


def _as_recorded(k: Intrinsics) -> Intrinsics:
    """librealsense keeps intrinsics as float32: what its recording says of them."""
    def f32(value: float) -> float:
        return float(np.float32(value))

    return Intrinsics(k.width, k.height, f32(k.fx), f32(k.fy), f32(k.ppx), f32(k.ppy))


def _camera_info(stamp_ns: int, k: Intrinsics) -> bytes:
    """sensor_msgs/msg/CameraInfo for a pinhole camera without distortion."""
    cdr = CdrWriter().header(stamp_ns, "Depth").u32(k.height).u32(k.width).string("plumb_bob")
    cdr.u32(5).f64(0.0, 0.0, 0.0, 0.0, 0.0)
    cdr.f64(k.fx, 0.0, k.ppx, 0.0, k.fy, k.ppy, 0.0, 0.0, 1.0)  # K
    cdr.f64(1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)  # R
    cdr.f64(k.fx, 0.0, k.ppx, 0.0, 0.0, k.fy, k.ppy, 0.0, 0.0, 0.0, 1.0, 0.0)  # P
    cdr.u32(0).u32(0)  # binning
    cdr.u32(0).u32(0).u32(0).u32(0).u8(0)  # roi, do_rectify
    return cdr.bytes()


def _tf_static() -> bytes:
    """tf2_msgs/msg/TFMessage: the depth stream's frame at the reference frame, no motion."""
    cdr = CdrWriter().u32(1).header(0, "ref_1").string("Depth")
    cdr.f64(-0.0, -0.0, -0.0)  # translation
    cdr.f64(0.0, 0.0, 0.0, 1.0)  # rotation
    return cdr.bytes()


def _static_messages(k: Intrinsics, fps: int, depth_units_m: float) -> list[tuple[str, bytes]]:
    coefficients = ",".join(_number(0.0) for _ in range(5))
    return [
        ("/file_version", CdrWriter().u32(FILE_VERSION).bytes()),
        (f"{_STREAM}/info", _text(f"encoding=Z16;fps={fps}")),
        (f"{_STREAM}/camera_info", _text(
            f"width={k.width};height={k.height};fx={_number(k.fx)};ppx={_number(k.ppx)};fy={_number(k.fy)};"
            f"ppy={_number(k.ppy)};model=Brown Conrady;coeffs={coefficients}")),
        ("/device_0/info", _text("")),
        (f"{_SENSOR}/info", _text("Name=Depth")),
        (f"{_SENSOR}/option/Frames_Queue_Size/value", _text(f"{0.0:f}")),
        (f"{_SENSOR}/option/Frames_Queue_Size/description", _text(_QUEUE_SIZE_DESCRIPTION)),
        (f"{_SENSOR}/option/Depth_Units/value", _text(f"{depth_units_m:f}")),
        (f"{_SENSOR}/option/Depth_Units/description", _text("bypass sensor read only option")),
    ]


def _reference_messages() -> list[tuple[str, bytes]]:
    identity = ",".join(f"{v:f}" for v in (1, 0, 0, 0, 1, 0, 0, 0, 1))
    return [
        (f"{_STREAM}/tf/ref_1", _text(f"rotation={identity};translation={0.0:f},{0.0:f},{0.0:f}")),
        ("/tf_static", _tf_static()),
    ]


def _frame_messages(number: int, depth: np.ndarray, k: Intrinsics, fps: int, depth_units_m: float,
                    lead_in_ns: int) -> tuple[int, list[tuple[str, bytes]]]:
    timestamp_ms = number * 1000.0 / fps
    stamp_ns = round((number - FIRST_FRAME_NUMBER) * 1e9 / fps) + lead_in_ns
    image = CdrWriter().header(stamp_ns, "Depth").string("16UC1; compressedDepth png")
    image.octets(bytes(12) + depth_png(depth))  # compressed_depth_image_transport's header, then the PNG
    metadata = (f"Frame number={number};timestamp_domain=Hardware Clock;system_time={0.0:f};"
                f"timestamp={timestamp_ms:f};depth_units={depth_units_m:f};")
    return stamp_ns, [
        (f"{_STREAM}/image/data/compressedDepth", image.bytes()),
        (f"{_STREAM}/image/metadata", _text(metadata)),
        (f"{_STREAM}/image/camera_info", _camera_info(stamp_ns, k)),
    ]


def new_recording_path(path: Path, fps: int) -> Path:
    """The path checked (a .db3, a positive frame rate), with any file there removed (a recorder
    would append to it, or fail on it)."""
    path = Path(path)
    if path.suffix != ".db3":
        raise ValueError(f"recording path must end in .db3 (librealsense records only rosbag2): {path}")
    if fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    if path.exists():
        path.unlink()
    return path


def write_depth_recording(
    path: Path, frames: Iterable[np.ndarray], intrinsics: Intrinsics, fps: int, depth_units_m: float = 0.001
) -> int:
    """Record uint16 depth frames (H, W) as a ``.db3`` that plays back like a camera's; returns the
    number of frames written. Frame ``i`` (from FIRST_FRAME_NUMBER) gets frame number ``i`` and
    timestamp ``i * 1000 / fps`` ms, stored one frame period after the description (a first frame
    stored at time 0 was lost by a real-time pipeline in 7 of 8 runs; see sim/rs_writer.py)."""
    path = new_recording_path(path, fps)
    k = _as_recorded(intrinsics)
    lead_in_ns = round(1e9 / fps)
    db = sqlite3.connect(path)
    n_written = 0
    try:
        db.execute("CREATE TABLE topics(id INTEGER PRIMARY KEY,name TEXT NOT NULL,type TEXT NOT NULL,"
                   "serialization_format TEXT NOT NULL,offered_qos_profiles TEXT NOT NULL)")
        db.execute("CREATE TABLE messages(id INTEGER PRIMARY KEY,topic_id INTEGER NOT NULL,"
                   "timestamp INTEGER NOT NULL, data BLOB NOT NULL)")
        db.execute("CREATE INDEX timestamp_idx ON messages (timestamp ASC)")
        db.executemany("INSERT INTO topics VALUES (?, ?, ?, 'cdr', ?)",
                       [(i, name, kind, qos) for i, (name, kind, qos) in enumerate(TOPICS, start=1)])

        def insert(stamp_ns: int, messages: list[tuple[str, bytes]]) -> None:
            db.executemany("INSERT INTO messages (topic_id, timestamp, data) VALUES (?, ?, ?)",
                           [(TOPIC_ID[name], stamp_ns, data) for name, data in messages])

        insert(0, _static_messages(k, fps, depth_units_m))
        for number, depth in enumerate(frames, start=FIRST_FRAME_NUMBER):
            depth = np.ascontiguousarray(depth)
            if depth.dtype != np.uint16 or depth.shape != (k.height, k.width):
                raise ValueError(f"frame {number}: expected uint16 {(k.height, k.width)}, got {depth.dtype} {depth.shape}")
            insert(*_frame_messages(number, depth, k, fps, depth_units_m, lead_in_ns))
            if number == FIRST_FRAME_NUMBER:
                insert(0, _reference_messages())  # librealsense writes them after the first frame
            n_written += 1
        db.commit()
    finally:
        db.close()
    return n_written
