"""HiFiC: High-Fidelity Generative Image Compression (Mentzer et al. 2020).

Architecture from the paper's Fig. 2 and the official code (TFC
`models/hific/archs.py`): encoder E and generator G (`transforms`, shared with
GC and VAE-GAN) and the mean-scale hyperprior P, here; the conditional PatchGAN
D is `discriminators.ConditionalPatchDiscriminator`.
Channel widths and block counts are attributes, so tests run narrow variants
of the same code; defaults are the published sizes (about 181M parameters for
E + G + P, 2.8M for D).
"""

from collections.abc import Sequence
from typing import ClassVar

import flax.linen as nn
import jax
import jax.numpy as jnp

from jgc import errors
from jgc.entropy import (
  DISTRIBUTIONS,
  FactorizedPrior,
  add_uniform_noise,
  dequantize,
  quantize_around_mean,
  symbols,
)
from jgc.models.coding import Coding, Factorized, SideInfoNet
from jgc.models.hyper import SYNTHESIS_LAYERS, HyperAnalysis, HyperSynthesis, hyperprior_aux
from jgc.models.padding import crop_to, pad_to_multiple
from jgc.models.transforms import (
  ENCODER_RADIUS,
  FACTOR,
  Encoder,
  Generator,
  WithTransforms,
  generator_radius,
  torch_aligned,
)


class MeanScaleHyperprior(nn.Module):
  """HiFiC's entropy model P: hyper-analysis on y, factorized prior on z, and
  separate hyper-synthesis nets for the means and the scales (TFC `archs.py`).

  Training follows the official code: y's rate uses noisy values, the decoder
  gets y rounded around the mean with a straight-through gradient, and the
  noisy z feeds both synthesis nets. Rounded bits are reported as well, for
  HiFiC's target-rate rule.
  """

  latent_channels: int = 220
  hyper_channels: int = 320
  padding: str = "SAME"
  prior_gate_last: bool = False
  likelihood: str = "gaussian"
  dtype: jnp.dtype = jnp.float32  # of the hyper transforms' convolutions; z, means and scales are float32
  prior_filters: Sequence[int] = (3, 3, 3)

  def setup(self):
    # The PyTorch port reflects around its strided hyper-analysis convs (`network/hyper.py`).
    padding = torch_aligned(self.padding)
    self.analysis = HyperAnalysis(self.hyper_channels, padding=padding, dtype=self.dtype,
                                  strided_pad_mode="reflect" if self.padding == "REFLECT" else "constant")
    widths = (self.hyper_channels, self.hyper_channels)
    self.mean_synthesis = HyperSynthesis(widths, self.latent_channels, padding=padding, dtype=self.dtype)
    self.scale_synthesis = HyperSynthesis(widths, self.latent_channels, padding=padding, dtype=self.dtype)
    self.z_prior = FactorizedPrior(self.hyper_channels, tuple(self.prior_filters), gate_last=self.prior_gate_last)

  def mean_scale(self, z_hat: jax.Array, latent_hw: tuple[int, int]) -> tuple[jax.Array, jax.Array]:
    """Means and scales of y from the quantized hyper-latent, cropped to y's size."""
    return (crop_to(self.mean_synthesis(z_hat), *latent_hw),
            crop_to(self.scale_synthesis(z_hat), *latent_hw))

  def __call__(self, y: jax.Array, *, train: bool) -> tuple[jax.Array, dict]:
    z = self.analysis(y)
    z_tilde, z_lik = self.z_prior(z, train=train)
    z_hat = self.z_prior.quantize(z, train=False)
    mean, scale = self.mean_scale(z_tilde, y.shape[1:3])
    y_hat = quantize_around_mean(y, mean)
    likelihood = DISTRIBUTIONS[self.likelihood]
    y_lik_hat = likelihood(y_hat, mean, scale)
    if train:
      y_lik = likelihood(add_uniform_noise(y, self.make_rng("noise")), mean, scale)
      z_lik_hat = self.z_prior.likelihood(z_hat)
    else:
      y_lik, z_lik_hat = y_lik_hat, z_lik
    aux = hyperprior_aux(latents=(y, z), quantized=(y_hat, z_hat), likelihoods=(y_lik, z_lik),
                         rounded_likelihoods=(y_lik_hat, z_lik_hat), mean=mean, scale=scale)
    return y_hat, aux


