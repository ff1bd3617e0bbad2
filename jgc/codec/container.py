"""The compressed-file container: a header (16 bytes, then a few varints), then the coded streams.

    magic "JGC" | version u8 | model id (8 bytes) | CRC-32 (u32 LE)
    | height, width (LEB128) | length of every stream but the last (LEB128) | streams

Version 3 (written) has version 2's layout; its side information is
computed in finer fixed point (`jgc.codec.sideinfo.FINE`), so its streams
differ. Versions 2 and 1 (read) differ in what the CRC covers: in
version 1 only the streams, so a changed stream length or image size passed
it; in version 2 every byte of the file but its own four, so any single-bit
error is caught (CRC-32's generator has more than one term), and it is checked
before any header field is believed. Latent shapes are not stored: they follow
from the image size and the model, which the model id pins down. See
docs/format.md.
"""

import dataclasses
import struct
import zlib

from jgc import errors

MAGIC = b"JGC"
VERSION = 3
READS = (1, 2, 3)
MAX_SIDE_PX = 1 << 20
MAX_PIXELS = 1 << 28  # refuse to allocate for more than a 268-megapixel image
_FIXED = len(MAGIC) + 1 + 8 + 4
_CRC = slice(12, 16)


class FormatError(errors.Error, ValueError):
  """A file is not a jgc file, is truncated or corrupt, or needs another model."""


@dataclasses.dataclass(frozen=True)
class Coded:
  model_id: bytes
  height: int
  width: int
  streams: list[bytes]
  version: int = VERSION  # what `unpack` read, or `pack` writes


def _varint(n: int) -> bytes:
  out = bytearray()
  while True:
    byte, n = n & 0x7F, n >> 7
    out.append(byte | (0x80 if n else 0))
    if not n:
      return bytes(out)


def _read_varint(data: bytes, pos: int, what: str) -> tuple[int, int]:
  value = 0
  for shift in range(0, 35, 7):
    if pos >= len(data):
      raise FormatError(f"truncated header: it ends inside the {what}")
    byte = data[pos]
    pos += 1
    value |= (byte & 0x7F) << shift
    if not byte & 0x80:
      return value, pos
  raise FormatError(f"corrupt header: the {what} is not a valid number")


def _crc(data: bytes) -> int:
  """CRC-32 of every byte but the CRC field's."""
  return zlib.crc32(data[_CRC.stop:], zlib.crc32(data[:_CRC.start]))


def pack(coded: Coded) -> bytes:
  """The file's bytes, in `coded.version`: the current one, or 2 (see `Codec.compress`)."""
  if len(coded.model_id) != 8:
    raise ValueError("a model id has 8 bytes")
  if coded.version not in (2, 3):  # the versions whose CRC covers the header
    raise ValueError(f"format version {coded.version} is not written")
  rest = b"".join(_varint(n) for n in (coded.height, coded.width, *(len(s) for s in coded.streams[:-1])))
  data = MAGIC + bytes([coded.version]) + coded.model_id + bytes(4) + rest + b"".join(coded.streams)
  return data[:_CRC.start] + struct.pack("<I", _crc(data)) + data[_CRC.stop:]


def header_size(data: bytes, num_streams: int) -> int:
  """Bytes before the first stream of a packed file."""
  return len(data) - sum(len(s) for s in unpack(data, num_streams).streams)


def unpack(data: bytes, num_streams: int, expected_id: bytes | None = None) -> Coded:
  """Parses and checks a file; `FormatError` names the first problem found."""
  if not data:
    raise FormatError("empty file")
  if data[: len(MAGIC)] != MAGIC[: len(data)]:
    raise FormatError("not a jgc file (no 'JGC' magic)")
  if len(data) < _FIXED:
    raise FormatError(f"truncated header: {len(data)} bytes")
  version = data[3]
  if version not in READS:
    raise FormatError(f"format version {version}; this jgc reads versions {', '.join(map(str, READS))}")
  (crc,) = struct.unpack("<I", data[_CRC])
  if version >= 2 and _crc(data) != crc:
    raise FormatError("corrupt or truncated file: it fails its CRC-32 check")
  model_id = data[4:12]
  if expected_id is not None and model_id != expected_id:
    raise FormatError(f"made with model {model_id.hex()}, but the model given is {expected_id.hex()}")
  pos = _FIXED
  height, pos = _read_varint(data, pos, "image height")
  width, pos = _read_varint(data, pos, "image width")
  if not (1 <= height <= MAX_SIDE_PX and 1 <= width <= MAX_SIDE_PX) or height * width > MAX_PIXELS:
    raise FormatError(f"corrupt header: image size {height}x{width} is out of range")
  lengths = []
  for i in range(num_streams - 1):
    n, pos = _read_varint(data, pos, f"length of stream {i}")
    lengths.append(n)
  body = data[pos:]
  if sum(lengths) > len(body):
    raise FormatError(f"truncated file: the streams need more than the {len(body)} bytes left")
  if version == 1 and zlib.crc32(body) != crc:
    raise FormatError("corrupt file: the coded streams fail their CRC-32 check")
  streams, start = [], 0
  for n in lengths:
    streams.append(body[start : start + n])
    start += n
  streams.append(body[start:])
  for i, s in enumerate(streams):
    # The range coder writes whole 32-bit words (a version 1 header's lengths are not under its CRC).
    if len(s) % 4:
      raise FormatError(f"corrupt header: stream {i} is {len(s)} bytes, not a whole number of 32-bit words")
  return Coded(model_id, height, width, streams, version)
