"""Narrow model variants and checks shared by the model tests."""

import jax
import jax.numpy as jnp
import numpy as np

from jgc import entropy
from jgc.models import HiFiC

NARROW = dict(encoder_channels=(4, 8, 8, 8, 16), generator_channels=(16, 8, 8, 8, 4), num_residual_blocks=1)
RNGS = {"params": jax.random.key(0), "noise": jax.random.key(1)}


def image(shape=(2, 32, 48, 3), seed=0):
  return jax.random.uniform(jax.random.key(seed), shape)


def init(model, x):
  return model.init(RNGS, x, train=True)


def assert_finite_forward_and_gradients(model, x):
  """One training forward and its parameter gradients are finite; shapes match."""
  variables = init(model, x)

  @jax.jit
  def loss_and_grad(params):
    def loss(p):
      x_hat, aux = model.apply({**variables, "params": p}, x, train=True, rngs={"noise": jax.random.key(2)})
      rate = sum(b.sum() for b in aux["bits"].values())
      return ((x_hat - x) ** 2).mean() + 1e-3 * rate, (x_hat, aux)
    return jax.value_and_grad(loss, has_aux=True)(params)

  (value, (x_hat, aux)), grads = loss_and_grad(variables["params"])
  assert x_hat.shape == x.shape
  assert np.isfinite(float(value))
  leaves = jax.tree.leaves(grads)
  assert all(bool(jnp.all(jnp.isfinite(g))) for g in leaves)
  assert sum(float(jnp.abs(g).sum()) > 0 for g in leaves) > len(leaves) // 2
  for name in ("latents", "quantized", "bits", "bits_rounded"):
    assert aux[name], name
  for b in aux["bits"].values():
    assert b.shape == (x.shape[0],) and bool(jnp.all(b > 0))
  return variables, aux


def float_side_info(model, variables, z_symbols, latent_hw):
  """`(mean, scale indices)` of y from the hyper-latent's symbols, computed in float by the model's own
  layers: the reference for the codec's exact fixed point (`jgc.codec.sideinfo`). Not for the
  autoregressive prior, whose parameters need the decoded neighbours."""

  def side_info(m):
    prior = m.hyperprior if isinstance(m, HiFiC) else m
    z_hat = entropy.dequantize(z_symbols, prior.z_prior.medians())
    if isinstance(m, HiFiC):
      mean, scale = prior.mean_scale(z_hat, latent_hw)
    else:
      mean, scale = m.mean_scale(None, m.hyper_parameters(z_hat, latent_hw))
    return mean, entropy.scale_index(scale)

  return model.apply(variables, method=side_info)
