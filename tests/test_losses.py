import jax
import jax.numpy as jnp
import numpy as np
import pytest
from codec_helpers import CONFIGS
from model_helpers import image

from jgc.models import build_model
from jgc.models.lpips import lpips
from jgc.training import losses

RULE = dict(target_bpp=0.14, lambda_a=2.0, lambda_b=2.0**-6, warmup_steps=50_000,
            warmup_target_factor=0.20 / 0.14, warmup_rate_factor=0.5)


def test_rate_weight_switches_at_the_target_and_warms_up():
  after = jnp.int32(60_000)
  above, target = losses.rate_weight(jnp.array([0.2, 0.1]), after, **RULE)  # mean 0.15 > 0.14
  below, _ = losses.rate_weight(jnp.array([0.1, 0.1]), after, **RULE)
  assert float(above) == 2.0 and float(below) == 2.0**-6
  assert float(target) == pytest.approx(0.14)
  # In the warm-up the target is 0.20 and the weight is halved: 0.15 is now below.
  warm, warm_target = losses.rate_weight(jnp.array([0.2, 0.1]), jnp.int32(10), **RULE)
  assert float(warm_target) == pytest.approx(0.20)
  assert float(warm) == 2.0**-7
  fixed, target = losses.rate_weight(jnp.array([5.0]), after, **{**RULE, "target_bpp": None, "lambda_a": 1.0})
  assert float(fixed) == 1.0 and target is None  # nothing to log, rather than NaN


def test_mse_is_on_the_0_255_scale_and_psnr_matches_it():
  x = jnp.zeros((1, 4, 4, 3))
  x_hat = x + 1.0 / 255.0
  assert float(losses.mse_255(x, x_hat)) == pytest.approx(1.0, rel=1e-5)
  assert float(losses.psnr(x, x_hat)) == pytest.approx(20 * np.log10(255.0), rel=1e-5)


def test_lpips_is_zero_on_identical_images_and_grows_with_noise():
  x = image((2, 64, 64, 3))
  noise = jax.random.normal(jax.random.key(3), x.shape)
  same = lpips(x, x)
  small = lpips(x, jnp.clip(x + 0.02 * noise, 0, 1))
  large = lpips(x, jnp.clip(x + 0.2 * noise, 0, 1))
  assert same.shape == (2,)
  assert float(jnp.max(jnp.abs(same))) < 1e-6
  assert bool(jnp.all(small > 1e-4)) and bool(jnp.all(large > small))
  np.testing.assert_allclose(lpips(x, x[::-1]), lpips(x[::-1], x), rtol=1e-4)


@pytest.mark.parametrize("kind", [k for k in losses.GAN_LOSSES if k != "oasis"])
def test_gan_losses_reward_the_right_side(kind):
  good_d = losses.discriminator_loss([jnp.full((2, 3), 3.0)], [jnp.full((2, 3), -3.0)], kind)
  bad_d = losses.discriminator_loss([jnp.full((2, 3), -3.0)], [jnp.full((2, 3), 3.0)], kind)
  assert float(good_d) < float(bad_d)
  fooled = losses.generator_loss([jnp.full((2, 3), 3.0)], kind)
  caught = losses.generator_loss([jnp.full((2, 3), -3.0)], kind)
  assert float(fooled) < float(caught)


def test_oasis_rewards_the_right_class_and_is_log_classes_at_chance():
  labels = jnp.array([[[0, 2], [1, 1]]])  # codes; class c + 1 is "real, code c", class 0 "fake"
  real = 4.0 * jax.nn.one_hot(labels + 1, 4)
  fake = 4.0 * jax.nn.one_hot(jnp.zeros_like(labels), 4)
  good_d = losses.discriminator_loss([real], [fake], "oasis", labels)
  assert float(good_d) < float(losses.discriminator_loss([fake], [real], "oasis", labels))
  assert float(losses.generator_loss([real], "oasis", labels)) < float(losses.generator_loss([fake], "oasis", labels))
  # A wrong code is as bad for G as "fake".
  wrong = 4.0 * jax.nn.one_hot((labels + 1) % 3 + 1, 4)
  assert float(losses.generator_loss([wrong], "oasis", labels)) == pytest.approx(
      float(losses.generator_loss([fake], "oasis", labels)))
  zero = [jnp.zeros((1, 2, 2, 4))]
  assert float(losses.discriminator_loss(zero, zero, "oasis", labels)) == pytest.approx(np.log(4), rel=1e-6)


def test_non_saturating_values_at_chance():
  zero = [jnp.zeros((1, 4, 4, 1))]
  assert float(losses.discriminator_loss(zero, zero, "non_saturating")) == pytest.approx(2 * np.log(2), rel=1e-6)
  assert float(losses.generator_loss(zero, "non_saturating")) == pytest.approx(np.log(2), rel=1e-6)
  with pytest.raises(ValueError, match="unknown GAN loss"):
    losses.generator_loss(zero, "wasserstein")


def test_feature_terms_pull_only_the_fake_side():
  real, fake = [jnp.ones((1, 2, 2, 3))], [jnp.zeros((1, 2, 2, 3))]
  assert float(losses.feature_matching(real, fake)) == 1.0
  assert float(losses.learned_similarity(real, real)) == 0.0
  g_real, g_fake = jax.grad(lambda r, f: losses.feature_matching(r, f), argnums=(0, 1))(real, fake)
  assert float(jnp.abs(g_real[0]).sum()) == 0.0 and float(jnp.abs(g_fake[0]).sum()) > 0


def test_sparsity_is_the_mean_magnitude_of_the_latent_each_model_names():
  assert float(losses.sparsity(jnp.array([[-2.0, 0.0, 1.0]]))) == 1.0
  x = jnp.zeros((1, 32, 32, 3))
  for kind, cfg in CONFIGS.items():
    model = build_model(cfg)
    _, aux = jax.eval_shape(lambda m=model: m.init_with_output(jax.random.key(0), x, train=False)[0])
    assert model.MAIN_LATENT in aux["quantized"] and model.MAIN_LATENT in aux["latents"], kind