class HiFiC(WithTransforms):
  """E + G + P. `__call__(x, train=...)` returns `(x_hat, aux)`, images NHWC in [0, 1].

  `aux` holds the latents, their quantized values, bits per image for each
  entropy model (noisy in training, rounded otherwise) and `bits_rounded`.
  """

  MAIN_LATENT: ClassVar[str] = "y"  # what D is conditioned on, and what the sparsity penalty sees

  latent_channels: int = 220
  hyper_channels: int = 320
  # "SAME" (TFC's zeros), "REFLECT" (the PyTorch port's) or "TORCH" (NeuralCompression's MS-ILLM);
  # see `transforms.HIFIC_PADDINGS`.
  padding: str = "SAME"
  # The PyTorch port's factorized density gates its last layer too.
  prior_gate_last: bool = False
  # The factorized prior's hidden widths: jgc's and TFC's (3, 3, 3); NeuralCompression's MS-ILLM
  # takes CompressAI's EntropyBottleneck default, (3, 3, 3, 3) (`_hific_autoencoder.py:121`).
  prior_filters: Sequence[int] = (3, 3, 3)
  # The PyTorch port's `normalize_input_image` (its published low and high rate
  # models): E reads 2x - 1, and G's output goes through tanh back to [0, 1].
  signed_images: bool = False
  # "gaussian" (the paper's), or "logistic" (the port's published medium rate model).
  likelihood: str = "gaussian"

  def setup(self):
    if self.likelihood not in DISTRIBUTIONS:
      raise errors.ConfigError(f"HiFiC likelihood is one of {sorted(DISTRIBUTIONS)}, got {self.likelihood!r}")
    self.encoder = Encoder(self.dtype, self.padding, self.encoder_channels, self.latent_channels)
    self.generator = Generator(self.dtype, self.padding, self.generator_channels, self.num_residual_blocks)
    self.hyperprior = MeanScaleHyperprior(self.latent_channels, self.hyper_channels, self.padding,
                                          self.prior_gate_last, self.likelihood, self.dtype,
                                          tuple(self.prior_filters))

  def _encode(self, x: jax.Array) -> jax.Array:
    return self.encoder(pad_to_multiple(2.0 * x - 1.0 if self.signed_images else x, FACTOR))

  def _generate(self, y_hat: jax.Array, image_hw: tuple[int, int]) -> jax.Array:
    x_hat = self.generator(y_hat)
    return crop_to((jnp.tanh(x_hat) + 1.0) / 2.0 if self.signed_images else x_hat, *image_hw)

  def __call__(self, x: jax.Array, *, train: bool) -> tuple[jax.Array, dict]:
    y_hat, aux = self.hyperprior(self._encode(x), train=train)
    return self._generate(y_hat, x.shape[1:3]), aux

  # Coding helpers: exactly what the range coder needs, so jgc.codec never
  # reaches inside the model.

  def coding(self) -> Coding:
    """z under the factorized prior, then y under scale tables, its means and scales from
    the mean and scale hyper-synthesis nets."""
    nets = tuple(SideInfoNet(("hyperprior", name), SYNTHESIS_LAYERS, "relu", padding=torch_aligned(self.padding))
                 for name in ("mean_synthesis", "scale_synthesis"))
    return Coding(streams=("z", "y"), encoded=("y", "z"), encoding=("analyze", "hyper_symbols"),
                  synthesis_radius=generator_radius(self.num_residual_blocks), analysis_radius=ENCODER_RADIUS,
                  factorized={"z": Factorized(("hyperprior", "z_prior"), tuple(self.prior_filters),
                                                         self.prior_gate_last)},
                  conditional="y", distribution=self.likelihood, side_info="mean_and_scale", nets=nets,
                  zero_padded=self.padding != "REFLECT")

  def encode_latents(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
    """`(y, z_symbols)`: the latent, and the hyper-latent's int32 symbols (relative to its medians)."""
    y = self.analyze(x)
    return y, self.hyper_symbols(y)

  def analyze(self, x: jax.Array) -> jax.Array:
    """y, the latent of image `x`."""
    return self._encode(x)

  def hyper_symbols(self, y: jax.Array) -> jax.Array:
    """The hyper-latent's int32 symbols (relative to its medians) of latent `y`."""
    return symbols(self.hyperprior.analysis(y), self.hyperprior.z_prior.medians())

  def decode_latents(self, y_symbols: jax.Array, mean: jax.Array, image_hw: tuple[int, int]) -> jax.Array:
    """The reconstruction in [0, 1] from y's symbols and the means they were coded around."""
    return jnp.clip(self._generate(dequantize(y_symbols, mean), image_hw), 0.0, 1.0)
