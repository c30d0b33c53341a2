"""Depth frames from a librealsense recording: rosbag2 ``.db3`` or legacy ROS1 ``.bag``.

A ``.db3`` is read by respmon itself (respmon.sources.rosbag2: SQLite and CDR, no librealsense, so
the core install replays one); a ``.bag``, or a ``.db3`` stored in a way that reader does not
decode, through librealsense's playback (the camera extra) in non-real-time mode. Either way every
stored frame is delivered, as fast as it decodes, so the result does not depend on the machine's speed.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from respmon.errors import UsageError
from respmon.optional import Missing, import_realsense
from respmon.sources import rosbag2


def _rs():
    """pyrealsense2 (the camera extra), imported on first use: a .db3 never needs it."""
    return import_realsense()

WAIT_TIMEOUT_MS = 100
STALL_TIMEOUT_S = 10.0  # no frame and playback not stopped for this long: give up
# Playback that stops this much short of the recorded duration (plus 3 frame periods) hit corrupt
# data: librealsense then ends quietly instead of reporting an error.
EARLY_END_TOLERANCE_S = 1.0


class RecordingError(UsageError, ValueError):
    """A recording that cannot be read; the message is one line."""


@dataclass
class DepthFrame:
    frame_number: int
    timestamp_ms: float
    depth_raw: np.ndarray  # uint16 (H, W) in the sensor's depth units, 0 = no depth
    mm_per_unit: float

    @property
    def depth_mm(self) -> np.ndarray:
        """float32 (H, W) millimetres, 0 = no depth; exact for whole-mm depth units."""
        return self.depth_raw.astype(np.float32) * np.float32(self.mm_per_unit)


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split())


def _check_file(path: Path) -> None:
    if not path.exists():
        raise RecordingError(f"recording not found: {path}")
    if not path.is_file():
        raise RecordingError(f"recording is not a file: {path}")
    if path.stat().st_size == 0:
        raise RecordingError(f"recording is empty: {path}")
    if path.suffix not in (".db3", ".bag"):
        raise RecordingError(f"recording must be a .db3 or .bag file: {path}")


def _mm_per_unit(depth_scale_m: float) -> float:
    # The depth scale is stored as float32 (0.001 reads back as 0.0010000000475): rounding to
    # 1e-6 mm keeps whole-millimetre depths exact after conversion.
    return round(depth_scale_m * 1000.0, 6)


class _Playback:
    """A pipeline playing one recording's depth stream; always stopped by close()."""

    def __init__(self, path: Path):
        _check_file(path)
        self.path = path
        rs = self.rs = _rs()
        self.pipeline = rs.pipeline()
        self.started = False
        config = rs.config()
        try:
            config.enable_device_from_file(str(path), repeat_playback=False)
            config.enable_stream(rs.stream.depth)
            profile = config.resolve(self.pipeline)
        except RuntimeError as err:
            raise self._open_error(err) from None
        self.config = config
        try:
            self.device = profile.get_device().as_playback()
            self.depth_profile = profile.get_stream(rs.stream.depth).as_video_stream_profile()
            self.depth_scale_m = float(self.device.first_depth_sensor().get_depth_scale())
        except RuntimeError as err:
            raise RecordingError(f"recording has no usable depth sensor: {path}: {_one_line(err)}") from None
        if not self.depth_scale_m > 0:
            raise RecordingError(f"recording has no depth scale (depth units 0): {path}")
        try:
            self.duration_s: float | None = self.device.get_duration().total_seconds()
        except RuntimeError:
            self.duration_s = None

    def _open_error(self, err: RuntimeError) -> RecordingError:
        message = _one_line(err)
        if message.startswith("Couldn't resolve"):  # the file opened, but no stream matches depth
            return RecordingError(f"recording has no depth stream: {self.path}")
        if "no recognizable" in message:  # a rosbag2 database whose topics hold no camera stream
            return RecordingError(f"recording has no camera stream (no image topics): {self.path}")
        if any(s in message for s in ("SQLite error", "malformed", "not a database", "Failed to setup storage")):
            return RecordingError(f"recording is truncated or corrupt (not a valid rosbag2 database): {self.path}")
        if "ros reader" in message or "Error reading" in message:
            return RecordingError(f"recording is truncated or corrupt (not a valid ROS bag): {self.path}")
        return RecordingError(f"cannot open recording {self.path}: {message}")

    def start(self) -> None:
        # Must precede start(): set later, the first real-time burst already overflows the queue.
        self.device.set_real_time(False)
        self.pipeline.start(self.config)
        self.started = True

    def close(self) -> None:
        if self.started:
            self.started = False
            try:
                self.pipeline.stop()
            except RuntimeError:
                pass


def read_depth_recording(path: Path) -> Iterator[DepthFrame]:
    """Frames of the recording's depth stream in order (see DepthFrame for units). The file is
    checked here, so a bad recording raises RecordingError at the call, not at the first frame."""
    return open_depth_recording(path)[1]


