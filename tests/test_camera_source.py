"""The live camera source, driven by fake librealsense objects (no camera in CI) and, for the
no-camera case, by the real pyrealsense2."""

from __future__ import annotations

import itertools
import logging
import time
from types import SimpleNamespace

import numpy as np
import pyrealsense2 as rs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from respmon.config import default_config
from respmon.errors import UsageError
from respmon.sources.camera import (
    NO_CAMERA_MESSAGE,
    CameraError,
    CameraLost,
    camera_info,
    list_cameras,
    read_camera,
    select_camera,
)
from tests.fake_realsense import FakeContext, FakeDepth, FakeDevice, FakeFrames

W, H = 8, 6


# --- a scripted pipeline (the other fakes of librealsense objects: tests/fake_realsense.py) -------


def depth_data(number, shape=(H, W), dtype=np.uint16):
    return np.full(shape, 1000 + number, dtype=dtype)


class FakePipeline:
    """Plays a script: numpy arrays (or None for a frameset without depth) are frames, "stall" waits
    out every later call, an exception instance is raised. Records start and stop."""

    def __init__(self, script, device=None, start_error=None):
        self.script = iter(script)
        self.device = device or FakeDevice("111")
        self.start_error = start_error
        self.started_with = None
        self.running = False
        self.stops = 0
        self.number = 0

    def start(self, config):
        if self.start_error is not None:
            raise self.start_error
        self.started_with = config
        self.running = True
        return SimpleNamespace(get_device=lambda: self.device)

    def stop(self):
        if not self.running:
            raise RuntimeError("stop() cannot be called before start()")
        self.running = False
        self.stops += 1

    def try_wait_for_frames(self, timeout_ms):
        assert self.running
        step = next(self.script, "stall")
        if isinstance(step, str):  # "stall": from here on, no frame ever arrives
            self.script = iter(())
            time.sleep(timeout_ms / 1000)
            return False, None
        if isinstance(step, Exception):
            raise step
        self.number += 1
        return True, FakeFrames(FakeDepth(self.number, step))


def camera_config(serial="", width=W, height=H, fps=15):
    return SimpleNamespace(serial=serial, width=width, height=height, fps=fps)


def stream(pipeline, serial="", devices=None, stall_timeout_s=0.05, **mode):
    context = FakeContext(*(devices if devices is not None else [pipeline.device]))
    return read_camera(
        camera_config(serial, **mode),
        context=context,
        pipeline_factory=lambda: pipeline,
        stall_timeout_s=stall_timeout_s,
        wait_timeout_ms=5,
    )


def one_line(err: BaseException) -> str:
    message = str(err)
    assert message and "\n" not in message
    return message


# --- select_camera ------------------------------------------------------------------------------

serials = st.lists(st.text("0123456789", min_size=6, max_size=14), unique=True, max_size=5)


def cams(serial_list):
    return [{"serial": s, "name": "Intel RealSense D435", "firmware": "5.16.0.1", "usb_type": "3.2"} for s in serial_list]


def test_select_only_camera():
    assert select_camera("", cams(["123456789012"])) == "123456789012"


def test_select_no_camera():
    with pytest.raises(CameraError) as info:
        select_camera("", [])
    assert one_line(info.value) == NO_CAMERA_MESSAGE
    assert "udev" in NO_CAMERA_MESSAGE and "systemd/README" in NO_CAMERA_MESSAGE


def test_select_named_camera_none_connected():
    with pytest.raises(CameraError) as info:
        select_camera("123", [])
    assert "123" in one_line(info.value) and "no RealSense camera connected" in str(info.value)


def test_select_several_without_serial():
    with pytest.raises(CameraError) as info:
        select_camera("", cams(["111111", "222222"]))
    message = one_line(info.value)
    assert "111111" in message and "222222" in message and "camera.serial" in message


def test_select_unknown_serial():
    with pytest.raises(CameraError) as info:
        select_camera("999999", cams(["111111", "222222"]))
    message = one_line(info.value)
    assert "999999" in message and "111111" in message and "222222" in message


def test_camera_error_is_a_usage_error():
    assert issubclass(CameraLost, CameraError) and issubclass(CameraError, UsageError)
    assert CameraError("x").exit_code == 2


@given(connected=serials, data=st.data())
def test_select_camera_properties(connected, data):
    wanted = data.draw(st.sampled_from(["", *connected, "000"]), label="serial")
    padded = data.draw(st.sampled_from(["", " "]), label="padding")
    cameras = cams(connected)
    usable = wanted in connected or (wanted == "" and len(connected) == 1)
    if usable:
        assert select_camera(padded + wanted + padded, cameras) == (wanted or connected[0])
        return
    with pytest.raises(CameraError) as info:
        select_camera(padded + wanted + padded, cameras)
    message = one_line(info.value)
    if wanted:
        assert wanted in message
    for serial in connected:  # every error lists what is connected
        assert serial in message
    if not connected:
        assert "no RealSense camera connected" in message


