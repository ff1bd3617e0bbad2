"""Range coding of integer symbols under indexed CDF tables (constriction).

Each symbol is coded with the table its index names: the channel for a
factorized prior, the scale index for the Gaussian conditional. Symbols are
grouped by table and each group is coded in one call, so the Python overhead is
per table rather than per symbol; the decoder knows the indices too (they come
from the side information), so it can regroup identically.

Values outside a table's range are never clipped: the table's escape symbol is
coded, then the value itself, zig-zag mapped, as an Elias-gamma-like pair of
a bit length (uniform over 0..32) and the bits below the leading one.
"""

import constriction
import numpy as np

from jgc import errors
from jgc.codec.tables import CdfTables

_Uniform = constriction.stream.model.Uniform
_MAX_BITS = 32  # zig-zag values of int32 symbols have at most 32 bits
_CHUNK_BITS = 16  # constriction's uniform model takes sizes below 2**24


class StreamError(errors.Error, ValueError):
  """A coded stream cannot be decoded (truncated, corrupt or foreign)."""


class IndexedCoder:
  """Encodes and decodes int32 symbols, each under the table of its index."""

  def __init__(self, tables: CdfTables):
    self.tables = tables
    self._models = [
        constriction.stream.model.Categorical(tables.pmf(i).astype(np.float64), perfect=False)
        for i in range(tables.num_tables)
    ]
    self._escape = tables.sizes.astype(np.int64) - 1

  def _group(self, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    indices = np.asarray(indices).reshape(-1)
    if indices.size and (indices.min() < 0 or indices.max() >= self.tables.num_tables):
      raise ValueError(f"table indices must lie in [0, {self.tables.num_tables})")
    # Small integer keys make numpy's stable sort a radix sort.
    key = indices.astype(np.uint8 if self.tables.num_tables <= 256 else np.uint16)
    order = np.argsort(key, kind="stable")
    counts = np.bincount(key, minlength=self.tables.num_tables)
    return order, counts

  def _positions(self, symbols: np.ndarray, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Table positions of the symbols (escape where out of range) and an escape mask."""
    pos = symbols.astype(np.int64) - self.tables.offsets[indices]
    escape = self._escape[indices]
    out = (pos < 0) | (pos >= escape)
    return np.where(out, escape, pos), out

  def encode(self, symbols: np.ndarray, indices: np.ndarray) -> bytes:
    """Codes `symbols` (any shape, int32 values) under `tables[indices]`."""
    encoder = constriction.stream.queue.RangeEncoder()
    self.encode_into(encoder, symbols, indices)
    return encoder.get_compressed().astype("<u4").tobytes()

  def decode(self, data: bytes, indices: np.ndarray) -> np.ndarray:
    """Inverse of `encode`: int32 symbols with the shape of `indices`."""
    decoder = self.decoder(data)
    return self.decode_from(decoder, indices)

  def encode_into(self, encoder: constriction.stream.queue.RangeEncoder, symbols: np.ndarray,
                  indices: np.ndarray) -> None:
    """Appends one chunk to a running `RangeEncoder`: autoregressive models code
    position by position, each chunk's indices known only once the previous
    chunks are decoded."""
    symbols = np.asarray(symbols).reshape(-1)
    indices = np.asarray(indices).reshape(-1)
    if symbols.shape != indices.shape:
      raise ValueError(f"{symbols.size} symbols but {indices.size} table indices")
    order, counts = self._group(indices)
    sorted_symbols = symbols[order]
    pos, out = self._positions(sorted_symbols, indices[order])
    pos = pos.astype(np.int32)
    start = 0
    for table, n in enumerate(counts):
      if n:
        encoder.encode(pos[start : start + n], self._models[table])
        start += n
    _encode_escapes(encoder, sorted_symbols[out].astype(np.int64))

  @staticmethod
  def decoder(data: bytes) -> constriction.stream.queue.RangeDecoder:
    """A `RangeDecoder` over a coded stream, for `decode_from`."""
    if len(data) % 4:
      raise StreamError(f"a coded stream is a whole number of 32-bit words, got {len(data)} bytes")
    return constriction.stream.queue.RangeDecoder(np.frombuffer(data, "<u4").astype(np.uint32))

  def decode_from(self, decoder: constriction.stream.queue.RangeDecoder, indices: np.ndarray) -> np.ndarray:
    """Reads the next chunk written by `encode_into`, for these table indices."""
    indices = np.asarray(indices)
    shape = indices.shape
    indices = indices.reshape(-1)
    order, counts = self._group(indices)
    pos = np.empty(indices.size, np.int64)
    start = 0
    try:
      for table, n in enumerate(counts):
        if n:
          pos[start : start + n] = decoder.decode(self._models[table], int(n))
          start += n
      sorted_indices = indices[order]
      out = pos == self._escape[sorted_indices]
      values = pos + self.tables.offsets[sorted_indices]
      values[out] = _decode_escapes(decoder, int(out.sum()))
    except (AssertionError, ValueError, RuntimeError, OverflowError) as e:  # constriction raises AssertionError
      raise StreamError(f"corrupt coded stream: {e}") from None
    except BaseException as e:  # a Rust panic inside constriction (pyo3's PanicException)
      if type(e).__name__ != "PanicException":
        raise
      raise StreamError(f"corrupt coded stream: {e}") from None
    result = np.empty(indices.size, np.int32)
    result[order] = values
    return result.reshape(shape)

  def ideal_bits(self, symbols: np.ndarray, indices: np.ndarray) -> float:
    """`-sum(log2 p)` of the symbols under these tables, escapes included.

    Escape payloads are not counted: they are the price of values the model
    considers (almost) impossible.
    """
    symbols = np.asarray(symbols).reshape(-1)
    indices = np.asarray(indices).reshape(-1)
    pos, _ = self._positions(symbols, indices)
    counts = np.diff(self.tables.cdf.astype(np.int64), axis=1)[indices, pos]
    return float(self.tables.precision * symbols.size - np.log2(counts).sum())


def _zigzag(v: np.ndarray) -> np.ndarray:
  return np.where(v >= 0, 2 * v, -2 * v - 1)


def _unzigzag(u: np.ndarray) -> np.ndarray:
  return np.where(u % 2 == 0, u // 2, -(u + 1) // 2)


def _bit_length(u: np.ndarray) -> np.ndarray:
  n = np.zeros(u.shape, np.int64)
  for b in range(_MAX_BITS):
    n += (u >> b) > 0
  return n


def _encode_escapes(encoder: constriction.stream.queue.RangeEncoder, values: np.ndarray) -> None:
  if not values.size:
    return
  u = _zigzag(values)
  nbits = _bit_length(u)
  encoder.encode(nbits.astype(np.int32), _Uniform(_MAX_BITS + 1))
  # Below the leading one, in 16-bit chunks from the least significant.
  remaining = np.maximum(nbits - 1, 0)
  shift = 0
  while np.any(remaining > 0):
    k = np.minimum(remaining, _CHUNK_BITS)
    live = k > 0
    chunk = (u[live] >> shift) & ((1 << k[live]) - 1)
    encoder.encode(chunk.astype(np.int32), _Uniform(), (1 << k[live]).astype(np.int32))
    remaining = remaining - k
    shift += _CHUNK_BITS


def _decode_escapes(decoder: constriction.stream.queue.RangeDecoder, n: int) -> np.ndarray:
  if not n:
    return np.zeros(0, np.int64)
  nbits = decoder.decode(_Uniform(_MAX_BITS + 1), n).astype(np.int64)
  u = np.where(nbits > 0, np.int64(1) << np.maximum(nbits - 1, 0), 0)
  remaining = np.maximum(nbits - 1, 0)
  shift = 0
  while np.any(remaining > 0):
    k = np.minimum(remaining, _CHUNK_BITS)
    live = k > 0
    chunk = decoder.decode(_Uniform(), (1 << k[live]).astype(np.int32)).astype(np.int64)
    u[live] |= chunk << shift
    remaining = remaining - k
    shift += _CHUNK_BITS
  return _unzigzag(u)
