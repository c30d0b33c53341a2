"""Write depth frames as a real librealsense recording (rosbag2 ``.db3``) through pyrealsense2's own
recorder, with a software device standing in for the camera.

The simulator writes its recordings with sim/db3_writer.py (no librealsense needed); this writer is
the reference that tests/test_db3_writer.py compares it with, and writes the corpus's recordings."""

from __future__ import annotations

import gc
import re
import sqlite3
import struct
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from respmon.optional import import_realsense
from respmon.sim.db3_writer import FIRST_FRAME_NUMBER, new_recording_path
from respmon.sim.scene import Intrinsics

rs = import_realsense()  # the camera extra; a stand-in that says so where it is missing

_METADATA_RE = re.compile(rb"Frame number=(\d+);.*?;timestamp=([0-9.eE+-]+);")
_CDR_LE = b"\x00\x01\x00\x00"  # CDR little-endian encapsulation header


def write_depth_recording(
    path: Path, frames: Iterable[np.ndarray], intrinsics: Intrinsics, fps: int, depth_units_m: float = 0.001
) -> int:
    """Record uint16 depth frames (H, W) as a ``.db3`` that plays back like a camera's; returns the
    number of frames written. Frame ``i`` (from FIRST_FRAME_NUMBER) gets frame number ``i`` and timestamp ``i * 1000 / fps`` ms."""
    path = new_recording_path(path, fps)
    n_written = _record(path, frames, intrinsics, fps, depth_units_m)
    _restamp_messages(path, lead_in_ns=round(1e9 / fps))
    return n_written


def _depth_profile(sensor: rs.software_sensor, k: Intrinsics, fps: int) -> rs.video_stream_profile:
    intr = rs.intrinsics()
    intr.width, intr.height = k.width, k.height
    intr.fx, intr.fy, intr.ppx, intr.ppy = k.fx, k.fy, k.ppx, k.ppy
    intr.model = rs.distortion.brown_conrady
    intr.coeffs = [0.0] * 5
    stream = rs.video_stream()
    stream.type = rs.stream.depth
    stream.index = 0
    stream.uid = 0
    stream.width, stream.height = k.width, k.height
    stream.fps = fps
    stream.bpp = 2
    stream.fmt = rs.format.z16
    stream.intrinsics = intr
    return sensor.add_video_stream(stream, True).as_video_stream_profile()


def _record(path: Path, frames: Iterable[np.ndarray], k: Intrinsics, fps: int, depth_units_m: float) -> int:
    device = rs.software_device()
    sensor = device.add_sensor("Depth")
    profile = _depth_profile(sensor, k, fps)
    # Without this the recording's depth units (and so the depth scale on playback) are 0.
    sensor.add_read_only_option(rs.option.depth_units, depth_units_m)
    recorder = rs.recorder(str(path), device)
    sensor.open(profile)
    sensor.start(lambda frame: None)
    n_written = 0
    try:
        for frame_number, depth in enumerate(frames, start=FIRST_FRAME_NUMBER):
            depth = np.ascontiguousarray(depth)
            if depth.dtype != np.uint16 or depth.shape != (k.height, k.width):
                raise ValueError(
                    f"frame {frame_number}: expected uint16 {(k.height, k.width)}, got {depth.dtype} {depth.shape}"
                )
            frame = rs.software_video_frame()
            frame.pixels = depth
            frame.stride = 2 * k.width
            frame.bpp = 2
            frame.timestamp = frame_number * 1000.0 / fps
            frame.domain = rs.timestamp_domain.hardware_clock
            frame.frame_number = frame_number
            frame.profile = profile
            frame.depth_units = depth_units_m
            sensor.on_video_frame(frame)
            n_written += 1
    finally:
        sensor.stop()
        sensor.close()
        # The recorder writes the file's end when the last reference to it goes.
        del recorder, profile, sensor, device
        gc.collect()
    return n_written


def _restamp_messages(path: Path, lead_in_ns: int) -> None:
    """The recorder stores each message at the wall-clock time it arrived, so a file generated faster
    than real time plays back as a burst that drops frames. Re-time every frame's messages to the
    frame's own timestamp (relative to the first frame) plus ``lead_in_ns``, in the sqlite table and
    in the CDR header stamp of the messages that carry one.

    The lead-in matters: a first frame stored at time 0, together with the device description, was
    lost by a real-time pipeline in 7 of 8 runs; one frame period later, in none."""
    conn = sqlite3.connect(path)
    try:
        topics = dict(conn.execute("SELECT id, name FROM topics"))
        frame_times_ns: dict[int, int] = {}  # recorded time -> new time, keyed by the metadata's time
        first_ts_ms = None
        for stored_ns, data in conn.execute(
            "SELECT timestamp, data FROM messages WHERE topic_id IN (%s) ORDER BY id"
            % ",".join(str(i) for i, name in topics.items() if name.endswith("/image/metadata"))
        ):
            match = _METADATA_RE.search(bytes(data))
            if match is None:
                continue
            ts_ms = float(match.group(2))
            if first_ts_ms is None:
                first_ts_ms = ts_ms
            frame_times_ns[stored_ns] = round((ts_ms - first_ts_ms) * 1e6) + lead_in_ns
        image_topics = [i for i, name in topics.items() if "/image/" in name]
        updates = []
        for msg_id, stored_ns, data in conn.execute(
            "SELECT id, timestamp, data FROM messages WHERE topic_id IN (%s)" % ",".join(map(str, image_topics))
        ):
            new_ns = frame_times_ns.get(stored_ns)
            if new_ns is None:
                continue
            updates.append((new_ns, _restamp_header(bytes(data), stored_ns, new_ns), msg_id))
        conn.executemany("UPDATE messages SET timestamp = ?, data = ? WHERE id = ?", updates)
        conn.commit()
    finally:
        conn.close()


def _restamp_header(data: bytes, old_ns: int, new_ns: int) -> bytes:
    """Rewrite a std_msgs/Header stamp (int32 sec, uint32 nanosec right after the CDR header), but
    only where it holds exactly the old time, so messages of any other layout stay untouched."""
    if len(data) < 12 or data[:4] != _CDR_LE:
        return data
    sec, nsec = struct.unpack_from("<iI", data, 4)
    if sec * 1_000_000_000 + nsec != old_ns:
        return data
    return data[:4] + struct.pack("<iI", new_ns // 1_000_000_000, new_ns % 1_000_000_000) + data[12:]
