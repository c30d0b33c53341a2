"""respmon's own .db3 reader against librealsense's playback of the same files, its PNG decoding
against every PNG row filter, and what it makes of damaged files."""

from __future__ import annotations

import re
import sqlite3
import struct
import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from respmon.sim.rs_writer import write_depth_recording
from respmon.sim.scene import BedScene, Intrinsics
from respmon.sources import recording, rosbag2
from respmon.sources.recording import RecordingError, open_depth_recording, read_depth_recording


def _random_frames(width: int, height: int, n: int, seed: int) -> list[np.ndarray]:
    """Depths over the whole uint16 range, a fifth of them 0 (no depth), and 0, 65535 and 256 in
    the first row: where a byte-order slip would show."""
    rng = np.random.default_rng(seed)
    frames = [rng.integers(0, 65536, size=(height, width), dtype=np.uint16) for _ in range(n)]
    for frame in frames:
        frame[rng.random(frame.shape) < 0.2] = 0
        frame[0, :3] = (0, 65535, 256)
    return frames


def _librealsense(path):
    """The recording as librealsense's playback gives it (respmon's reader before this one)."""
    playback = recording._Playback(path)
    return recording._info(playback), list(recording._frames(playback))


def _intrinsics(width: int, height: int) -> Intrinsics:
    return BedScene(width, height).intrinsics


@pytest.mark.parametrize("width, height, fps, n", [(64, 48, 6, 7), (212, 120, 15, 12), (424, 240, 30, 5)])
def test_every_frame_number_timestamp_and_depth_equal_librealsenses(tmp_path, width, height, fps, n):
    frames = _random_frames(width, height, n, seed=width + fps)
    path = tmp_path / "random.db3"
    write_depth_recording(path, frames, _intrinsics(width, height), fps)
    theirs_info, theirs = _librealsense(path)
    info, ours = open_depth_recording(path)
    ours = list(ours)
    assert info == theirs_info
    assert len(ours) == len(theirs) == n
    for mine, real, written in zip(ours, theirs, frames):
        assert (mine.frame_number, mine.timestamp_ms, mine.mm_per_unit) == (
            real.frame_number, real.timestamp_ms, real.mm_per_unit)
        assert mine.depth_raw.dtype == np.uint16 and np.array_equal(mine.depth_raw, real.depth_raw)
        assert np.array_equal(mine.depth_raw, written)


