"""Depth frames from a live Intel RealSense camera (the same DepthFrame as the recording source).

The camera is chosen when read_camera() is called (CameraError then); streaming starts at the first
next() and the pipeline is stopped whenever iteration ends, by error, by close() or by exhaustion.
Once streaming, losing the camera (no frame for stall_timeout_s, or librealsense reporting an error,
e.g. the cable pulled) raises CameraLost: the caller raises a technical alarm and reconnects.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from respmon.errors import UsageError
from respmon.optional import import_realsense
from respmon.sources.recording import DepthFrame

rs = import_realsense()  # the camera extra; a stand-in that says so where it is missing

log = logging.getLogger(__name__)

WAIT_TIMEOUT_MS = 100
STALL_TIMEOUT_S = 5.0
NO_CAMERA_MESSAGE = "no RealSense camera connected (check the USB cable and the udev rule: see systemd/README.md)"


class CameraError(UsageError):
    """The camera cannot be used as configured; the message is one line."""


class CameraLost(CameraError):
    """A streaming camera stopped delivering frames or failed: raise an alarm and reconnect."""


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split())


def _info(device: Any, key: rs.camera_info) -> str | None:
    return device.get_info(key) if device.supports(key) else None


def list_cameras(context: Any = None) -> list[dict]:
    """The connected cameras: serial, name, firmware and usb_type (None where the device does not say)."""
    context = rs.context() if context is None else context
    try:
        return [
            {
                "serial": _info(device, rs.camera_info.serial_number),
                "name": _info(device, rs.camera_info.name),
                "firmware": _info(device, rs.camera_info.firmware_version),
                "usb_type": _info(device, rs.camera_info.usb_type_descriptor),
            }
            for device in context.query_devices()
        ]
    except RuntimeError as err:  # e.g. a camera unplugged or resetting while it is queried
        raise CameraError(f"cannot list RealSense cameras: {_one_line(err)}") from None


def select_camera(serial: str, cameras: list[dict]) -> str:
    """The serial to open: `serial` if connected, or the only connected camera when serial is ""."""
    serial = serial.strip()
    connected = [c["serial"] for c in cameras]
    if not connected:
        if serial:
            raise CameraError(f"camera {serial} is not connected: {NO_CAMERA_MESSAGE}")
        raise CameraError(NO_CAMERA_MESSAGE)
    listed = ", ".join(str(c) for c in connected)
    if serial:
        if serial not in connected:
            raise CameraError(f"camera {serial} is not connected (connected: {listed})")
        return serial
    if len(connected) > 1:
        raise CameraError(f"{len(connected)} RealSense cameras connected ({listed}): set camera.serial to one of them")
    return connected[0]


def _mode(camera_config: Any) -> str:
    return f"{camera_config.width}x{camera_config.height} @ {camera_config.fps} fps"


def _mm_per_unit(depth_scale_m: float) -> float:
    # The depth scale is a float32 (0.001 reads back as 0.0010000000475): rounding to 1e-6 mm keeps
    # whole-millimetre depths exact, as in the recording source.
    return round(depth_scale_m * 1000.0, 6)


def camera_info(serial: str = "", *, context: Any = None) -> dict:
    """Like recording_info for a connected camera: serial, the depth sensor's default mode (width,
    height, fps), depth_scale_m, and duration_s None (a live stream has no duration)."""
    context = rs.context() if context is None else context
    serial = select_camera(serial, list_cameras(context))
    try:
        device = next(d for d in context.query_devices() if _info(d, rs.camera_info.serial_number) == serial)
        sensor = device.first_depth_sensor()
        depth_scale_m = float(sensor.get_depth_scale())
        defaults = [
            p.as_video_stream_profile()
            for p in sensor.get_stream_profiles()
            if p.stream_type() == rs.stream.depth and p.format() == rs.format.z16 and p.is_default()
        ]
    except StopIteration:
        raise CameraError(f"camera {serial} was disconnected") from None
    except RuntimeError as err:
        raise CameraError(f"cannot read camera {serial}: {_one_line(err)}") from None
    default = defaults[0] if defaults else None
    return {
        "serial": serial,
        "width": default.width() if default else None,
        "height": default.height() if default else None,
        "fps": default.fps() if default else None,
        "depth_scale_m": depth_scale_m,
        "duration_s": None,
    }


class CameraStream:
    """An iterator of DepthFrames from one camera. bad_frames counts frames skipped because their
    data had the wrong shape or type; close() (or leaving a `with` block) stops the camera."""

    def __init__(
        self,
        camera_config: Any,
        *,
        context: Any = None,
        pipeline_factory: Callable[[], Any] = rs.pipeline,
        stall_timeout_s: float = STALL_TIMEOUT_S,
        wait_timeout_ms: int = WAIT_TIMEOUT_MS,
    ):
        context = rs.context() if context is None else context
        cameras = list_cameras(context)
        self.serial = select_camera(camera_config.serial, cameras)
        self.usb_type = next((c["usb_type"] for c in cameras if c["serial"] == self.serial), None)
        self.width = camera_config.width
        self.height = camera_config.height
        self.fps = camera_config.fps
        self.mode = _mode(camera_config)
        self.stall_timeout_s = stall_timeout_s
        self.wait_timeout_ms = wait_timeout_ms
        self.pipeline = pipeline_factory()
        self.bad_frames = 0
        self._frames = self._stream()

    def __iter__(self) -> CameraStream:
        return self

    def __next__(self) -> DepthFrame:
        return next(self._frames)

    def close(self) -> None:
        self._frames.close()  # runs the generator's finally: stops the pipeline if it started

    def __enter__(self) -> CameraStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _start(self) -> Any:
        config = rs.config()
        config.enable_device(self.serial)
        config.enable_stream(rs.stream.depth, self.width, self.height, rs.format.z16, self.fps)
        try:
            return self.pipeline.start(config)
        except RuntimeError as err:
            message = _one_line(err)
            if message.startswith("Couldn't resolve"):
                raise CameraError(f"camera {self.serial} does not support depth {self.mode}{self._usb2_hint()}") from None
            raise CameraError(f"cannot start camera {self.serial}: {message}") from None

    def _usb2_hint(self) -> str:
        """On a USB 2 link a D4xx offers only a few depth modes (848x480 is not among them)."""
        if not (self.usb_type or "").startswith("2"):
            return ""
        return (f" over USB {self.usb_type}: connect it to a USB 3 port, or set camera width, height"
                f" and fps to a USB 2 mode such as 640x480 at 30 fps")

    def _stream(self) -> Iterator[DepthFrame]:
        started = False
        try:
            profile = self._start()
            started = True
            try:
                depth_scale_m = float(profile.get_device().first_depth_sensor().get_depth_scale())
            except RuntimeError as err:
                raise CameraLost(f"camera {self.serial} failed: {_one_line(err)}") from None
            if not depth_scale_m > 0:
                raise CameraError(f"camera {self.serial} reports no depth scale (depth units 0)")
            mm_per_unit = _mm_per_unit(depth_scale_m)
            last_frame_s = time.monotonic()
            bad_before = self.bad_frames
            while True:
                try:
                    ok, frames = self.pipeline.try_wait_for_frames(self.wait_timeout_ms)
                    frame = self._depth_frame(frames, mm_per_unit) if ok else None
                except RuntimeError as err:
                    raise CameraLost(f"camera {self.serial} failed: {_one_line(err)}") from None
                if frame is not None:
                    yield frame
                    # Timed from when the caller asks again: its own processing time is no stall.
                    last_frame_s = time.monotonic()
                    bad_before = self.bad_frames
                elif time.monotonic() - last_frame_s >= self.stall_timeout_s:
                    skipped = self.bad_frames - bad_before
                    raise CameraLost(
                        f"camera {self.serial} stopped delivering frames for {self.stall_timeout_s:g} s"
                        + (f" ({skipped} bad frames skipped)" if skipped else "")
                    )
        finally:
            if started:
                try:
                    self.pipeline.stop()
                except RuntimeError:  # the device is already gone: nothing left to stop
                    pass

    def _depth_frame(self, frames: Any, mm_per_unit: float) -> DepthFrame | None:
        depth = frames.get_depth_frame()
        data = np.asanyarray(depth.get_data()) if depth else None
        if data is None or data.dtype != np.uint16 or data.shape != (self.height, self.width):
            self.bad_frames += 1
            what = "no depth" if data is None else f"{data.dtype} {data.shape}"
            # Logged once and then every 100th, so a camera sending garbage cannot flood the log.
            if self.bad_frames == 1 or self.bad_frames % 100 == 0:
                log.warning("camera %s: skipped bad frame (%s; %d so far)", self.serial, what, self.bad_frames)
            return None
        return DepthFrame(
            frame_number=int(depth.get_frame_number()),
            timestamp_ms=float(depth.get_timestamp()),
            # A copy: holding librealsense's buffer would starve its frame pool.
            depth_raw=data.copy(),
            mm_per_unit=mm_per_unit,
        )


def read_camera(
    camera_config: Any,
    *,
    context: Any = None,
    pipeline_factory: Callable[[], Any] = rs.pipeline,
    stall_timeout_s: float = STALL_TIMEOUT_S,
    wait_timeout_ms: int = WAIT_TIMEOUT_MS,
) -> CameraStream:
    """Depth frames from the camera of `camera_config` (the config's camera section: serial, width,
    height, fps). CameraError at the call if the camera is missing or ambiguous, at the first frame
    if it refuses the mode; CameraLost while streaming if it stops or fails."""
    return CameraStream(
        camera_config,
        context=context,
        pipeline_factory=pipeline_factory,
        stall_timeout_s=stall_timeout_s,
        wait_timeout_ms=wait_timeout_ms,
    )
