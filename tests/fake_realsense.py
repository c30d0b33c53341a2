"""Fakes of the few pyrealsense2 objects respmon.sources.camera touches (no camera in CI), handed to
it through read_camera's context and pipeline_factory, so that camera.py's own code runs on them.

- FakeContext, FakeDevice, FakeSensor, FakeProfile, FakeFrames, FakeDepth: the objects as such.
- LiveCamera: a camera on a USB cable that a test can unplug and plug back in and whose clock it
  can break, streaming a person breathing (sim.scene.BedScene) through pipelines that behave as
  librealsense's do: try_wait_for_frames waits up to its timeout for the next frame.
"""

from __future__ import annotations

import math
import threading
import time
from types import SimpleNamespace

import pyrealsense2 as rs

DEPTH_SCALE_M = 0.0010000000474974513  # how a D4xx's 1 mm depth unit reads back (float32)


class FakeProfile:
    def __init__(self, width, height, fps, default=False, stream=rs.stream.depth, fmt=rs.format.z16):
        self._w, self._h, self._fps, self._default, self._stream, self._fmt = width, height, fps, default, stream, fmt

    def stream_type(self):
        return self._stream

    def format(self):
        return self._fmt

    def is_default(self):
        return self._default

    def as_video_stream_profile(self):
        return self

    def width(self):
        return self._w

    def height(self):
        return self._h

    def fps(self):
        return self._fps


class FakeSensor:
    def __init__(self, depth_scale_m=DEPTH_SCALE_M):
        self.depth_scale_m = depth_scale_m

    def get_depth_scale(self):
        return self.depth_scale_m

    def get_stream_profiles(self):
        return [
            FakeProfile(640, 480, 30, stream=rs.stream.infrared, fmt=rs.format.y8, default=True),
            FakeProfile(424, 240, 15),
            FakeProfile(848, 480, 30, default=True),
        ]


class FakeDevice:
    def __init__(
        self, serial, name="Intel RealSense D435", firmware="5.16.0.1", usb_type="3.2", depth_scale_m=DEPTH_SCALE_M
    ):
        self.info = {
            rs.camera_info.serial_number: serial,
            rs.camera_info.name: name,
            rs.camera_info.firmware_version: firmware,
        }
        if usb_type is not None:
            self.info[rs.camera_info.usb_type_descriptor] = usb_type
        self.sensor = FakeSensor(depth_scale_m)

    def supports(self, key):
        return key in self.info

    def get_info(self, key):
        if key not in self.info:
            raise RuntimeError("info not supported")
        return self.info[key]

    def first_depth_sensor(self):
        return self.sensor


class FakeContext:
    def __init__(self, *devices):
        self.devices = list(devices)

    def query_devices(self):
        return list(self.devices)


class FakeDepth:
    """A depth frame; its timestamp is 1000 ms + number / 15 s unless given."""

    def __init__(self, number, data, timestamp_ms=None):
        self.number, self.data = number, data
        self.timestamp_ms = 1000.0 + number * 1000.0 / 15 if timestamp_ms is None else timestamp_ms

    def __bool__(self):
        return self.data is not None

    def get_data(self):
        return self.data

    def get_frame_number(self):
        return self.number

    def get_timestamp(self):
        return self.timestamp_ms


class FakeFrames:
    def __init__(self, depth):
        self.depth = depth

    def get_depth_frame(self):
        return self.depth


