"""Depth frames of a librealsense rosbag2 recording (``.db3``), read without librealsense.

A ``.db3`` is an SQLite database (tables ``topics`` and ``messages``) of CDR-serialised ROS 2
messages. librealsense (2.58 and later) records a depth stream as:

- ``/device_D/sensor_S/Depth_I/image/data/compressedDepth``: ``sensor_msgs/msg/CompressedImage``
  (``16UC1; compressedDepth png``: a 12-byte compressed_depth_image_transport header, then a
  16-bit greyscale PNG);
- ``.../Depth_I/image/metadata``: ``std_msgs/msg/String`` ``Frame number=N;...;timestamp=T;...``
  stored at the same message time as its image;
- ``.../Depth_I/info`` (``encoding=Z16;fps=F``) and ``/device_D/sensor_S/option/Depth_Units/value``.

Reading it here instead of through librealsense's playback costs less per frame (no playback
threads, one inflate per frame), lets the core install replay a recording without the camera
extra, and gives the same frames: tests/test_rosbag2.py compares every frame, timestamp and
number with librealsense's playback. Legacy ROS1 ``.bag`` files, and a ``.db3`` stored any other
way (`Unsupported`), still go through librealsense.

Everything read from the file is checked against the sizes the stream declares before it is
used, so a hostile or damaged file costs bounded memory and gives one line.
"""

from __future__ import annotations

import re
import sqlite3
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from respmon.errors import short_repr

try:  # ISA-L's inflate: twice zlib's speed, and inflating is most of a frame's reading
    from isal import isal_zlib as _inflate
    _INFLATE_ERRORS: tuple[type[Exception], ...] = (_inflate.error, zlib.error)
except ImportError:  # a platform without its wheel: the standard library's, same bytes
    _inflate = zlib
    _INFLATE_ERRORS = (zlib.error,)

_DEPTH_DATA = re.compile(r"^/device_(\d{1,9})/sensor_(\d{1,9})/Depth_(\d{1,9})/image/data(/compressedDepth)?$")
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_COMPRESSED_DEPTH_HEADER = 12  # compressed_depth_image_transport ConfigHeader: format, 2 float params
# No RealSense depth stream is larger than 1280x800 or faster than 300 fps: the bounds keep a
# hostile file's frames to a few MB and milliseconds each.
MAX_SIDE = 2048
MAX_PIXELS = 1280 * 1024
MAX_FPS = 1000
MAX_TOPICS = 10_000


class Rosbag2Error(ValueError):
    """What is wrong with the file, in one line (the caller names the file)."""


class Unsupported(Rosbag2Error):
    """A valid recording stored in a way this reader does not decode (librealsense may)."""


@dataclass(frozen=True)
class StreamInfo:
    width: int
    height: int
    fps: int
    depth_scale_m: float
    duration_s: float | None


@dataclass(frozen=True)
class RawFrame:
    frame_number: int
    timestamp_ms: float
    depth_raw: np.ndarray  # uint16 (height, width), native byte order


def _key_values(text: str) -> dict[str, str]:
    """``key=value;key=value;`` as librealsense writes its String messages."""
    pairs = {}
    for item in text.split(";"):
        key, sep, value = item.partition("=")
        if sep:
            pairs[key.strip()] = value.strip()
    return pairs


class _Cdr:
    """A little-endian CDR message (the encapsulation librealsense writes), read field by field;
    alignment counts from the end of the 4-byte encapsulation header."""

    def __init__(self, data: bytes):
        if len(data) < 4 or data[:2] != b"\x00\x01":
            raise Rosbag2Error("a message is not little-endian CDR")
        self.data = data
        self.pos = 4

    def _align(self, n: int) -> None:
        self.pos += -(self.pos - 4) % n

    def _take(self, n: int) -> int:
        start = self.pos
        if n < 0 or start + n > len(self.data):
            raise Rosbag2Error("a message is shorter than its fields say")
        self.pos += n
        return start

    def u32(self) -> int:
        self._align(4)
        return struct.unpack_from("<I", self.data, self._take(4))[0]

    def string(self) -> str:
        n = self.u32()
        start = self._take(n)
        return self.data[start:start + n].rstrip(b"\x00").decode("utf-8", "replace")

    def octets(self) -> memoryview:
        n = self.u32()
        start = self._take(n)
        return memoryview(self.data)[start:start + n]

    def header_stamp_ns(self) -> int:
        sec, nanosec = struct.unpack_from("<iI", self.data, self._take(8))
        self.string()  # frame_id
        return sec * 1_000_000_000 + nanosec


