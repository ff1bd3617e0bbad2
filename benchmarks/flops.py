"""A computation's floating-point operations, counted from its jaxpr, the same on every backend.

XLA's own cost analysis leaves out what it hands to a library: on the GPU, cuDNN's
convolutions (it counted 9.2 GFLOP for an mbt2018-mean step that is 350 GFLOP on the CPU).
This counts the convolutions and matrix products of the traced program instead, the
backward pass included (it is in the jaxpr of a step), scans times their length, after
dropping what the outputs do not need. Elementwise
work is left out: it is small next to them, and it is not what a chip's peak rate measures.
"""

import math
import time

import jax
import jax.extend.core as jex
from jax._src.interpreters import partial_eval as pe  # dce_jaxpr: JAX has no public dead-code pass


def step_flops(jaxpr: jex.ClosedJaxpr) -> int:
  """`flops` of what a computation's outputs need: a traced program still holds what XLA drops
  as dead (the unused halves of the CPU forms' custom gradients doubled the count)."""
  inner = jaxpr.jaxpr
  live, _ = pe.dce_jaxpr(inner, [True] * len(inner.outvars))
  return flops(live)


def flops(jaxpr: jex.ClosedJaxpr | jex.Jaxpr) -> int:
  """2 x the multiply-adds of every convolution and matrix product of `jaxpr`."""
  jaxpr = getattr(jaxpr, "jaxpr", jaxpr)
  total = 0
  for eqn in jaxpr.eqns:
    name = eqn.primitive.name
    if name == "conv_general_dilated":
      kernel, out = eqn.invars[1].aval, eqn.outvars[0].aval
      out_features = kernel.shape[eqn.params["dimension_numbers"].rhs_spec[0]]
      # An input dilated by d (a transposed convolution, an input gradient) is zero at all but
      # one of d positions: those products are not the model's.
      total += 2 * out.size * (kernel.size // out_features) // math.prod(eqn.params["lhs_dilation"])
    elif name == "dot_general":
      (contracting, _), _ = eqn.params["dimension_numbers"]
      lhs = eqn.invars[0].aval
      total += 2 * eqn.outvars[0].aval.size * math.prod(lhs.shape[d] for d in contracting)
    inner = sum(flops(sub) for sub in jex.jaxprs_in_params(eqn.params))
    total += inner * (eqn.params["length"] if name == "scan" else 1)
  return total


def matmul_tflop_per_s(dtype: str, n: int = 8192, repeats: int = 10) -> float:
  """The device's rate on a large matrix product of random values in `dtype`: the most a
  convolutional step can reach (a product of `ones` can run faster than real data)."""
  a = jax.random.normal(jax.random.key(0), (n, n), dtype)
  f = jax.jit(lambda a: jax.numpy.matmul(a, a, preferred_element_type=jax.numpy.float32))
  jax.block_until_ready(f(a))
  t = time.perf_counter()
  for _ in range(repeats):
    jax.block_until_ready(f(a))
  return 2 * n**3 * repeats / (time.perf_counter() - t) / 1e12
