"""Synthetic frames written as a real librealsense recording and read back through pyrealsense2."""

from __future__ import annotations

import gc
import math
import sqlite3
from pathlib import Path

import numpy as np
import pyrealsense2 as rs
import pytest

from respmon.sources.recording import DepthFrame, RecordingError, read_depth_recording, recording_info
from respmon.sim import db3_writer
from respmon.sim.rs_writer import write_depth_recording
from respmon.sim.scene import BedScene

W, H, FPS = 424, 240, 6
N_FRAMES = 48  # 8 s: two breaths
BREATH_HZ, AMPLITUDE_MM = 0.25, 3.0  # 6 mm peak to peak
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
LEGACY_BAG = SHARED_DATA / "realsense-bags" / "single_depth_color_640x480.bag"


def _displacement_mm(i: int, fps: int = FPS) -> float:
    return AMPLITUDE_MM * math.sin(2 * math.pi * BREATH_HZ * i / fps)


@pytest.fixture(scope="session")
def recorded(tmp_path_factory):
    scene = BedScene(W, H, distance_m=1.2, seed=5)
    frames = [scene.render(_displacement_mm(i), t_s=i / FPS) for i in range(N_FRAMES)]
    path = tmp_path_factory.mktemp("rec") / "breathing.db3"
    n_written = write_depth_recording(path, frames, scene.intrinsics, FPS)
    played = list(read_depth_recording(path))
    return scene, frames, path, n_written, played


def _write_color_only(path: Path, n_frames: int = 3, w: int = 64, h: int = 48, fps: int = 6) -> None:
    device = rs.software_device()
    sensor = device.add_sensor("RGB Camera")
    intr = rs.intrinsics()
    intr.width, intr.height, intr.fx, intr.fy, intr.ppx, intr.ppy = w, h, 50.0, 50.0, w / 2, h / 2
    stream = rs.video_stream()
    stream.type, stream.index, stream.uid = rs.stream.color, 0, 1
    stream.width, stream.height, stream.fps, stream.bpp, stream.fmt = w, h, fps, 3, rs.format.rgb8
    stream.intrinsics = intr
    profile = sensor.add_video_stream(stream, True).as_video_stream_profile()
    recorder = rs.recorder(str(path), device)
    sensor.open(profile)
    sensor.start(lambda f: None)
    for i in range(n_frames):
        frame = rs.software_video_frame()
        frame.pixels = np.zeros((h, w, 3), np.uint8)
        frame.stride, frame.bpp = 3 * w, 3
        frame.timestamp, frame.domain, frame.frame_number = i * 1000 / fps, rs.timestamp_domain.hardware_clock, i
        frame.profile = profile
        sensor.on_video_frame(frame)
    sensor.stop()
    sensor.close()
    del recorder, sensor, device, profile
    gc.collect()


# --- write + read back ------------------------------------------------------------------------


def test_every_frame_plays_back_in_order(recorded):
    _, _, _, n_written, played = recorded
    assert n_written == N_FRAMES
    assert [f.frame_number for f in played] == list(range(N_FRAMES))
    assert all(isinstance(f, DepthFrame) for f in played)


def test_timestamps_follow_fps(recorded):
    played = recorded[4]
    stamps_ms = np.array([f.timestamp_ms for f in played])
    assert stamps_ms[0] == pytest.approx(0.0, abs=1e-6)
    assert np.allclose(np.diff(stamps_ms), 1000.0 / FPS, atol=1e-3)


def test_recording_info(recorded):
    path = recorded[2]
    info = recording_info(path)
    assert (info["width"], info["height"], info["fps"]) == (W, H, FPS)
    assert info["depth_scale_m"] == pytest.approx(0.001, rel=1e-6)
    # The writer stores the first frame one frame period after the start of the recording.
    assert info["duration_s"] == pytest.approx(N_FRAMES / FPS, abs=0.01)


def test_depth_round_trips_exactly(recorded):
    _, frames, _, _, played = recorded
    for written, back in zip(frames, played):
        assert back.depth_mm.dtype == np.float32 and back.depth_mm.shape == (H, W)
        assert np.array_equal(back.depth_mm, written.astype(np.float32))


def test_chest_depth_tracks_breathing(recorded):
    scene, _, _, _, played = recorded
    mask = scene.chest_mask
    mean_depth = []
    for f in played:
        valid = mask & (f.depth_mm > 0)
        mean_depth.append(float(np.mean(f.depth_mm[valid])))
    displacement = [_displacement_mm(f.frame_number) for f in played]
    corr = np.corrcoef(-np.array(mean_depth), displacement)[0, 1]
    assert corr >= 0.9


def test_stored_message_times_follow_frame_timestamps(recorded):
    path = recorded[2]
    conn = sqlite3.connect(path)
    try:
        times_ns = [
            t
            for (t,) in conn.execute(
                "SELECT m.timestamp FROM messages m JOIN topics t ON m.topic_id = t.id "
                "WHERE t.name LIKE '%/image/data%' ORDER BY m.id"
            )
        ]
    finally:
        conn.close()
    assert times_ns == [round(i * 1e9 / FPS) + round(1e9 / FPS) for i in range(N_FRAMES)]


