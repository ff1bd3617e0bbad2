"""Range-coder benchmark on a HiFiC-sized latent and hyper-latent.

    python benchmarks/coder.py

Latent y: 1x32x48x220 (a 512x768 image at HiFiC's factor 16), scales
log-uniform in 0.11..20 snapped to the 64-entry table; hyper-latent z:
1x8x12x320 under a freshly initialized factorized prior. Reports encode and
decode throughput (table grouping included, table building excluded: tables are
built once per model) and the size over the ideal `-sum(log2 p)` of the same
integer tables. Last line: one JSON object.
"""

import json
import time

import jax
import jax.numpy as jnp
import numpy as np

from jgc import entropy
from jgc.codec import IndexedCoder, factorized_tables, scale_tables


def _best_of(fn, repeats):
  best = float("inf")
  for _ in range(repeats):
    t = time.perf_counter()
    out = fn()
    best = min(best, time.perf_counter() - t)
  return best, out


def main(repeats: int = 7) -> dict:
  rng = np.random.default_rng(0)
  shape_y = (1, 32, 48, 220)
  sigma = np.exp(rng.uniform(np.log(0.11), np.log(20.0), shape_y)).astype(np.float32)
  idx_y = np.asarray(entropy.scale_index(sigma))
  y = np.round(rng.normal(size=shape_y) * entropy.SCALE_TABLE[idx_y]).astype(np.int32)

  prior = entropy.FactorizedPrior(channels=320)
  variables = prior.init({"params": jax.random.key(0)}, jnp.zeros((1, 1, 1, 320)), train=False)

  t = time.perf_counter()
  coders = {"y": IndexedCoder(scale_tables()), "z": IndexedCoder(factorized_tables(prior, variables))}
  table_s = time.perf_counter() - t

  # z drawn from the prior's own tables, as a calibrated model's would be.
  z_tables = coders["z"].tables
  z_sym = np.empty((8 * 12, 320), np.int32)
  for c in range(320):
    p = z_tables.pmf(c)[:-1].astype(np.float64)
    z_sym[:, c] = z_tables.offsets[c] + rng.choice(len(p), size=8 * 12, p=p / p.sum())
  z_sym = z_sym.reshape(1, 8, 12, 320)
  idx_z = np.broadcast_to(np.arange(320, dtype=np.int32), z_sym.shape)
  streams = {"y": (y, idx_y), "z": (z_sym, idx_z)}

  def encode():
    return {k: coders[k].encode(*streams[k]) for k in streams}

  enc_s, data = _best_of(encode, repeats)

  def decode():
    return {k: coders[k].decode(data[k], streams[k][1]) for k in streams}

  dec_s, decoded = _best_of(decode, repeats)
  for k in streams:
    assert np.array_equal(decoded[k], streams[k][0]), f"stream {k} did not round-trip"

  n = y.size + z_sym.size
  ideal_bits = sum(coders[k].ideal_bits(*streams[k]) for k in streams)
  coded_bits = 8 * sum(len(d) for d in data.values())
  result = {
      "symbols": int(n),
      "coded_bytes": coded_bits // 8,
      "ideal_bytes": round(ideal_bits / 8, 1),
      "overhead_pct": round(100 * (coded_bits / ideal_bits - 1), 4),
      "enc_msym_s": round(n / enc_s / 1e6, 2),
      "dec_msym_s": round(n / dec_s / 1e6, 2),
      "encode_ms": round(1e3 * enc_s, 2),
      "decode_ms": round(1e3 * dec_s, 2),
      "table_build_ms": round(1e3 * table_s, 1),
  }
  print(f"{n} symbols: {result['coded_bytes']} bytes, ideal {result['ideal_bytes']} "
        f"(+{result['overhead_pct']}%)")
  print(f"encode {result['enc_msym_s']} Msym/s, decode {result['dec_msym_s']} Msym/s")
  return result


if __name__ == "__main__":
  print(json.dumps(main()))