def _blob(data: object) -> bytes:
    """A message's data as SQLite gave it: bytes, or the file is not what rosbag2 writes (SQLite
    lets any column hold text or a number)."""
    if not isinstance(data, bytes):
        raise Rosbag2Error("a message's data is not a blob")
    return data


def _time_ns(value: object) -> int:
    if not isinstance(value, int):
        raise Rosbag2Error("a message's time is not an integer")
    return value


def string_message(data: bytes) -> str:
    """A std_msgs/msg/String's text."""
    return _Cdr(_blob(data)).string()


def _unfilter_rows(raw: bytes, height: int, row_bytes: int) -> np.ndarray:
    """PNG scanlines (a filter byte, then row_bytes) back to pixel bytes (height, row_bytes).

    librealsense writes every row unfiltered (type 0), which costs one reshape here; Sub and Up
    are vectorised. Average and Paeth depend on the byte to their left and would go byte by byte
    in Python (seconds a frame): a file that uses them is Unsupported, for librealsense to play."""
    lines = np.frombuffer(raw, dtype=np.uint8).reshape(height, row_bytes + 1)
    kinds = lines[:, 0]
    out = lines[:, 1:]
    if not kinds.any():
        return out
    if int(kinds.max()) > 4:
        raise Rosbag2Error("a PNG row has an unknown filter type")
    if int(kinds.max()) > 2:
        raise Unsupported("PNG rows filtered by Average or Paeth")
    out = out.copy()
    bpp = 2
    for y in np.flatnonzero(kinds):
        row = out[y]
        if kinds[y] == 1:  # Sub: each byte adds the one bpp to its left; per lane, a running sum mod 256
            for lane in range(bpp):
                row[lane::bpp] = np.cumsum(row[lane::bpp], dtype=np.uint8)
        elif y:  # Up (the row above the first is zeros)
            row += out[y - 1]
    return out


def decode_depth_png(png: memoryview | bytes, width: int, height: int) -> np.ndarray:
    """A 16-bit greyscale, non-interlaced PNG of the stream's size to uint16 (height, width)."""
    png = memoryview(png)  # read where it lies: the chunks are sliced, not copied
    if png[:8] != _PNG_SIGNATURE:
        raise Rosbag2Error("a compressed depth image is not a PNG")
    pos = 8
    idat = []
    header = None
    while pos + 8 <= len(png):
        length, kind = struct.unpack_from(">I4s", png, pos)
        body_at = pos + 8
        if body_at + length + 4 > len(png):
            raise Rosbag2Error("a PNG chunk runs past the image's end")
        if kind == b"IHDR":
            if length != 13:
                raise Rosbag2Error("a depth PNG's header is not 13 bytes")
            header = struct.unpack_from(">IIBBBBB", png, body_at)
        elif kind == b"IDAT":
            idat.append(png[body_at:body_at + length])
        elif kind == b"IEND":
            break
        pos = body_at + length + 4  # the chunk's CRC is not checked: zlib's adler32 covers the pixels
    if header is None:
        raise Rosbag2Error("a depth PNG has no header")
    w, h, bit_depth, colour, _, _, interlace = header
    if (w, h) != (width, height):
        raise Rosbag2Error(f"a depth image is {w}x{h}, the stream {width}x{height}")
    if bit_depth != 16 or colour != 0 or interlace != 0:
        raise Rosbag2Error("a depth PNG is not 16-bit greyscale without interlacing")
    row_bytes = 2 * width
    expected = height * (row_bytes + 1)
    inflater = _inflate.decompressobj()
    try:
        # One byte more than the image holds, never more: a stream that has it is too long (or a
        # bomb); one that stops short of its end (and its checksum) is cut.
        raw = inflater.decompress(idat[0] if len(idat) == 1 else b"".join(idat), expected + 1)
    except _INFLATE_ERRORS as err:
        raise Rosbag2Error(f"a depth image does not decompress ({err})") from None
    if len(raw) != expected or not inflater.eof:
        raise Rosbag2Error("a depth image does not hold the stream's size in pixels")
    pixels = _unfilter_rows(raw, height, row_bytes)
    return pixels.view(">u2").astype(np.uint16)  # PNG is big-endian