@pytest.mark.parametrize("write", [write_depth_recording, db3_writer.write_depth_recording],
                         ids=["librealsense's recorder", "respmon's writer"])
def test_default_real_time_playback_gets_every_frame(tmp_path, write):
    """A pipeline that does not ask for non-real-time mode (the RealSense Viewer) plays the file at
    camera speed and gets every frame, the first one included."""
    fps, n_frames = 15, 30
    scene = BedScene(106, 60, seed=9)
    path = tmp_path / "real_time.db3"
    frames = (scene.render(_displacement_mm(i, fps)) for i in range(n_frames))
    write(path, frames, scene.intrinsics, fps)
    config = rs.config()
    config.enable_device_from_file(str(path), repeat_playback=False)
    pipeline = rs.pipeline()
    profile = pipeline.start(config)
    playback = profile.get_device().as_playback()
    assert playback.is_real_time()
    numbers = []
    try:
        while True:
            ok, frames = pipeline.try_wait_for_frames(200)
            if ok:
                numbers.append(frames.get_depth_frame().get_frame_number())
            elif playback.current_status() == rs.playback_status.stopped:
                break
    finally:
        pipeline.stop()
    assert numbers == list(range(n_frames))


def test_writer_rejects_other_extensions(tmp_path):
    scene = BedScene(64, 36)
    with pytest.raises(ValueError, match=r"\.db3"):
        write_depth_recording(tmp_path / "out.bag", [scene.render(0.0)], scene.intrinsics, FPS)


def test_writer_rejects_wrong_frames(tmp_path):
    scene = BedScene(64, 36)
    with pytest.raises(ValueError, match="uint16"):
        write_depth_recording(tmp_path / "out.db3", [scene.render(0.0).astype(np.float32)], scene.intrinsics, FPS)


# --- legacy ROS1 bag --------------------------------------------------------------------------


def test_legacy_bag_reads():
    if not LEGACY_BAG.exists():
        pytest.skip(f"legacy bag not available: {LEGACY_BAG} (shared data absent)")
    info = recording_info(LEGACY_BAG)
    assert (info["width"], info["height"]) == (640, 480)
    assert info["depth_scale_m"] == pytest.approx(0.001, rel=1e-6)
    played = list(read_depth_recording(LEGACY_BAG))
    # The file holds two depth frames (169, 170) and one colour frame; only depth comes back.
    assert [f.frame_number for f in played] == [169, 170]
    assert all(f.depth_mm.shape == (480, 640) for f in played)
    assert all(float(f.depth_mm.max()) > 500.0 for f in played)


# --- bad recordings: one clear line, no pyrealsense2 traceback ----------------------------------


def _assert_one_line_error(path: Path, fragment: str) -> None:
    with pytest.raises(RecordingError) as info:
        list(read_depth_recording(path))
    message = str(info.value)
    assert "\n" not in message and fragment in message
    assert info.value.__context__ is None or info.value.__suppress_context__  # no chained traceback
    with pytest.raises(RecordingError):
        recording_info(path)


def test_missing_file(tmp_path):
    _assert_one_line_error(tmp_path / "nope.db3", "not found")


def test_empty_file(tmp_path):
    path = tmp_path / "empty.db3"
    path.write_bytes(b"")
    _assert_one_line_error(path, "empty")


@pytest.mark.parametrize("name", ["garbage.db3", "garbage.bag"])
def test_garbage_file(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(b"this is not a recording\n" * 500)
    _assert_one_line_error(path, "corrupt")


def test_truncated_db3(recorded, tmp_path):
    data = recorded[2].read_bytes()
    path = tmp_path / "half.db3"
    path.write_bytes(data[: len(data) // 2])
    _assert_one_line_error(path, "truncated")


def test_truncated_legacy_bag(tmp_path):
    if not LEGACY_BAG.exists():
        pytest.skip(f"legacy bag not available: {LEGACY_BAG} (shared data absent)")
    path = tmp_path / "half.bag"
    data = LEGACY_BAG.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(RecordingError) as info:
        list(read_depth_recording(path))
    assert "\n" not in str(info.value)


def test_corrupt_middle_of_db3(recorded, tmp_path):
    """Damaged frame data ends librealsense's playback quietly; the reader notices the early end."""
    data = bytearray(recorded[2].read_bytes())
    middle = len(data) // 3
    data[middle : middle + 50_000] = b"\xff" * 50_000
    path = tmp_path / "damaged.db3"
    path.write_bytes(bytes(data))
    with pytest.raises(RecordingError, match="corrupt") as info:
        list(read_depth_recording(path))
    assert "\n" not in str(info.value)


def test_recording_without_depth(tmp_path):
    path = tmp_path / "colour.db3"
    _write_color_only(path)
    _assert_one_line_error(path, "no depth stream")


def test_not_a_recording_extension(tmp_path):
    path = tmp_path / "frames.npy"
    path.write_bytes(b"x")
    _assert_one_line_error(path, ".db3 or .bag")
