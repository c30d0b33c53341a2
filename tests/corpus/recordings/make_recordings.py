"""The checked-in bad recordings of this folder (README.md says why each is bad), written by

    .venv/bin/python tests/corpus/make_corpus.py recordings

The real recordings it starts from are tiny (64 x 48 px; 3 frames at 6 fps, about 16 KB, or
12 s at 2 fps, about 35 KB), written through pyrealsense2's own recorder (sim/rs_writer.py); each
bad file is one of them damaged in one way, or bytes that only look like a recording. A rerun
writes other bytes (the recorder stores wall-clock data; SQLite's randomblob is not seeded) that
are bad in the same way.
"""

from __future__ import annotations

import random
import sqlite3
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[2]))

from respmon.sim.rs_writer import write_depth_recording  # noqa: E402
from respmon.sim.scene import Intrinsics  # noqa: E402

W, H, FPS = 64, 48, 6
K = Intrinsics(width=W, height=H, fx=50.0, fy=50.0, ppx=W / 2, ppy=H / 2)


def _tiny(path: Path, frames: int = 3, depth_units_m: float = 0.001, fps: int = FPS) -> Path:
    depth = [np.full((H, W), 1200 + i, np.uint16) for i in range(frames)]
    write_depth_recording(path, depth, K, fps, depth_units_m=depth_units_m)
    return path


def _colour_only(path: Path, frames: int = 3) -> None:
    from tests.test_rs_recording import _write_color_only

    _write_color_only(path, frames, W, H, FPS)


def _sql(path: Path, *statements: str) -> None:
    conn = sqlite3.connect(path, isolation_level=None)  # autocommit: VACUUM runs outside a transaction
    try:
        for statement in statements:
            conn.execute(statement)
    finally:
        conn.close()
    # rollback journals of an interrupted write are not part of the corpus
    for extra in (path.with_name(path.name + "-journal"),):
        extra.unlink(missing_ok=True)


def make(out: Path = HERE) -> None:
    rng = random.Random(11)
    work = out / "_work"
    work.mkdir(exist_ok=True)
    try:
        good = _tiny(work / "good.db3")
        data = good.read_bytes()
        # 12 s, long enough to analyse, at 2 fps to keep it small (about 20 KB)
        long = _tiny(work / "long.db3", frames=24, fps=2).read_bytes()

        (out / "empty.db3").write_bytes(b"")
        (out / "empty.bag").write_bytes(b"")
        (out / "random.db3").write_bytes(bytes(rng.getrandbits(8) for _ in range(4096)))
        (out / "random.bag").write_bytes(bytes(rng.getrandbits(8) for _ in range(4096)))
        (out / "text.bag").write_text("this is a text file, not a ROS bag\n" * 20, encoding="utf-8")
        (out / "text.db3").write_text("id,topic,data\n1,/depth,xyz\n", encoding="utf-8")
        (out / "ros1-magic-then-garbage.bag").write_bytes(
            b"#ROSBAG V2.0\n" + bytes(rng.getrandbits(8) for _ in range(4096)))
        (out / "sqlite-header-then-garbage.db3").write_bytes(
            data[:100] + bytes(rng.getrandbits(8) for _ in range(len(data) - 100)))
        (out / "truncated.db3").write_bytes(data[: len(data) // 2])
        (out / "truncated-to-one-page.db3").write_bytes(data[:4096])

        for name in ("sqlite-other-tables.db3", "rosbag2-no-messages.db3", "wrong-topic.db3",
                     "wrong-message-type.db3", "frames-garbled.db3", "frames-garbled-after-3s.db3",
                     "no-topics-table.db3"):
            (out / name).unlink(missing_ok=True)
        _sql(out / "sqlite-other-tables.db3",
             "CREATE TABLE patients(id INTEGER PRIMARY KEY, name TEXT)",
             "INSERT INTO patients(name) VALUES ('not a recording')")
        (out / "rosbag2-no-messages.db3").write_bytes(data)
        _sql(out / "rosbag2-no-messages.db3", "DELETE FROM messages", "VACUUM")
        (out / "wrong-topic.db3").write_bytes(data)
        _sql(out / "wrong-topic.db3", "UPDATE topics SET name = replace(name, '/Depth_0/', '/Infrared_1/')")
        (out / "wrong-message-type.db3").write_bytes(long)
        # The depth image topic declared and filled as std_msgs/String: CDR header, length, text.
        text = b"not an image\x00"
        string_cdr = (b"\x00\x01\x00\x00" + len(text).to_bytes(4, "little") + text).hex()
        _sql(out / "wrong-message-type.db3",
             "UPDATE topics SET type = 'std_msgs/msg/String' WHERE name LIKE '%/image/data%'",
             f"UPDATE messages SET data = x'{string_cdr}' WHERE topic_id IN "
             "(SELECT id FROM topics WHERE name LIKE '%/image/data%')",
             "VACUUM")
        (out / "frames-garbled.db3").write_bytes(long)
        _sql(out / "frames-garbled.db3",
             "UPDATE messages SET data = randomblob(length(data)) WHERE topic_id IN "
             "(SELECT id FROM topics WHERE name LIKE '%/image/%')")
        (out / "frames-garbled-after-3s.db3").write_bytes(long)
        _sql(out / "frames-garbled-after-3s.db3",
             "UPDATE messages SET data = randomblob(length(data)) WHERE timestamp > 3000000000 AND topic_id IN "
             "(SELECT id FROM topics WHERE name LIKE '%/image/%')")
        (out / "no-topics-table.db3").write_bytes(data)
        _sql(out / "no-topics-table.db3", "DROP TABLE topics", "VACUUM")

        _colour_only(out / "colour-only.db3")
        _tiny(out / "depth-units-zero.db3", depth_units_m=0.0)
        _tiny(out / "half-a-second.db3", frames=3)
    finally:
        for path in work.iterdir():
            path.unlink()
        work.rmdir()