# --- list_cameras / camera_info -----------------------------------------------------------------


def test_list_cameras_from_context():
    context = FakeContext(FakeDevice("111", usb_type=None), FakeDevice("222", name="Intel RealSense D415"))
    assert list_cameras(context) == [
        {"serial": "111", "name": "Intel RealSense D435", "firmware": "5.16.0.1", "usb_type": None},
        {"serial": "222", "name": "Intel RealSense D415", "firmware": "5.16.0.1", "usb_type": "3.2"},
    ]


class ResettingDevice(FakeDevice):
    def get_info(self, key):
        raise RuntimeError("failed to read info\n(device busy)")


def test_list_cameras_failing_device_is_camera_error():
    with pytest.raises(CameraError) as info:
        list_cameras(FakeContext(ResettingDevice("111")))
    assert one_line(info.value) == "cannot list RealSense cameras: failed to read info (device busy)"


def test_camera_info_default_depth_mode():
    context = FakeContext(FakeDevice("111"), FakeDevice("222", depth_scale_m=0.0001))
    info = camera_info("222", context=context)
    assert info == {
        "serial": "222", "width": 848, "height": 480, "fps": 30, "depth_scale_m": 0.0001, "duration_s": None
    }
    with pytest.raises(CameraError, match="set camera.serial"):
        camera_info("", context=context)


# --- read_camera --------------------------------------------------------------------------------


def test_frames_in_order_with_mm_per_unit():
    pipeline = FakePipeline([depth_data(1), depth_data(2), depth_data(3)])
    with stream(pipeline) as frames:
        got = [next(frames) for _ in range(3)]
    assert [f.frame_number for f in got] == [1, 2, 3]
    assert [f.timestamp_ms for f in got] == sorted(f.timestamp_ms for f in got)
    assert all(f.mm_per_unit == 1.0 for f in got)
    assert [int(f.depth_mm[0, 0]) for f in got] == [1001, 1002, 1003]
    assert all(f.depth_raw.dtype == np.uint16 and f.depth_raw.shape == (H, W) for f in got)
    assert pipeline.stops == 1 and not pipeline.running


def test_frame_data_is_copied():
    data = depth_data(1)
    pipeline = FakePipeline([data])
    frames = stream(pipeline)
    frame = next(frames)
    data[:] = 0  # librealsense reuses its buffers
    assert int(frame.depth_raw[0, 0]) == 1001
    frames.close()
    assert pipeline.stops == 1


def test_submillimetre_depth_unit():
    pipeline = FakePipeline([depth_data(1)], device=FakeDevice("111", depth_scale_m=np.float32(0.0001)))
    with stream(pipeline) as frames:
        assert next(frames).mm_per_unit == 0.1


def test_requests_the_configured_device_and_mode():
    pipeline = FakePipeline([depth_data(1)], device=FakeDevice("222"))
    frames = stream(pipeline, serial="222", devices=[FakeDevice("111"), pipeline.device])
    assert frames.serial == "222"
    next(frames)
    # The real rs.config took the calls (a real pipeline.start cannot run here: with no camera it
    # waits 15 s for one before failing).
    assert isinstance(pipeline.started_with, rs.config)
    frames.close()


def test_stall_raises_camera_lost_after_timeout():
    pipeline = FakePipeline([depth_data(1), "stall"])
    frames = stream(pipeline, stall_timeout_s=0.1)
    next(frames)
    began = time.monotonic()
    with pytest.raises(CameraLost) as info:
        next(frames)
    waited_s = time.monotonic() - began
    assert 0.1 <= waited_s < 1.0
    assert one_line(info.value) == "camera 111 stopped delivering frames for 0.1 s"
    assert pipeline.stops == 1 and not pipeline.running


def test_no_frame_at_all_is_a_stall():
    pipeline = FakePipeline(["stall"])
    with pytest.raises(CameraLost, match="stopped delivering frames"):
        next(stream(pipeline))
    assert pipeline.stops == 1


def test_slow_caller_is_no_stall():
    pipeline = FakePipeline([depth_data(1), depth_data(2)])
    frames = stream(pipeline, stall_timeout_s=0.05)
    next(frames)
    time.sleep(0.1)  # the caller busy longer than the stall timeout
    assert next(frames).frame_number == 2
    frames.close()


