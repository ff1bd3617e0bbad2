import jax
import jax.numpy as jnp
import numpy as np
import pytest
from model_helpers import RNGS, assert_finite_forward_and_gradients, image, init

from jgc.models import HyperpriorCodec
from jgc.models.hyperprior import CONTEXT_KERNEL


@pytest.mark.parametrize("prior", ["scale", "mean_scale", "autoregressive"])
def test_each_prior_trains_with_finite_gradients(prior):
  model = HyperpriorCodec(prior=prior, channels=8, latent_channels=12)
  _, aux = assert_finite_forward_and_gradients(model, image((2, 32, 48, 3)))
  assert aux["quantized"]["y"].shape == (2, 2, 3, 12)
  if prior == "scale":
    assert float(jnp.abs(aux["mean"]).max()) == 0


def test_unknown_prior_is_a_clear_error():
  with pytest.raises(ValueError, match="unknown prior"):
    init(HyperpriorCodec(prior="laplace", channels=4, latent_channels=4), image((1, 16, 16, 3)))


def test_full_size_mbt2018_parameter_count():
  # CompressAI's mbt2018 at N=192, M=320: about 25.5M parameters.
  x = jnp.zeros((1, 64, 64, 3))
  params = jax.eval_shape(lambda: HyperpriorCodec("autoregressive", 192, 320).init(RNGS, x, train=False))
  n = sum(a.size for a in jax.tree.leaves(params["params"]))
  assert n == pytest.approx(25.5e6, rel=0.02)


def test_sequential_decoding_reproduces_the_parallel_parameters():
  model = HyperpriorCodec(prior="autoregressive", channels=8, latent_channels=6)
  x = image((1, 80, 96, 3))
  v = init(model, x)
  _, aux = jax.jit(lambda v, x: model.apply(v, x, train=False))(v, x)
  y_hat = aux["quantized"]["y"]
  hyper = model.apply(v, aux["quantized"]["z"], y_hat.shape[1:3], method="hyper_parameters")
  k = CONTEXT_KERNEL // 2
  # The masked context conv and the 1x1 entropy-parameter net over one position's 5x5 neighbourhood;
  # the centre's parameters are that position's.
  mean_scale = jax.jit(lambda w, h: model.apply(v, w, h, method="mean_scale"))
  _, hh, ww, _ = y_hat.shape
  decoded = jnp.zeros((1, hh + 2 * k, ww + 2 * k, y_hat.shape[-1]))
  hyper = jnp.pad(hyper, ((0, 0), (k, k), (k, k), (0, 0)))
  means, scales = np.zeros(y_hat.shape), np.zeros(y_hat.shape)
  for i in range(hh):
    for j in range(ww):
      # The window holds only what a decoder has at this point: earlier positions.
      window = np.s_[:, i : i + 2 * k + 1, j : j + 2 * k + 1]
      m, s = mean_scale(decoded[window], hyper[window])
      means[:, i, j], scales[:, i, j] = m[:, k, k], s[:, k, k]
      decoded = decoded.at[:, i + k, j + k].set(y_hat[:, i, j])
  np.testing.assert_allclose(means, aux["mean"], atol=1e-5)
  np.testing.assert_allclose(scales, aux["scale"], atol=1e-5)
