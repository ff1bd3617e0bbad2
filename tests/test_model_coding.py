"""The models' coding helpers give the range coder all it needs, and decoding
what it coded reproduces the evaluation forward pass."""

import functools

import jax.numpy as jnp
import numpy as np
import pytest
from model_helpers import NARROW, float_side_info, image, init

from jgc import entropy
from jgc.codec import CdfTables, IndexedCoder, factorized_tables, scale_tables
from jgc.models import GC, VAEGAN, HiFiC, HyperpriorCodec

GAUSS = IndexedCoder(scale_tables())


def _channel_indices(symbols):
  return np.broadcast_to(np.arange(symbols.shape[-1], dtype=np.int32), symbols.shape)


def _code(coder, symbols, indices):
  return coder.decode(coder.encode(np.asarray(symbols), np.asarray(indices)), np.asarray(indices))


@pytest.mark.parametrize(
    "model, prior_path",
    [
        (HiFiC(latent_channels=8, hyper_channels=8, **NARROW), ("hyperprior", "z_prior")),
        (HyperpriorCodec(prior="mean_scale", channels=8, latent_channels=12), ("z_prior",)),
        (HyperpriorCodec(prior="scale", channels=8, latent_channels=12), ("z_prior",)),
    ],
)
def test_hyperprior_models_round_trip_through_the_coder(model, prior_path):
  x = image((1, 40, 56, 3))
  v = init(model, x)
  hw = x.shape[1:3]
  y, z_sym = model.apply(v, x, method="encode_latents")
  assert z_sym.dtype == jnp.int32
  prior = entropy.FactorizedPrior(z_sym.shape[-1])
  prior_vars = {"params": functools.reduce(lambda p, k: p[k], prior_path, v["params"])}
  z_dec = _code(IndexedCoder(factorized_tables(prior, prior_vars)), z_sym, _channel_indices(z_sym))
  mean, idx = float_side_info(model, v, z_dec, y.shape[1:3])
  assert idx.dtype == jnp.int32 and int(idx.min()) >= 0 and int(idx.max()) < 64
  y_sym = entropy.symbols(y, mean)
  y_dec = _code(GAUSS, y_sym, idx)
  x_dec = model.apply(v, jnp.asarray(y_dec), mean, hw, method="decode_latents")
  x_eval, _ = model.apply(v, x, train=False)
  np.testing.assert_allclose(x_dec, jnp.clip(x_eval, 0, 1), atol=1e-5)


def test_gc_centre_indices_round_trip_through_the_coder():
  model = GC(latent_channels=4, **NARROW)
  x = image((1, 32, 48, 3))
  v = init(model, x)
  idx = model.apply(v, x, method="encode_latents")
  pmf = np.exp2(np.asarray(model.apply(v, method="log2_pmf"), np.float64))
  coder = IndexedCoder(CdfTables.from_pmfs(list(pmf), np.zeros(4, np.int32)))
  dec = _code(coder, idx, _channel_indices(idx))
  x_eval, _ = model.apply(v, x, train=False)
  np.testing.assert_allclose(model.apply(v, jnp.asarray(dec), x.shape[1:3], method="decode_latents"),
                             jnp.clip(x_eval, 0, 1), atol=1e-5)


def test_vaegan_posterior_mean_round_trips_through_the_coder():
  model = VAEGAN(latent_channels=4, **NARROW)
  x = image((1, 32, 48, 3))
  v = init(model, x)
  sym = model.apply(v, x, method="encode_latents")
  prior = entropy.FactorizedPrior(4)
  dec = _code(IndexedCoder(factorized_tables(prior, {"params": v["params"]["prior"]})), sym, _channel_indices(sym))
  x_eval, _ = model.apply(v, x, train=False)
  np.testing.assert_allclose(model.apply(v, jnp.asarray(dec), x.shape[1:3], method="decode_latents"),
                             jnp.clip(x_eval, 0, 1), atol=1e-5)