def test_runtime_error_while_streaming_is_camera_lost():
    pipeline = FakePipeline([depth_data(1), RuntimeError("Frame didn't arrive within 5000\n(device disconnected)")])
    frames = stream(pipeline)
    next(frames)
    with pytest.raises(CameraLost) as info:
        next(frames)
    assert one_line(info.value).startswith("camera 111 failed: Frame didn't arrive")
    assert info.value.__cause__ is None and info.value.__suppress_context__
    assert pipeline.stops == 1


def test_stop_failing_on_a_lost_device_is_ignored():
    pipeline = FakePipeline([RuntimeError("device disconnected")])

    def stop_fails():
        pipeline.running = False
        raise RuntimeError("device disconnected")

    pipeline.stop = stop_fails
    with pytest.raises(CameraLost):
        next(stream(pipeline))


def test_unsupported_mode_is_camera_error():
    pipeline = FakePipeline([], start_error=RuntimeError("Couldn't resolve requests"))
    frames = stream(pipeline, width=1280, height=720, fps=90)
    with pytest.raises(CameraError) as info:
        next(frames)
    assert not isinstance(info.value, CameraLost)
    assert one_line(info.value) == "camera 111 does not support depth 1280x720 @ 90 fps"
    assert pipeline.stops == 0 and not pipeline.running  # never started, nothing to stop


def test_unsupported_mode_on_usb2_says_what_to_do():
    device = FakeDevice("111", usb_type="2.1")
    pipeline = FakePipeline([], device=device, start_error=RuntimeError("Couldn't resolve requests"))
    with pytest.raises(CameraError) as info:
        next(stream(pipeline, width=848, height=480, fps=30))
    message = one_line(info.value)
    assert message.startswith("camera 111 does not support depth 848x480 @ 30 fps over USB 2.1:")
    assert "USB 3 port" in message and "640x480 at 30 fps" in message


def test_other_start_failure_is_camera_error():
    pipeline = FakePipeline([], start_error=RuntimeError("failed to set power state"))
    with pytest.raises(CameraError, match="cannot start camera 111: failed to set power state"):
        next(stream(pipeline))


def test_zero_depth_scale_is_camera_error():
    pipeline = FakePipeline([depth_data(1)], device=FakeDevice("111", depth_scale_m=0.0))
    with pytest.raises(CameraError, match="no depth scale"):
        next(stream(pipeline))
    assert pipeline.stops == 1


def test_bad_frames_are_skipped_and_counted(caplog):
    pipeline = FakePipeline([
        depth_data(1),
        depth_data(2, shape=(H, W + 1)),
        depth_data(3, dtype=np.float32),
        depth_data(4, shape=(H * W,)),
        None,  # a frameset without a depth frame
        depth_data(6),
    ])
    with caplog.at_level(logging.WARNING, logger="respmon.sources.camera"), stream(pipeline) as frames:
        got = [next(frames).frame_number for _ in range(2)]
        assert got == [1, 6]
        assert frames.bad_frames == 4
    assert len(caplog.records) == 1 and "bad frame" in caplog.records[0].getMessage()
    assert pipeline.stops == 1


def test_only_bad_frames_end_as_camera_lost():
    pipeline = FakePipeline(itertools.repeat(depth_data(1, shape=(1, 1))))
    frames = stream(pipeline, stall_timeout_s=0.05)
    with pytest.raises(CameraLost, match=r"stopped delivering frames for 0.05 s \(\d+ bad frames skipped\)"):
        next(frames)
    assert frames.bad_frames > 0 and pipeline.stops == 1


def test_close_before_first_frame_starts_nothing():
    pipeline = FakePipeline([depth_data(1)])
    stream(pipeline).close()
    assert pipeline.started_with is None and pipeline.stops == 0


def test_missing_camera_raises_at_the_call():
    pipeline = FakePipeline([depth_data(1)])
    with pytest.raises(CameraError, match="camera 999 is not connected"):
        stream(pipeline, serial="999")
    assert pipeline.started_with is None


# --- the real pyrealsense2, no camera connected ---------------------------------------------------


@pytest.fixture
def no_real_camera():
    if list_cameras():
        pytest.skip("a RealSense camera is connected to this machine")


def test_real_list_cameras_is_empty(no_real_camera):
    assert list_cameras() == []


def test_real_read_camera_without_camera(no_real_camera):
    with pytest.raises(CameraError) as info:
        read_camera(default_config().camera)
    assert one_line(info.value) == NO_CAMERA_MESSAGE


def test_real_read_camera_named_serial_without_camera(no_real_camera):
    config = SimpleNamespace(**{**vars(default_config().camera), "serial": "123456789012"})
    with pytest.raises(CameraError, match="camera 123456789012 is not connected"):
        read_camera(config)


def test_real_camera_info_without_camera(no_real_camera):
    with pytest.raises(CameraError) as info:
        camera_info()
    assert one_line(info.value) == NO_CAMERA_MESSAGE

