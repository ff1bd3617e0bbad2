"""A lower bound whose gradient does not die below the bound.

Ballé et al. 2018 (§6.1 of the appendix; TFC `ops/bound_ops.py`): `max(x, b)`
would stop all gradient once `x < b`, so a scale or likelihood that undershoots
could never recover. The gradient passes where `x >= b`, or where it pushes `x`
upwards.
"""

import functools

import jax
import jax.numpy as jnp


@functools.partial(jax.custom_vjp, nondiff_argnums=(1,))
def lower_bound(x: jax.Array, bound: float) -> jax.Array:
  """Returns `max(x, bound)` with the pass-through gradient described above."""
  return jnp.maximum(x, bound)


def _lower_bound_fwd(x, bound):
  return jnp.maximum(x, bound), x


def _lower_bound_bwd(bound, x, g):
  # Descent moves x by -g, so g < 0 pushes x up, back towards the bound.
  passes = (x >= bound) | (g < 0)
  return (jnp.where(passes, g, jnp.zeros_like(g)),)


lower_bound.defvjp(_lower_bound_fwd, _lower_bound_bwd)