def test_a_scene_recording_reads_alike_at_other_depth_units(tmp_path):
    scene = BedScene(212, 120, distance_m=1.6, seed=3)
    frames = [scene.render(2.0 * np.sin(i / 3.0), t_s=i / 10.0) for i in range(10)]
    path = tmp_path / "scene.db3"
    write_depth_recording(path, [(f // 2).astype(np.uint16) for f in frames], scene.intrinsics, 10,
                          depth_units_m=0.002)
    _, theirs = _librealsense(path)
    ours = list(read_depth_recording(path))
    assert [f.mm_per_unit for f in ours] == [f.mm_per_unit for f in theirs] == [2.0] * 10
    assert all(np.array_equal(a.depth_mm, b.depth_mm) for a, b in zip(ours, theirs))


# --- PNG --------------------------------------------------------------------------------------


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else (b if pb <= pc else c)


def _filtered(row: bytes, prior: bytes, kind: int) -> bytes:
    """A scanline filtered as the PNG specification says (bpp 2), written plainly, byte by byte."""
    out = bytearray()
    for i, x in enumerate(row):
        a = row[i - 2] if i >= 2 else 0
        b = prior[i]
        c = prior[i - 2] if i >= 2 else 0
        predictor = (0, a, b, (a + b) // 2, _paeth(a, b, c))[kind]
        out.append((x - predictor) % 256)
    return bytes(out)


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _png(depth: np.ndarray, filters: list[int], ihdr: tuple | None = None) -> bytes:
    height, width = depth.shape
    rows = depth.astype(">u2").tobytes()
    stride = 2 * width
    prior = bytes(stride)
    scanlines = bytearray()
    for y in range(height):
        row = rows[y * stride:(y + 1) * stride]
        scanlines += bytes([filters[y]]) + _filtered(row, prior, filters[y])
        prior = row
    header = struct.pack(">IIBBBBB", *(ihdr or (width, height, 16, 0, 0, 0, 0)))
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(bytes(scanlines)))
            + _chunk(b"IEND", b""))


@settings(max_examples=60, deadline=None)
@given(st.tuples(st.integers(1, 12), st.integers(1, 12)).flatmap(
    lambda shape: st.tuples(arrays(np.uint16, shape), st.lists(st.integers(0, 4), min_size=shape[0],
                                                               max_size=shape[0]))))
def test_png_rows_decode_when_unfiltered_sub_or_up_and_are_left_to_librealsense_otherwise(case):
    depth, filters = case
    png = _png(depth, filters)
    if max(filters) > 2:  # Average and Paeth go byte by byte: librealsense's to decode, not Python's
        with pytest.raises(rosbag2.Unsupported):
            rosbag2.decode_depth_png(png, depth.shape[1], depth.shape[0])
        return
    decoded = rosbag2.decode_depth_png(png, depth.shape[1], depth.shape[0])
    assert decoded.dtype == np.uint16 and np.array_equal(decoded, depth)


@pytest.mark.parametrize("damage, fragment", [
    (lambda png: png[:40], "size in pixels"),  # cut before the pixels
    (lambda png: png[:-16], "runs past"),  # cut inside them
    (lambda png: png[:-20] + bytes(4) + png[-16:], "does not decompress"),  # their checksum wrong
    (lambda png: b"JPEG" + png[4:], "not a PNG"),
])
def test_damaged_png_is_one_error(damage, fragment):
    depth = np.arange(64, dtype=np.uint16).reshape(8, 8)
    with pytest.raises(rosbag2.Rosbag2Error, match=fragment):
        rosbag2.decode_depth_png(damage(_png(depth, [0] * 8)), 8, 8)


def test_a_png_of_another_size_or_kind_is_refused_before_it_is_inflated():
    depth = np.zeros((8, 8), dtype=np.uint16)
    with pytest.raises(rosbag2.Rosbag2Error, match="is 8x8, the stream 1280x720"):
        rosbag2.decode_depth_png(_png(depth, [0] * 8), 1280, 720)
    with pytest.raises(rosbag2.Rosbag2Error, match="16-bit greyscale"):
        rosbag2.decode_depth_png(_png(depth, [0] * 8, ihdr=(8, 8, 8, 0, 0, 0, 0)), 8, 8)


def test_pixels_beyond_the_stream_size_are_refused_not_dropped():
    """A zlib stream that inflates past the image (a bomb, or a wrong header) is corrupt: only the
    stream's size is ever inflated, and the rest is not silently cut off."""
    depth = np.zeros((16, 8), dtype=np.uint16)
    png = _png(depth, [0] * 16)
    header = struct.pack(">IIBBBBB", 8, 8, 16, 0, 0, 0, 0)
    lying = png[:8] + _chunk(b"IHDR", header) + png[8 + 25:]
    with pytest.raises(rosbag2.Rosbag2Error, match="size in pixels"):
        rosbag2.decode_depth_png(lying, 8, 8)


# --- whole files ------------------------------------------------------------------------------


@pytest.fixture
def small(tmp_path):
    rng = np.random.default_rng(7)
    path = tmp_path / "small.db3"
    write_depth_recording(path, [rng.integers(400, 3000, size=(48, 64), dtype=np.uint16) for _ in range(6)],
                          _intrinsics(64, 48), 6)
    return path


def _sql(path, *statements):
    db = sqlite3.connect(path)
    for statement in statements:
        db.execute(statement)
    db.commit()
    db.close()


def test_a_frame_damaged_in_the_middle_names_the_frame(small):
    db = sqlite3.connect(small)
    [(topic,)] = db.execute("SELECT id FROM topics WHERE name LIKE '%compressedDepth'").fetchall()
    ids = [i for (i,) in db.execute("SELECT id FROM messages WHERE topic_id = ? ORDER BY timestamp", (topic,))]
    data = bytearray(db.execute("SELECT data FROM messages WHERE id = ?", (ids[3],)).fetchone()[0])
    data[-200:] = b"\x00" * 200  # the end of its pixels
    db.execute("UPDATE messages SET data = ? WHERE id = ?", (bytes(data), ids[3]))
    db.commit()
    db.close()
    frames = read_depth_recording(small)
    assert [f.frame_number for f in (next(frames), next(frames), next(frames))] == [0, 1, 2]
    with pytest.raises(RecordingError, match=r"recording is corrupt \(frame 3: a depth image") as info:
        next(frames)
    assert "\n" not in str(info.value)


def test_another_depth_compression_goes_to_librealsense(small, monkeypatch):
    """A .db3 stored in a way respmon's reader does not decode is played by librealsense (whose
    messages then apply), not refused by respmon."""
    seen = []
    real = recording._Playback

    def playback(path):
        seen.append(path)
        return real(path)

    monkeypatch.setattr(recording, "_Playback", playback)
    db = sqlite3.connect(small)
    [(topic,)] = db.execute("SELECT id FROM topics WHERE name LIKE '%compressedDepth'").fetchall()
    rows = db.execute("SELECT id, data FROM messages WHERE topic_id = ?", (topic,)).fetchall()
    for i, data in rows:  # the format string says rvl: the pixels stay PNG, which librealsense reads
        db.execute("UPDATE messages SET data = ? WHERE id = ?",
                   (bytes(data).replace(b"compressedDepth png", b"compressedDepth rvl"), i))
    db.commit()
    db.close()
    try:
        list(read_depth_recording(small))
    except RecordingError:
        pass  # librealsense may refuse it in its own words; what matters is who was asked
    assert seen == [small]
    # Without librealsense (the core install) the line says what the file needs and why.
    monkeypatch.setattr(recording, "_rs", lambda: recording.Missing("pyrealsense2 is not installed"))
    with pytest.raises(RecordingError, match=r"respmon does not read \(depth compression '16UC1; compressedDepth "
                                             r"rvl'\); librealsense does, with respmon's camera extra"):
        read_depth_recording(small)


def test_missing_depth_units_are_refused_as_before(small):
    _sql(small, "DELETE FROM messages WHERE topic_id IN (SELECT id FROM topics WHERE name LIKE '%Depth_Units/value')")
    with pytest.raises(RecordingError, match="no depth scale"):
        read_depth_recording(small)


def test_a_read_only_recording_in_a_read_only_folder_reads(small):
    folder = small.parent
    small.chmod(0o444)
    folder.chmod(0o555)
    try:
        assert len(list(read_depth_recording(small))) == 6
    finally:
        folder.chmod(0o755)
        small.chmod(0o644)


IMAGE_TOPIC = "(SELECT id FROM topics WHERE name LIKE '%compressedDepth')"
FIRST_IMAGE = f"(SELECT MIN(id) FROM messages WHERE topic_id = {IMAGE_TOPIC})"
TOPIC = "(SELECT id FROM topics WHERE name LIKE '%{}')"


def _cdr_text(text: str) -> str:
    data = text.encode() + b"\x00"
    return "X'" + (b"\x00\x01\x00\x00" + struct.pack("<I", len(data)) + data).hex() + "'"


@pytest.mark.parametrize("statements, fragment", [
    # SQLite lets any column hold any type (found by an adversarial review: each was a traceback)
    ([f"UPDATE messages SET data = 'x' WHERE id = {FIRST_IMAGE}"], "not a blob"),
    ([f"UPDATE messages SET data = 4611686018427387904 WHERE id = {FIRST_IMAGE}"], "not a blob"),
    ([f"UPDATE messages SET data = 1.5 WHERE topic_id = {TOPIC.format('Depth_Units/value')}"], "not a blob"),
    (["UPDATE messages SET timestamp = 'x' WHERE id = 14"], "time is not an integer"),
    (["INSERT INTO topics VALUES (99, x'00', 't', 'cdr', '')"], "name or type"),
    ([f"UPDATE messages SET data = {_cdr_text('encoding=Z16;fps=inf')} WHERE topic_id = {TOPIC.format('Depth_0/info')}"],
     "frame rate is not recorded"),
    ([f"UPDATE messages SET data = {_cdr_text('width=2048;height=2048')} "
      f"WHERE topic_id = {TOPIC.format('Depth_0/camera_info')}"], "impossible (2048x2048"),
    ([f"UPDATE messages SET data = {_cdr_text('1e-300')} WHERE topic_id = {TOPIC.format('Depth_Units/value')}"],
     "no depth scale"),
    # A view where a table belongs could make any query of its maker's run for ever
    (["ALTER TABLE topics RENAME TO real_topics",
      "CREATE VIEW topics AS SELECT * FROM real_topics UNION ALL SELECT * FROM (WITH RECURSIVE c(x) AS "
      "(SELECT 100 UNION ALL SELECT x + 1 FROM c) SELECT x, 'x', 't', 'cdr', '' FROM c)"], "no topics and messages"),
])
def test_a_hostile_database_is_one_line(small, statements, fragment):
    _sql(small, *statements)
    with pytest.raises(RecordingError, match=re.escape(fragment)) as info:
        list(read_depth_recording(small))
    assert "\n" not in str(info.value) and len(str(info.value)) < 400


def test_a_png_header_of_the_wrong_length_is_one_line(small):
    db = sqlite3.connect(small)
    row_id, data = db.execute(f"SELECT id, data FROM messages WHERE id = {FIRST_IMAGE}").fetchone()
    at = data.index(b"\x89PNG")
    png = b"\x89PNG\r\n\x1a\n" + struct.pack(">I4sI", 0, b"IHDR", zlib.crc32(b"IHDR"))
    payload = data[at - 12:at] + png
    db.execute("UPDATE messages SET data = ? WHERE id = ?", (data[:at - 16] + struct.pack("<I", len(payload)) + payload,
                                                             row_id))
    db.commit()
    db.close()
    with pytest.raises(RecordingError, match="header is not 13 bytes"):
        read_depth_recording(small)
