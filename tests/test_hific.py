import jax
import jax.numpy as jnp
import numpy as np
import pytest
from model_helpers import NARROW, RNGS, assert_finite_forward_and_gradients, image, init

from jgc.models import ConditionalPatchDiscriminator, HiFiC, build_discriminator, build_model
from jgc.models.transforms import Generator

TINY = HiFiC(latent_channels=8, hyper_channels=8, **NARROW)
# The generator of TINY with three residual blocks.
GENERATOR = dict(channels=NARROW["generator_channels"], num_residual_blocks=3)


def _count(tree):
  return sum(x.size for x in jax.tree.leaves(tree))


def test_full_size_parameter_counts_match_the_official_model():
  x = jnp.zeros((1, 256, 256, 3))
  params = jax.eval_shape(lambda: HiFiC().init(RNGS, x, train=False))["params"]
  assert _count(params) == pytest.approx(181.5e6, rel=0.01)
  assert _count(params["generator"]) == pytest.approx(156.8e6, rel=0.01)
  assert _count(params["encoder"]) == pytest.approx(7.4e6, rel=0.01)
  assert _count(params["hyperprior"]) == pytest.approx(17.3e6, rel=0.01)
  y_hat = jnp.zeros((1, 16, 16, 220))
  d = jax.eval_shape(lambda: ConditionalPatchDiscriminator().init(RNGS, x, y_hat, train=False))
  assert _count(d["params"]) == pytest.approx(2.8e6, rel=0.01)


def test_latent_shapes_and_finite_training_forward():
  x = image((2, 64, 96, 3))
  _, aux = assert_finite_forward_and_gradients(TINY, x)
  assert aux["quantized"]["y"].shape == (2, 4, 6, 8)
  assert aux["quantized"]["z"].shape == (2, 1, 2, 8)
  assert aux["mean"].shape == aux["scale"].shape == (2, 4, 6, 8)


def test_eval_is_deterministic_and_quantizes_around_the_mean():
  x = image((1, 32, 32, 3))
  v = init(TINY, x)
  fwd = jax.jit(lambda v, x: TINY.apply(v, x, train=False))
  a, aux = fwd(v, x)
  b, _ = fwd(v, x)
  np.testing.assert_array_equal(a, b)
  r = aux["quantized"]["y"] - aux["mean"]
  np.testing.assert_allclose(r, jnp.round(r), atol=1e-4)
  z = aux["quantized"]["z"] - v["params"]["hyperprior"]["z_prior"]["quantiles"][:, 1]
  np.testing.assert_allclose(z, jnp.round(z), atol=1e-4)
  for k in ("y", "z"):
    np.testing.assert_allclose(aux["bits"][k], aux["bits_rounded"][k])


def test_training_randomness_comes_only_from_the_key():
  x = image((1, 32, 32, 3))
  v = init(TINY, x)
  fwd = jax.jit(lambda v, x, k: TINY.apply(v, x, train=True, rngs={"noise": k}))
  a, aux_a = fwd(v, x, jax.random.key(5))
  b, aux_b = fwd(v, x, jax.random.key(5))
  _, aux_c = fwd(v, x, jax.random.key(6))
  np.testing.assert_array_equal(a, b)
  np.testing.assert_array_equal(aux_a["bits"]["y"], aux_b["bits"]["y"])
  assert not np.array_equal(aux_a["bits"]["y"], aux_c["bits"]["y"])


