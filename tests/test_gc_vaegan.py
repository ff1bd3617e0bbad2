import jax
import jax.numpy as jnp
import numpy as np
import pytest
from model_helpers import NARROW, RNGS, assert_finite_forward_and_gradients, image, init

from jgc.models import GC, VAEGAN, FeatureDiscriminator, MultiScaleDiscriminator
from jgc.models.gc import centers, quantize_to_centers


def test_center_quantizer_is_hard_forward_and_soft_backward():
  c = centers(5)
  np.testing.assert_allclose(c, [-2, -1, 0, 1, 2])
  w = jnp.array([-3.0, -0.6, 0.2, 1.49, 7.0])
  w_hat, idx = quantize_to_centers(w, c, 1.0)
  np.testing.assert_allclose(w_hat, [-2, -1, 0, 1, 2], atol=1e-6)
  np.testing.assert_array_equal(idx, [0, 1, 2, 3, 4])
  g = jax.grad(lambda w: quantize_to_centers(w, c, 1.0)[0].sum())(w)
  assert bool(jnp.all(jnp.isfinite(g))) and float(jnp.abs(g).sum()) > 0


def test_gc_trains_and_a_learned_prior_beats_the_fixed_rate():
  model = GC(latent_channels=4, num_centers=5, **NARROW)
  x = image((2, 32, 32, 3))
  v, aux = assert_finite_forward_and_gradients(model, x)
  fixed_bits = 4 * 2 * 2 * np.log2(5)
  np.testing.assert_allclose(aux["bits"]["w"], fixed_bits, rtol=1e-5)  # uniform prior at init
  idx = np.asarray(aux["symbols"]["w"]).reshape(-1, 4)
  freq = np.stack([np.bincount(idx[:, c], minlength=5) + 0.1 for c in range(4)])
  v["params"]["prior_logits"] = jnp.log(freq / freq.sum(1, keepdims=True))
  _, aux = model.apply(v, x, train=False)
  assert float(aux["bits"]["w"].sum()) < 2 * fixed_bits


def test_multiscale_discriminator_has_three_scales_and_exposes_features():
  d = MultiScaleDiscriminator(channels=(4, 8, 8, 8))
  x = image((1, 64, 64, 3))
  v = d.init(RNGS, x, None, train=True)
  logits, features = d.apply(v, x, None, train=True)
  assert [lg.shape[1] for lg in logits] == [8, 4, 2]
  assert len(features) == 12


def test_vaegan_kl_and_training():
  model = VAEGAN(latent_channels=4, **NARROW)
  x = image((2, 32, 32, 3))
  v, aux = assert_finite_forward_and_gradients(model, x)
  _, aux = model.apply(v, x, train=False)
  mean, log_var = aux["latents"]["y"], aux["log_var"]
  want = 0.5 * (mean**2 + jnp.exp(log_var) - 1 - log_var).reshape(2, -1).sum(1)
  np.testing.assert_allclose(aux["kl"], want, rtol=1e-5)
  q = aux["quantized"]["y"] - v["params"]["prior"]["quantiles"][:, 1]
  np.testing.assert_allclose(q, jnp.round(q), atol=1e-4)


def test_vaegan_rate_does_not_train_the_encoder():
  model = VAEGAN(latent_channels=4, **NARROW)
  x = image((1, 32, 32, 3))
  v = init(model, x)
  def rate(p):
    return model.apply({"params": p}, x, train=True, rngs={"noise": jax.random.key(0)})[1]["bits"]["y"].sum()

  g = jax.grad(rate)(v["params"])
  assert float(sum(jnp.abs(a).sum() for a in jax.tree.leaves(g["encoder"]))) == 0
  assert float(sum(jnp.abs(a).sum() for a in jax.tree.leaves(g["prior"]))) > 0


@pytest.mark.parametrize("pretrained", [False, True])
def test_feature_discriminator_exposes_its_hidden_layer(pretrained):
  d = FeatureDiscriminator(channels=(4, 8, 8, 8), feature_layer=1, pretrained_features=pretrained)
  x = image((2, 64, 64, 3))
  v = d.init(RNGS, x, None, train=True)
  (logits,), (feat,) = d.apply(v, x, None, train=True)
  assert logits.shape == (2, 1) and feat.shape[-1] == 8
  # The frozen AlexNet lives outside the parameter tree, so no optimizer can move it.
  n = sum(a.size for a in jax.tree.leaves(v["params"]))
  assert n < 20000
