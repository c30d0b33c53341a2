"""respmon's own .db3 writer (sim/db3_writer.py) against librealsense: librealsense's playback of
what it writes, and the messages librealsense's recorder writes of the same frames. (Real-time
playback of its files: tests/test_rs_recording.py.)"""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from respmon.sim import db3_writer, rs_writer
from respmon.sim.scene import BedScene
from respmon.sources import recording
from respmon.sources.rosbag2 import string_message
from tests.test_rosbag2 import _librealsense, _random_frames


@pytest.mark.parametrize("width, height, fps, units", [(64, 48, 6, 0.001), (424, 240, 15, 0.001),
                                                       (212, 120, 30, 0.0001)])
def test_librealsense_plays_back_exactly_what_was_written(tmp_path, width, height, fps, units):
    frames = _random_frames(width, height, 9, seed=width + fps)
    scene = BedScene(width, height)
    ours, theirs = tmp_path / "ours.db3", tmp_path / "theirs.db3"
    assert db3_writer.write_depth_recording(ours, frames, scene.intrinsics, fps, units) == 9
    rs_writer.write_depth_recording(theirs, frames, scene.intrinsics, fps, units)
    info, played = _librealsense(ours)
    their_info, their_played = _librealsense(theirs)
    assert info == their_info
    assert (info["width"], info["height"], info["fps"]) == (width, height, fps)
    assert [f.frame_number for f in played] == list(range(9))
    assert [f.timestamp_ms for f in played] == [f.timestamp_ms for f in their_played]
    assert all(np.array_equal(f.depth_raw, written) for f, written in zip(played, frames))
    native_info, native = recording.open_depth_recording(ours)
    assert native_info["duration_s"] == info["duration_s"]
    assert all(np.array_equal(a.depth_raw, b.depth_raw) and a.timestamp_ms == b.timestamp_ms
               for a, b in zip(native, played))


def _messages(path: Path) -> tuple[list, list]:
    db = sqlite3.connect(path)
    try:
        topics = db.execute("SELECT * FROM topics ORDER BY id").fetchall()
        messages = [(t, ts, bytes(d)) for t, ts, d in
                    db.execute("SELECT topic_id, timestamp, data FROM messages ORDER BY id")]
    finally:
        db.close()
    return topics, messages


def test_every_message_is_librealsenses_but_the_png_bytes_and_the_padding(tmp_path, monkeypatch):
    frames = _random_frames(106, 60, 4, seed=3)
    scene = BedScene(106, 60)
    theirs = tmp_path / "theirs.db3"
    rs_writer.write_depth_recording(theirs, frames, scene.intrinsics, 15)
    ours = tmp_path / "ours.db3"
    db3_writer.write_depth_recording(ours, frames, scene.intrinsics, 15)
    # The same file with its CDR padding written as 0xff: the bytes that differ are the padding.
    marked = tmp_path / "marked.db3"
    monkeypatch.setattr(db3_writer.CdrWriter, "_align", lambda self, n: self.buf.extend(b"\xff" * (-(len(self.buf) - 4) % n)))
    db3_writer.write_depth_recording(marked, frames, scene.intrinsics, 15)
    their_topics, their_messages = _messages(theirs)
    our_topics, our_messages = _messages(ours)
    assert our_topics == their_topics
    assert [m[:2] for m in our_messages] == [m[:2] for m in their_messages]
    names = {topic_id: name for topic_id, name, *_ in our_topics}
    for (topic, _, mine), (_, _, padded), (_, _, real) in zip(our_messages, _messages(marked)[1], their_messages):
        name = names[topic]
        if name.endswith("/compressedDepth"):
            continue  # the pixels: compared through playback above
        if name.endswith("/image/metadata"):  # but librealsense's own estimate of the frame rate
            assert string_message(mine) == re.sub(r"Actual Fps=\d+;", "", string_message(real)), name
            continue
        assert len(mine) == len(real), name
        same = [a == b or a != c for a, b, c in zip(mine, real, padded)]
        assert all(same), (name, [i for i, ok in enumerate(same) if not ok])


def test_wrong_frames_and_names_are_refused(tmp_path):
    scene = BedScene(64, 48)
    with pytest.raises(ValueError, match=r"\.db3"):
        db3_writer.write_depth_recording(tmp_path / "out.bag", [], scene.intrinsics, 6)
    with pytest.raises(ValueError, match="uint16"):
        db3_writer.write_depth_recording(tmp_path / "out.db3", [np.zeros((48, 64), np.float32)], scene.intrinsics, 6)
    with pytest.raises(ValueError, match="fps"):
        db3_writer.write_depth_recording(tmp_path / "out.db3", [], scene.intrinsics, 0)
