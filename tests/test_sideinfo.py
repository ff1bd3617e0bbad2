"""The fixed-point side information at full width: format version 3's precision puts the means within
1e-4 of the float model's (issue 24), and sums that would leave float64's exact integers are refused."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from model_helpers import float_side_info

from jgc.codec import bundle as bundles
from jgc.codec import sideinfo
from jgc.codec.compressor import Codec
from jgc.models import build_model

# CompressAI's mbt2018-mean at its zoo widths of qualities 5-8 (N=192, M=320; HiFiC's hyper-synthesis
# is as wide). Qualities 1-4 (N=128, M=192) were measured alike by hand (benchmarks/imported_decode.py).
WIDTHS = {"q5-8": (192, 320)}
LATENT_HW = (24, 32)  # a 384x512 image's y


@functools.cache
def _codec(widths: str) -> Codec:
  n, m = WIDTHS[widths]
  config = dict(name="hyperprior", prior="mean_scale", channels=n, latent_channels=m)
  # Jitted: at full width one compiled init is 3 s, op by op 9.
  init = jax.jit(functools.partial(build_model(config).init, train=False))
  params = init({"params": jax.random.key(0), "noise": jax.random.key(1)}, jnp.zeros((1, 64, 64, 3)))["params"]
  params = jax.tree.map(np.asarray, params)
  # A trained hyper-synthesis maps the hyper-latent to means of the latents' size, several units; a
  # freshly initialized one to a fraction of that. Twice the gain per layer spreads them as training does.
  for layer in params["hyper_synthesis"].values():
    layer["kernel"] = layer["kernel"] * 2.0
  return Codec(bundles.parse(bundles.build(config, params)))


def _symbols(codec: Codec) -> np.ndarray:
  _, z_shape = codec.latent_shapes(LATENT_HW[0] * 16, LATENT_HW[1] * 16)
  return np.random.default_rng(0).integers(-6, 7, z_shape).astype(np.int32)


@pytest.mark.parametrize("widths", list(WIDTHS))
def test_version_3_means_are_within_1e_4_of_the_float_model_at_full_width(widths):
  codec = _codec(widths)
  z = _symbols(codec)
  ref_mean, ref_idx = (np.asarray(a) for a in float_side_info(codec.bundle.model, codec._variables, z, LATENT_HW))
  assert np.abs(ref_mean).max() > 4  # means as large as a trained model's
  mean, idx = codec._side_info(z, LATENT_HW, sideinfo.FINE)
  assert np.abs(mean - ref_mean).max() <= 1e-4
  # Scales within 1e-4 too: only those that close to a snapping boundary pick its other side.
  assert np.mean(idx != ref_idx) < 1e-3 and np.abs(idx - ref_idx).max() <= 1
  # Versions 1 and 2 were 100 times further off: enough to round ~0.1% of the latents the other way.
  coarse, _ = codec._side_info(z, LATENT_HW, sideinfo.COARSE)
  assert np.abs(coarse - ref_mean).max() > 1e-3


@pytest.mark.parametrize("precision", [sideinfo.COARSE, sideinfo.FINE])
def test_sums_beyond_float64s_exact_integers_are_refused_not_rounded(precision):
  codec = _codec("q5-8")
  z = _symbols(codec)
  z_fixed = codec._z_fixed(z, precision)
  net, weights = codec.coding.nets[0], codec._fixed(precision)["nets"][0]
  sideinfo.hyper_synthesis(net, weights, z_fixed, LATENT_HW, precision)
  # The bound is max|input| times the largest L1 norm of an output channel's kernel: this input's
  # is about 2^53 / that norm, so its sums may leave float64's exact range.
  first = weights[net.layers[0]]["l1"]
  with pytest.raises(sideinfo.SideInfoError, match="hyper-synthesis: fixed-point sums would leave float64's exact"):
    sideinfo.hyper_synthesis(net, weights, z_fixed * (2.0**52 / first / np.abs(z_fixed).max()), LATENT_HW, precision)
  layer = {"kernel": np.full((1, 1, 2, 2), 2.0**30), "bias": np.zeros(2), "l1": 2.0**31}
  rows = np.full((1, 2), 2.0**21)  # sums of 2^52: beyond the bound's half of 2^53
  assert sideinfo.dense_stack([layer], rows / 2, "relu", precision).shape == (1, 2)
  with pytest.raises(sideinfo.SideInfoError, match="entropy parameters"):
    sideinfo.dense_stack([layer], rows, "relu", precision)