class Rosbag2Reader:
    """One open ``.db3``: its depth stream's description, then its frames in order."""

    def __init__(self, path: Path):
        self.path = Path(path)
        try:
            # immutable: a finished recording, read without locks or side files (a -wal, a -shm)
            self.db = sqlite3.connect(self.path.resolve().as_uri() + "?mode=ro&immutable=1", uri=True)
        except sqlite3.Error as err:
            raise Rosbag2Error(f"not a valid rosbag2 database ({' '.join(str(err).split())})") from None
        try:
            self._open()
        except sqlite3.Error as err:
            self.db.close()
            raise Rosbag2Error(f"not a valid rosbag2 database ({' '.join(str(err).split())})") from None
        except BaseException:
            self.db.close()
            raise

    def _open(self) -> None:
        """The depth stream's topics and description, and its first frame decoded."""
        tables = {name for name, sql in self.db.execute("SELECT name, sql FROM sqlite_master WHERE type = 'table'")
                  if isinstance(sql, str) and sql.lstrip().upper().startswith("CREATE TABLE")}
        if not {"topics", "messages"} <= tables:  # a view there could run any query of its maker's
            raise sqlite3.DatabaseError("no topics and messages tables")
        topics = self.db.execute("SELECT id, name, type FROM topics").fetchmany(MAX_TOPICS + 1)
        if len(topics) > MAX_TOPICS:
            raise Rosbag2Error(f"more than {MAX_TOPICS} topics")
        if any(not (isinstance(i, int) and isinstance(n, str) and isinstance(t, str)) for i, n, t in topics):
            raise Rosbag2Error("a topic's id, name or type is not what rosbag2 stores")
        self._find_depth(topics)
        first = self._first_data(self.data_topic)
        if first is None:
            raise Rosbag2Error("no camera stream (no depth images)")
        self.info = self._stream_info()
        try:
            self._decode(first)  # an unknown encoding is Unsupported now, not at frame 0
        except Unsupported:
            raise
        except Rosbag2Error as err:
            raise Rosbag2Error(f"frame 0: {err}") from None

    def close(self) -> None:
        self.db.close()

    def _find_depth(self, topics: list[tuple[int, str, str]]) -> None:
        names = {name: (topic_id, kind) for topic_id, name, kind in topics}
        depth = sorted((name for name in names if _DEPTH_DATA.match(name)),
                       key=lambda n: tuple(int(g) for g in _DEPTH_DATA.match(n).groups()[:3]))
        if not depth:
            if not any("/image/data" in name for name in names):
                raise Rosbag2Error("no camera stream (no image topics)")
            raise Rosbag2Error("no depth stream")
        name = depth[0]
        self.data_topic, self.data_type = names[name]
        if self.data_type != "sensor_msgs/msg/CompressedImage":
            raise Unsupported(f"depth topic of type {short_repr(self.data_type, 60)}")
        stream = name.split("/image/")[0]  # /device_D/sensor_S/Depth_I
        sensor = stream.rsplit("/", 1)[0]
        self.metadata_topic = names.get(stream + "/image/metadata", (None,))[0]
        self.stream_info_topic = names.get(stream + "/info", (None,))[0]
        self.camera_info_topic = names.get(stream + "/camera_info", (None,))[0]
        self.depth_units_topic = names.get(sensor + "/option/Depth_Units/value", (None,))[0]

    def _first_data(self, topic: int | None) -> bytes | None:
        """The data of the topic's first message; None if it has none."""
        if topic is None:
            return None
        row = self.db.execute("SELECT data FROM messages WHERE topic_id = ? ORDER BY timestamp, id LIMIT 1",
                              (topic,)).fetchone()
        return None if row is None else _blob(row[0])

    def _first_text(self, topic: int | None) -> str | None:
        data = self._first_data(topic)
        return None if data is None else string_message(data)

    def _first_string(self, topic: int | None) -> dict[str, str]:
        text = self._first_text(topic)
        return {} if text is None else _key_values(text)

    def _stream_info(self) -> StreamInfo:
        described = self._first_string(self.camera_info_topic)
        stream = self._first_string(self.stream_info_topic)
        try:
            width, height = int(described["width"]), int(described["height"])
            fps = int(float(stream["fps"]))
        except (KeyError, ValueError, OverflowError):
            raise Rosbag2Error("the depth stream's size or frame rate is not recorded") from None
        if not (0 < width <= MAX_SIDE and 0 < height <= MAX_SIDE and width * height <= MAX_PIXELS
                and 0 < fps <= MAX_FPS):
            raise Rosbag2Error(f"the depth stream's size or frame rate is impossible ({short_repr(width, 12)}x"
                               f"{short_repr(height, 12)} at {short_repr(fps, 12)} fps)")
        if stream.get("encoding", "Z16") != "Z16":
            raise Unsupported(f"depth encoding {short_repr(stream['encoding'], 40)}")
        units = self._first_text(self.depth_units_topic)  # the option's value: its whole text
        try:
            # float32, as librealsense keeps its options (0.001 reads back as 0.0010000000475)
            with np.errstate(over="ignore"):
                depth_scale_m = 0.0 if units is None else float(np.float32(units))
        except ValueError:
            raise Rosbag2Error(f"the depth units are not a number ({short_repr(units, 40)})") from None
        if not (np.isfinite(depth_scale_m) and depth_scale_m >= 0.0):
            depth_scale_m = 0.0  # refused by the caller, as a missing one is
        span = self.db.execute("SELECT MIN(timestamp), MAX(timestamp) FROM messages").fetchone()
        # Whole microseconds, as librealsense's playback gives it.
        duration_s = None if span[0] is None else (_time_ns(span[1]) - _time_ns(span[0])) // 1000 / 1e6
        return StreamInfo(width, height, fps, depth_scale_m, duration_s)

    def frames(self) -> Iterator[RawFrame]:
        """The depth frames in stored order. A frame's number and timestamp come from its metadata
        message (stored at the same time); without one, its order and its header's stamp."""
        topics = [self.data_topic] + ([self.metadata_topic] if self.metadata_topic is not None else [])
        query = ("SELECT topic_id, timestamp, data FROM messages WHERE topic_id IN (%s) ORDER BY timestamp, id"
                 % ",".join("?" * len(topics)))
        count = 0
        held: tuple[int, bytes] | None = None  # an image waiting for its metadata (same time, either order)
        meta: tuple[int, dict[str, str]] | None = None
        for topic_id, stored_ns, data in self.db.execute(query, topics):
            stored_ns = _time_ns(stored_ns)
            if held is not None and held[0] != stored_ns:
                yield self._frame(held, meta, count)
                count += 1
                held = None
            if topic_id == self.metadata_topic:
                meta = (stored_ns, _key_values(string_message(data)))
            else:
                if held is not None:  # two images at one time: the first has no metadata of its own
                    yield self._frame(held, None, count)
                    count += 1
                held = (stored_ns, data)
        if held is not None:
            yield self._frame(held, meta, count)

    def _frame(self, held: tuple[int, bytes], meta: tuple[int, dict[str, str]] | None, count: int) -> RawFrame:
        stored_ns, data = held
        pairs = meta[1] if meta is not None and meta[0] == stored_ns else {}
        stamp_ns, depth = self._decode(_blob(data))
        try:
            number = int(pairs["Frame number"]) if "Frame number" in pairs else count
            timestamp_ms = float(pairs["timestamp"]) if "timestamp" in pairs else stamp_ns / 1e6
        except ValueError:
            raise Rosbag2Error("its metadata is not numbers") from None
        return RawFrame(number, timestamp_ms, depth)

    def _decode(self, data: bytes) -> tuple[int, np.ndarray]:
        info = self.info
        cdr = _Cdr(data)
        stamp_ns = cdr.header_stamp_ns()
        kind = cdr.string()
        payload = cdr.octets()
        if "compressedDepth" not in kind or not kind.rstrip().endswith("png"):
            raise Unsupported(f"depth compression {short_repr(kind, 60)}")
        return stamp_ns, decode_depth_png(payload[_COMPRESSED_DEPTH_HEADER:], info.width, info.height)
