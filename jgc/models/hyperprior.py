"""Hyperprior codecs: Ballé et al. 2018 and Minnen et al. 2018.

- `prior="scale"`: the scale hyperprior (Ballé 2018, "Variational image
  compression with a scale hyperprior", §3): zero-mean Gaussian whose scales
  come from a hyper-latent computed on |y|.
- `prior="mean_scale"`: means and scales from the hyper-latent (Minnen 2018,
  "Joint autoregressive and hierarchical priors", §2, without context).
- `prior="autoregressive"`: adds a 5x5 masked context model and a 1x1
  entropy-parameter network (Minnen 2018 §2, Fig. 4; CompressAI
  `JointAutoregressiveHierarchicalPriors`).

Transforms are four 5x5 stride-2 convolutions with GDN (Ballé 2017), N and M
channels as in CompressAI's zoo (`compressai/zoo/image.py`).
"""

from collections.abc import Sequence
from typing import ClassVar

import flax.linen as nn
import jax
import jax.numpy as jnp

from jgc import errors
from jgc.entropy import (
    FactorizedPrior,
    add_uniform_noise,
    dequantize,
    gaussian_likelihood,
    symbols,
)
from jgc.models.coding import Coding, ContextNets, Factorized, SideInfoNet
from jgc.models.convs import Conv, ConvTranspose
from jgc.models.hyper import SYNTHESIS_LAYERS, HyperAnalysis, HyperSynthesis, activation, hyperprior_aux
from jgc.models.layers import GDN, MaskedConv
from jgc.models.padding import crop_to, pad_to_multiple
from jgc.models.transforms import FACTOR

PRIORS = ("scale", "mean_scale", "autoregressive")
# CompressAI's layers (`models/utils.py` conv/deconv, `nn.LeakyReLU()`, `EntropyBottleneck`'s
# filters): its zoo's, and those of jgc's bmshj2018 and mbt2018 configs, so the two interchange.
COMPRESSAI_LAYERS = {"padding": "TORCH", "negative_slope": 0.01, "prior_filters": (3, 3, 3, 3)}
CONTEXT_KERNEL = 5


class GDNAnalysis(nn.Module):
  """g_a: three 5x5 stride-2 convs each followed by GDN, then a 5x5 stride-2 conv to M."""

  channels: int
  latent_channels: int
  padding: str = "SAME"
  dtype: jnp.dtype = jnp.float32  # of the convolutions; y, which the entropy model reads, is float32

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    for _ in range(3):
      x = GDN()(Conv(self.channels, (5, 5), (2, 2), padding=self.padding, dtype=self.dtype)(x))
    return Conv(self.latent_channels, (5, 5), (2, 2), padding=self.padding, dtype=self.dtype)(x).astype(jnp.float32)


class GDNSynthesis(nn.Module):
  """g_s: three 5x5 stride-2 transposed convs each followed by IGDN, then one to RGB."""

  channels: int
  padding: str = "SAME"
  dtype: jnp.dtype = jnp.float32  # of the convolutions; the image is float32

  @nn.compact
  def __call__(self, y: jax.Array) -> jax.Array:
    for _ in range(3):
      y = GDN(inverse=True)(ConvTranspose(self.channels, (5, 5), (2, 2), padding=self.padding, dtype=self.dtype)(y))
    return ConvTranspose(3, (5, 5), (2, 2), padding=self.padding, dtype=self.dtype)(y).astype(jnp.float32)


# Its layers, named explicitly as `SYNTHESIS_LAYERS` are: the codec finds them by these names.
PARAMETER_LAYERS = ("Conv_0", "Conv_1", "Conv_2")