class LiveCamera:
    """One D4xx on a cable, seen through pyrealsense2: `query_devices()` (this object is the
    context) lists it while it is plugged in, `pipeline()` is the pipeline factory.

    Frames come at fps * speed a second of wall time (speed > 1: source time runs ahead of the
    wall, so that a test sees minutes of monitoring in seconds); each shows a person breathing at
    rate_bpm, the breathing following the patient's time (frames delivered / fps) whatever the
    camera's clock says. Faults a test can inject, each noted in `marks` with the wall time
    (time.time(), as the daemon stamps its messages) at which it took effect:

    - unplug("error"): a streaming pipeline raises a RuntimeError, as librealsense's wait does
      for a device that is gone; unplug("silent"): it just stops delivering frames. Either way the
      camera is no longer listed, start() and stop() raise, and a pipeline started before the
      unplug never delivers again (replugging re-enumerates the device). replug() lists it again.
    - step_clock(s): the camera's clock jumps by s seconds (back when negative) at the next
      frame and runs on from there; freeze()/unfreeze(): the next frames repeat the last
      timestamp, then the clock runs on from it; garbage(values): timestamps cycle through values
      (inf, nan, ...) until garbage(None), the clock running on underneath.
    """

    def __init__(self, width=212, height=120, fps=15, speed=1.0, rate_bpm=14.0, amplitude_mm=4.0,
                 serial="123456789012", seed=3):
        from respmon.sim.scene import BedScene

        self.width, self.height, self.fps, self.speed = width, height, fps, speed
        self.rate_bpm, self.amplitude_mm = rate_bpm, amplitude_mm
        self.device = FakeDevice(serial)
        self.scene = BedScene(width, height, seed=seed)
        self.lock = threading.Lock()
        self.plugged = True
        self.unplug_how = "error"
        self.generation = 0  # unplugging ends the pipelines of the generation before
        self.delivered = 0  # frames delivered: the patient's time is delivered / fps
        self.clock_ms = 5.0e6  # the camera's clock (device time in ms, as librealsense gives it)
        self.frozen = False
        self.garbage_values: list[float] | None = None
        self.pending: list[str] = []  # faults that take effect at the next frame
        self.marks: list[tuple[str, float, int]] = []  # (what, wall time, frame count)
        self.starts = 0
        self.queries_unplugged = 0

    # --- what camera.py calls ---------------------------------------------------------------

    def query_devices(self):
        with self.lock:
            if self.plugged:
                return [self.device]
            self.queries_unplugged += 1
            return []

    def pipeline(self) -> LivePipeline:
        return LivePipeline(self)

    # --- faults ---------------------------------------------------------------------------------

    def _mark(self, what: str) -> float:
        at = time.time()
        self.marks.append((what, at, self.delivered))
        return at

    def unplug(self, how: str = "error") -> float:
        assert how in ("error", "silent")
        with self.lock:
            self.plugged, self.unplug_how = False, how
            self.generation += 1
            return self._mark(f"unplug {how}")

    def replug(self) -> float:
        with self.lock:
            self.plugged = True
            return self._mark("replug")

    def step_clock(self, seconds: float) -> None:
        with self.lock:
            self.clock_ms += 1000.0 * seconds
            self.pending.append(f"step {seconds:g}")

    def freeze(self) -> None:
        with self.lock:
            self.frozen = True
            self.pending.append("freeze")

    def unfreeze(self) -> None:
        with self.lock:
            self.frozen = False
            self.pending.append("unfreeze")

    def garbage(self, values: list[float] | None) -> None:
        with self.lock:
            self.garbage_values = values
            self.pending.append("garbage" if values else "garbage end")

    # --- frames ---------------------------------------------------------------------------------

    def next_depth(self) -> FakeDepth:
        with self.lock:
            for what in self.pending:
                self._mark(what)
            self.pending.clear()
            n = self.delivered
            self.delivered += 1
            if n and not self.frozen:
                self.clock_ms += 1000.0 / self.fps
            # Garbage hides the clock, which runs on underneath.
            stamp = self.garbage_values[n % len(self.garbage_values)] if self.garbage_values else self.clock_ms
            displacement = self.amplitude_mm * math.sin(2.0 * math.pi * self.rate_bpm / 60.0 * n / self.fps)
            data = self.scene.render(displacement, t_s=n / self.fps)
        return FakeDepth(n + 1, data, stamp)


class LivePipeline:
    """An rs.pipeline streaming a LiveCamera."""

    def __init__(self, camera: LiveCamera):
        self.camera = camera
        self.generation: int | None = None
        self.next_due = 0.0

    def start(self, config):
        camera = self.camera
        with camera.lock:
            if not camera.plugged:
                raise RuntimeError("No device connected")
            self.generation = camera.generation
            camera.starts += 1
        self.next_due = time.monotonic()
        return SimpleNamespace(get_device=lambda: camera.device)

    def _gone(self) -> bool:
        with self.camera.lock:
            return self.camera.generation != self.generation

    def stop(self):
        if self.generation is None:
            raise RuntimeError("stop() cannot be called before start()")
        self.generation = None
        with self.camera.lock:
            if not self.camera.plugged:
                raise RuntimeError("failed to set power state: device disconnected")

    def try_wait_for_frames(self, timeout_ms):
        assert self.generation is not None, "try_wait_for_frames before start()"
        deadline = time.monotonic() + timeout_ms / 1000.0
        interval = 1.0 / (self.camera.fps * self.camera.speed)
        while True:
            if self._gone():
                if self.camera.unplug_how == "error":
                    raise RuntimeError("Frame didn't arrive within 5000\n(device disconnected)")
                time.sleep(max(0.0, deadline - time.monotonic()))
                return False, None
            now = time.monotonic()
            if now >= self.next_due:
                # At most a second of frames is made up for when the reader falls behind.
                self.next_due = max(self.next_due + interval, now - 1.0 / self.camera.speed)
                return True, FakeFrames(self.camera.next_depth())
            if now >= deadline:
                return False, None
            time.sleep(min(self.next_due, deadline) - now)