@pytest.mark.parametrize("hw", [(1, 1), (17, 33), (511, 769)])
def test_any_image_size(hw):
  x = image((1, *hw, 3))
  v = init(TINY, jnp.zeros((1, 16, 16, 3)))
  x_hat, aux = jax.jit(lambda v, x: TINY.apply(v, x, train=False))(v, x)
  assert x_hat.shape == x.shape
  assert aux["quantized"]["y"].shape[1:3] == (-(-hw[0] // 16), -(-hw[1] // 16))
  assert bool(jnp.all(jnp.isfinite(x_hat)))


def test_discriminator_conditions_on_the_latent_without_its_gradient():
  d = ConditionalPatchDiscriminator(channels=(4, 8, 8, 8), condition_channels=3)
  x = image((2, 32, 48, 3))
  y_hat = jax.random.normal(jax.random.key(1), (2, 2, 3, 8))
  v = d.init(RNGS, x, y_hat, train=True)

  def out(x, y):
    (logits,), _ = d.apply(v, x, y, train=False)
    return logits

  logits = out(x, y_hat)
  assert logits.shape == (2, 4, 6, 1)
  assert not np.allclose(logits, out(x, y_hat + 1.0))
  gy = jax.grad(lambda y: out(x, y).sum())(y_hat)
  gx = jax.grad(lambda x: out(x, y_hat).sum())(x)
  assert float(jnp.abs(gy).sum()) == 0 and float(jnp.abs(gx).sum()) > 0


def test_bfloat16_compute_keeps_float32_parameters_and_outputs():
  cfg = dict(name="hific", **NARROW, latent_channels=8, hyper_channels=8)
  x = image((1, 32, 32, 3))
  f32, bf16 = build_model(cfg), build_model(cfg, "bfloat16")
  variables = init(f32, x)
  assert all(p.dtype == jnp.float32 for p in jax.tree.leaves(init(bf16, x)["params"]))
  (ref, ref_aux), (low, low_aux) = (m.apply(variables, x, train=False) for m in (f32, bf16))
  assert low.dtype == jnp.float32 and low_aux["quantized"]["y"].dtype == jnp.float32
  np.testing.assert_allclose(low, ref, atol=0.05 * float(jnp.abs(ref).max()))
  d = build_discriminator(dict(name="patch", channels=(4, 4, 8, 8), condition_channels=2), "bfloat16")
  d_vars = d.init(RNGS, x, low_aux["quantized"]["y"], train=False)
  logits, features = d.apply(d_vars, x, low_aux["quantized"]["y"], train=False)
  assert logits[0].dtype == features[0].dtype == jnp.float32


def _paths_and_shapes(tree) -> dict[str, tuple[int, ...]]:
  return {"/".join(k.key for k in path): tuple(a.shape) for path, a in jax.tree_util.tree_leaves_with_path(tree)}


def test_generator_keeps_a_parameter_tree_per_residual_block():
  # Checkpoints, bundles, the PyTorch importer and `bundle.param_mismatches` address these paths.
  params = jax.eval_shape(Generator(**GENERATOR).init, RNGS, jnp.zeros((1, 2, 3, 8)))["params"]
  block = {"Conv_0/kernel": (3, 3, 16, 16), "Conv_0/bias": (16,), "ChannelNorm_0/scale": (16,),
           "ChannelNorm_0/bias": (16,), "Conv_1/kernel": (3, 3, 16, 16), "Conv_1/bias": (16,),
           "ChannelNorm_1/scale": (16,), "ChannelNorm_1/bias": (16,)}
  want = {"ChannelNorm_0/scale": (8,), "ChannelNorm_0/bias": (8,), "Conv_0/kernel": (3, 3, 8, 16), "Conv_0/bias": (16,),
          "ChannelNorm_1/scale": (16,), "ChannelNorm_1/bias": (16,),
          **{f"ResidualBlock_{i}/{k}": v for i in range(3) for k, v in block.items()},
          "ConvTranspose_0/kernel": (3, 3, 16, 8), "ConvTranspose_0/bias": (8,), "ChannelNorm_2/scale": (8,),
          "ChannelNorm_2/bias": (8,), "ConvTranspose_1/kernel": (3, 3, 8, 8), "ConvTranspose_1/bias": (8,),
          "ChannelNorm_3/scale": (8,), "ChannelNorm_3/bias": (8,), "ConvTranspose_2/kernel": (3, 3, 8, 8),
          "ConvTranspose_2/bias": (8,), "ChannelNorm_4/scale": (8,), "ChannelNorm_4/bias": (8,),
          "ConvTranspose_3/kernel": (3, 3, 8, 4), "ConvTranspose_3/bias": (4,), "ChannelNorm_5/scale": (4,),
          "ChannelNorm_5/bias": (4,), "Conv_1/kernel": (7, 7, 4, 3), "Conv_1/bias": (3,)}
  assert _paths_and_shapes(params) == want
