"""Each convolution of mbt2018-mean q3 (batch 8, 256x256 crops) in Flax's native
form and in `jgc.models.convs`'s, forward and forward + both gradients.

    python benchmarks/convs.py [--repeats 3]

On the CPU `jgc.models.convs` picks its forms from these figures; run it on
another backend to see whether they would help there (elsewhere jgc keeps the
native forms). Last line: one JSON object, a row per layer with seconds for
`native` and `jgc` (`fwd`, `fwd_grad`), and the totals.
"""

import argparse
import functools
import json
import time

import jax
import numpy as np

from jgc.models import convs

DIMS = ("NHWC", "HWIO", "NHWC")

# (name, transposed, input side, in channels, out channels): g_a's four 5x5
# stride-2 convs, then g_s's four 5x5 stride-2 transposed convs.
LAYERS = [("g_a.0", False, 256, 3, 128), ("g_a.1", False, 128, 128, 128), ("g_a.2", False, 64, 128, 128),
          ("g_a.3", False, 32, 128, 192), ("g_s.0", True, 16, 192, 128), ("g_s.1", True, 32, 128, 128),
          ("g_s.2", True, 64, 128, 128), ("g_s.3", True, 128, 128, 3)]


def seconds(f, *args, repeats: int) -> float:
  f = jax.jit(f)
  jax.block_until_ready(f(*args))
  t = time.perf_counter()
  for _ in range(repeats):
    jax.block_until_ready(f(*args))
  return round((time.perf_counter() - t) / repeats, 4)


def main() -> dict:
  parser = argparse.ArgumentParser()
  parser.add_argument("--repeats", type=int, default=3)
  args = parser.parse_args()
  rng = np.random.default_rng(0)
  result = {"backend": jax.default_backend(), "layers": {}}
  totals = {"native": 0.0, "jgc": 0.0}
  for name, transposed, side, cin, cout in LAYERS:
    x = rng.normal(size=(8, side, side, cin)).astype(np.float32)
    kernel = (rng.normal(size=(5, 5, cin, cout)) * 0.05).astype(np.float32)
    if transposed:
      native = functools.partial(jax.lax.conv_transpose, strides=(2, 2), padding="SAME", dimension_numbers=DIMS)
      ours = functools.partial(convs.subpixel_conv_transpose, strides=(2, 2))
    else:
      native = functools.partial(jax.lax.conv_general_dilated, window_strides=(2, 2), padding="SAME",
                                 dimension_numbers=DIMS)
      ours = functools.partial(convs.strided_conv, strides=(2, 2), padding="SAME")
    row = {}
    for form, f in (("native", native), ("jgc", ours)):
      grad = jax.grad(lambda x, k, f=f: (f(x, k) ** 2).sum(), argnums=(0, 1))
      row[form] = {"fwd": seconds(f, x, kernel, repeats=args.repeats),
                   "fwd_grad": seconds(grad, x, kernel, repeats=args.repeats)}
      totals[form] += row[form]["fwd_grad"]
    np.testing.assert_allclose(jax.jit(ours)(x, kernel), jax.jit(native)(x, kernel), rtol=1e-4, atol=1e-3)
    result["layers"][name] = row
    print(json.dumps({name: row}), flush=True)
  result["fwd_grad_total_s"] = {k: round(v, 3) for k, v in totals.items()}
  return result


if __name__ == "__main__":
  print(json.dumps(main()))