class EntropyParameters(nn.Module):
  """1x1 convs 4M -> 10M/3 -> 8M/3 -> 2M with LeakyReLU (Minnen 2018, Fig. 4)."""

  latent_channels: int
  negative_slope: float = 0.2

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    m = self.latent_channels
    act = activation("leaky_relu", self.negative_slope)
    *hidden, last = PARAMETER_LAYERS
    for c, name in zip((m * 10 // 3, m * 8 // 3), hidden, strict=True):
      x = act(Conv(c, (1, 1), name=name)(x))
    return Conv(2 * m, (1, 1), name=last)(x)


class HyperpriorCodec(nn.Module):
  """bmshj2018 / mbt2018. `__call__(x, train=...)` returns `(x_hat, aux)`.

  Training follows the papers: uniform noise stands in for rounding, both for
  the rate and for the synthesis input. Outside training, y is rounded around
  the predicted mean; the autoregressive model rounds around zero in its
  parallel forward (the means depend on the rounded values themselves) and
  around the mean only in sequential coding; its rate estimate is that of y
  rounded around the parallel forward's means.

  `padding`, `negative_slope` and `prior_filters` default to jgc's choices
  (TF SAME padding, LeakyReLU 0.2, TFC's (3, 3, 3)); CompressAI's models use
  "TORCH", 0.01 and (3, 3, 3, 3) (`jgc.codec.import_compressai`).
  """

  MAIN_LATENT: ClassVar[str] = "y"  # what D is conditioned on, and what the sparsity penalty sees

  prior: str = "mean_scale"
  channels: int = 192
  latent_channels: int = 320
  padding: str = "SAME"
  negative_slope: float = 0.2
  prior_filters: Sequence[int] = (3, 3, 3)
  # Of the four transforms' convolutions; the entropy models, the context model and the
  # entropy-parameter net, whose outputs are the likelihoods' parameters, run in float32.
  dtype: jnp.dtype = jnp.float32

  def setup(self):
    if self.prior not in PRIORS:
      raise errors.ConfigError(f"unknown prior {self.prior!r}; expected one of {PRIORS}")
    n, m, pad, slope, dtype = self.channels, self.latent_channels, self.padding, self.negative_slope, self.dtype
    self.analysis = GDNAnalysis(n, m, pad, dtype)
    self.synthesis = GDNSynthesis(n, pad, dtype)
    if self.prior == "scale":
      self.hyper_analysis = HyperAnalysis(n, "relu", padding=pad, dtype=dtype)
      self.hyper_synthesis = HyperSynthesis((n, n), m, "relu", padding=pad, dtype=dtype)
    else:
      self.hyper_analysis = HyperAnalysis(n, "leaky_relu", slope, pad, dtype=dtype)
      self.hyper_synthesis = HyperSynthesis((m, m * 3 // 2), 2 * m, "leaky_relu", slope, pad, dtype)
    self.z_prior = FactorizedPrior(n, tuple(self.prior_filters))
    if self.prior == "autoregressive":
      # Stride 1 and an odd kernel: SAME and TORCH padding agree.
      self.context = MaskedConv(2 * m, CONTEXT_KERNEL)
      self.entropy_parameters = EntropyParameters(m, slope)

  def _latents(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
    """`(y, z)`; the scale hyperprior analyses |y| (Ballé 2018 §3), the others y."""
    y = self.analyze(x)
    return y, self.hyper_analysis(jnp.abs(y) if self.prior == "scale" else y)

  def analyze(self, x: jax.Array) -> jax.Array:
    """y, the latent of image `x`."""
    return self.analysis(pad_to_multiple(x, FACTOR))

  def hyper_symbols(self, y: jax.Array) -> jax.Array:
    """The hyper-latent's int32 symbols (relative to its medians) of latent `y`."""
    return symbols(self.hyper_analysis(jnp.abs(y) if self.prior == "scale" else y), self.z_prior.medians())

  def hyper_parameters(self, z_hat: jax.Array, latent_hw: tuple[int, int]) -> jax.Array:
    """Output of the hyper-synthesis, cropped to y's spatial size."""
    return crop_to(self.hyper_synthesis(z_hat), *latent_hw)

  def mean_scale(self, y_ctx: jax.Array, hyper: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Means and scales of y. `y_ctx` (quantized y) is read only by the context model."""
    if self.prior == "scale":
      return jnp.zeros_like(hyper), hyper
    if self.prior == "autoregressive":
      hyper = self.entropy_parameters(jnp.concatenate([hyper, self.context(y_ctx)], axis=-1))
    mean, scale = jnp.split(hyper, 2, axis=-1)
    return mean, scale

  def __call__(self, x: jax.Array, *, train: bool) -> tuple[jax.Array, dict]:
    h, w = x.shape[1:3]
    y, z = self._latents(x)
    z_tilde, z_lik = self.z_prior(z, train=train)
    z_hat = self.z_prior.quantize(z, train=False)
    hyper = self.hyper_parameters(z_tilde, y.shape[1:3])
    if train:
      y_tilde = add_uniform_noise(y, self.make_rng("noise"))
      mean, scale = self.mean_scale(y_tilde, hyper)
      y_lik = gaussian_likelihood(y_tilde, mean, scale)
      y_rounded = jnp.round(y - mean) + mean if self.prior != "autoregressive" else jnp.round(y)
      y_lik_hat = gaussian_likelihood(y_rounded, mean, scale)
      z_lik_hat = self.z_prior.likelihood(z_hat)
      y_hat = y_tilde
    else:
      if self.prior == "autoregressive":
        y_hat = jnp.round(y)
        mean, scale = self.mean_scale(y_hat, hyper)
        # The rate of y rounded around those means, as the coder codes it (and CompressAI estimates it).
        y_lik = y_lik_hat = gaussian_likelihood(jnp.round(y - mean) + mean, mean, scale)
      else:
        mean, scale = self.mean_scale(y, hyper)
        y_hat = jnp.round(y - mean) + mean
        y_lik = y_lik_hat = gaussian_likelihood(y_hat, mean, scale)
      z_lik_hat = z_lik
    x_hat = crop_to(self.synthesis(y_hat), h, w)
    aux = hyperprior_aux(latents=(y, z), quantized=(y_hat, z_hat), likelihoods=(y_lik, z_lik),
                         rounded_likelihoods=(y_lik_hat, z_lik_hat), mean=mean, scale=scale)
    return x_hat, aux

  # Coding helpers, as in `HiFiC`.

  def coding(self) -> Coding:
    """z under the factorized prior, then y under Gaussian scale tables from the hyper-synthesis
    (and, for the autoregressive prior, the context model, position by position)."""
    filters = tuple(self.prior_filters)
    # The synthesis' four 5x5 stride-2 transposed convs reach 2 + 1 + 1/2 + 1/4 positions; the
    # analysis' four 5x5 stride-2 convs read 2, 4, 8 and 16 pixels around (30: 2 positions).
    common = dict(streams=("z", "y"), encoded=("y", "z"), encoding=("analyze", "hyper_symbols"), synthesis_radius=4,
                  analysis_radius=2,
                  factorized={"z": Factorized(("z_prior",), filters)}, conditional="y")
    if self.prior == "scale":
      return Coding(**common, side_info="scale",
                    nets=(SideInfoNet(("hyper_synthesis",), SYNTHESIS_LAYERS, "relu", padding=self.padding),))
    net = SideInfoNet(("hyper_synthesis",), SYNTHESIS_LAYERS, "leaky_relu", self.negative_slope, self.padding)
    if self.prior == "autoregressive":
      return Coding(**common, side_info="autoregressive", nets=(net,),
                    context=ContextNets(("context",), ("entropy_parameters",), PARAMETER_LAYERS))
    return Coding(**common, side_info="split", nets=(net,))

  def encode_latents(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
    """`(y, z_symbols)`: the latent, and the hyper-latent's int32 symbols (relative to its medians)."""
    y = self.analyze(x)
    return y, self.hyper_symbols(y)

  def decode_latents(self, y_symbols: jax.Array, mean: jax.Array, image_hw: tuple[int, int]) -> jax.Array:
    """The reconstruction in [0, 1] from y's symbols and the means they were coded around."""
    return jnp.clip(crop_to(self.synthesis(dequantize(y_symbols, mean)), *image_hw), 0.0, 1.0)