class _Db3:
    """A .db3 read by respmon.sources.rosbag2; its errors become RecordingError with the file's name."""

    def __init__(self, path: Path):
        self.path = path
        try:
            self.reader = rosbag2.Rosbag2Reader(path)
        except rosbag2.Unsupported:
            raise
        except rosbag2.Rosbag2Error as err:
            raise self._error(err) from None
        except Exception as err:  # noqa: BLE001 - whatever a hostile file provokes is one line
            raise RecordingError(f"recording cannot be read ({type(err).__name__}: {_one_line(err)[:200]}): "
                                 f"{path}") from None
        info = self.reader.info
        if not (info.depth_scale_m > 0 and _mm_per_unit(info.depth_scale_m) > 0):
            self.reader.close()
            raise RecordingError(f"recording has no depth scale (depth units 0): {path}")

    def _error(self, err: Exception) -> RecordingError:
        message = _one_line(err)
        if message.startswith("not a valid rosbag2"):
            return RecordingError(f"recording is truncated or corrupt ({message}): {self.path}")
        if message.startswith("no camera stream") or message.startswith("no depth stream"):
            return RecordingError(f"recording has {message}: {self.path}")
        return RecordingError(f"recording is corrupt ({message}): {self.path}")

    def info(self) -> dict:
        info = self.reader.info
        return {"width": info.width, "height": info.height, "fps": info.fps, "depth_scale_m": info.depth_scale_m,
                "duration_s": info.duration_s}

    def frames(self) -> Iterator[DepthFrame]:
        mm_per_unit = _mm_per_unit(self.reader.info.depth_scale_m)
        count = 0
        try:
            for frame in self.reader.frames():
                count += 1
                yield DepthFrame(frame.frame_number, frame.timestamp_ms, frame.depth_raw, mm_per_unit)
        except sqlite3.Error as err:
            raise RecordingError(f"recording is truncated or corrupt (after {count} frames: {_one_line(err)}): "
                                 f"{self.path}") from None
        except rosbag2.Rosbag2Error as err:
            raise RecordingError(f"recording is corrupt (frame {count}: {_one_line(err)}): {self.path}") from None
        except Exception as err:  # noqa: BLE001 - whatever a hostile file provokes is one line
            raise RecordingError(f"recording cannot be read (frame {count}: {type(err).__name__}: "
                                 f"{_one_line(err)[:200]}): {self.path}") from None
        finally:
            self.reader.close()
        if count == 0:
            raise RecordingError(f"recording has no depth frames: {self.path}")


def _open(path: Path) -> _Db3 | _Playback:
    _check_file(path)
    if path.suffix == ".db3":
        try:
            return _Db3(path)
        except rosbag2.Unsupported as err:  # librealsense's playback may decode it
            if isinstance(_rs(), Missing):
                raise RecordingError(f"recording stores its depth in a way respmon does not read ({_one_line(err)}); "
                                     f"librealsense does, with respmon's camera extra (pip install "
                                     f"'respmon[camera]'): {path}") from None
    return _Playback(path)


def open_depth_recording(path: Path) -> tuple[dict, Iterator[DepthFrame]]:
    """recording_info and read_depth_recording from one opening of the file."""
    source = _open(Path(path))
    if isinstance(source, _Db3):
        return source.info(), source.frames()
    return _info(source), _frames(source)


def recording_info(path: Path) -> dict:
    """width, height, fps, depth_scale_m and duration_s (None if the recording does not say)."""
    source = _open(Path(path))
    if isinstance(source, _Db3):
        info = source.info()
        source.reader.close()
        return info
    return _info(source)


def _frames(playback: _Playback) -> Iterator[DepthFrame]:
    try:
        playback.start()
        mm_per_unit = _mm_per_unit(playback.depth_scale_m)
        idle_s = 0.0
        stopped_seen = False
        first_ms = last_ms = None
        while True:
            ok, frames = playback.pipeline.try_wait_for_frames(WAIT_TIMEOUT_MS)
            if ok:
                idle_s = 0.0
                stopped_seen = False
                depth = frames.get_depth_frame()
                if not depth:
                    continue
                data = np.asanyarray(depth.get_data())
                last_ms = float(depth.get_timestamp())
                first_ms = last_ms if first_ms is None else first_ms
                yield DepthFrame(
                    frame_number=int(depth.get_frame_number()),
                    timestamp_ms=last_ms,
                    # A copy: holding librealsense's buffer would starve its frame pool.
                    depth_raw=data.copy(),
                    mm_per_unit=mm_per_unit,
                )
                continue
            if playback.device.current_status() == playback.rs.playback_status.stopped:
                if stopped_seen:  # one more wait after the stop drains a frame still on its way
                    _check_complete(playback, first_ms, last_ms)
                    return
                stopped_seen = True
                continue
            idle_s += WAIT_TIMEOUT_MS / 1000.0
            if idle_s > STALL_TIMEOUT_S:
                raise RecordingError(f"recording playback stalled (truncated or corrupt?): {playback.path}")
    except RuntimeError as err:
        raise RecordingError(f"cannot read recording {playback.path}: {_one_line(err)}") from None
    finally:
        playback.close()


def _check_complete(playback: _Playback, first_ms: float | None, last_ms: float | None) -> None:
    if first_ms is None:
        raise RecordingError(f"recording has no depth frames: {playback.path}")
    if playback.duration_s is None:
        return
    played_s = (last_ms - first_ms) / 1000.0
    tolerance_s = EARLY_END_TOLERANCE_S + 3.0 / playback.depth_profile.fps()
    if played_s < playback.duration_s - tolerance_s:
        raise RecordingError(
            f"recording is corrupt: playback ended at {played_s:.1f} s of {playback.duration_s:.1f} s: {playback.path}"
        )


def _info(playback: _Playback) -> dict:
    profile = playback.depth_profile
    return {
        "width": profile.width(),
        "height": profile.height(),
        "fps": profile.fps(),
        "depth_scale_m": playback.depth_scale_m,
        "duration_s": playback.duration_s,
    }
