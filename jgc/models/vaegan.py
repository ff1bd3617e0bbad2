"""VAE-GAN (Larsen et al. 2016, "Autoencoding beyond pixels using a learned similarity metric").

A Gaussian-posterior encoder with a KL term to N(0, I) (§2.1), the HiFiC-style
generator as decoder, and a discriminator whose hidden layer defines the
reconstruction loss (§2.2; see `discriminators.FeatureDiscriminator`). For
compression, the posterior mean is rounded and coded under a factorized prior
(Ballé 2018), which is trained on the stopped-gradient mean so that coding
does not change what the VAE learns.
"""

from typing import ClassVar

import jax
import jax.numpy as jnp

from jgc.entropy import FactorizedPrior, bits, dequantize, symbols
from jgc.models.coding import Coding, Factorized
from jgc.models.padding import crop_to, pad_to_multiple
from jgc.models.transforms import ENCODER_RADIUS, FACTOR, Encoder, Generator, WithTransforms, generator_radius


class VAEGAN(WithTransforms):
  """`__call__(x, train=...)` returns `(x_hat, aux)`; `aux["kl"]` is the KL per image in nats."""

  MAIN_LATENT: ClassVar[str] = "y"  # what D is conditioned on, and what the sparsity penalty sees

  latent_channels: int = 32

  def setup(self):
    self.encoder = Encoder(self.dtype, channels=self.encoder_channels, latent_channels=2 * self.latent_channels)
    self.generator = Generator(self.dtype, channels=self.generator_channels,
                               num_residual_blocks=self.num_residual_blocks)
    self.prior = FactorizedPrior(self.latent_channels)

  def __call__(self, x: jax.Array, *, train: bool) -> tuple[jax.Array, dict]:
    h, w = x.shape[1:3]
    mean, log_var = jnp.split(self.encoder(pad_to_multiple(x, FACTOR)), 2, axis=-1)
    kl = 0.5 * (mean**2 + jnp.exp(log_var) - 1.0 - log_var)
    kl = kl.reshape(x.shape[0], -1).sum(axis=1)
    _, lik = self.prior(jax.lax.stop_gradient(mean), train=train)
    mean_hat = self.prior.quantize(mean, train=False)
    if train:
      eps = jax.random.normal(self.make_rng("noise"), mean.shape)
      z = mean + jnp.exp(0.5 * log_var) * eps
      lik_hat = self.prior.likelihood(mean_hat)
    else:
      z, lik_hat = mean_hat, lik
    x_hat = crop_to(self.generator(z), h, w)
    aux = {
        "latents": {"y": mean},
        "quantized": {"y": mean_hat},
        "bits": {"y": bits(lik)},
        "bits_rounded": {"y": bits(lik_hat)},
        "kl": kl,
        "log_var": log_var,
    }
    return x_hat, aux

  # Coding helpers: the posterior mean's symbols, coded per channel under `prior`.

  def coding(self) -> Coding:
    """One stream, y: the rounded posterior mean under the factorized prior."""
    return Coding(streams=("y",), encoded=("y",), synthesis_radius=generator_radius(self.num_residual_blocks),
                  analysis_radius=ENCODER_RADIUS, factorized={"y": Factorized(("prior",))})

  def encode_latents(self, x: jax.Array) -> jax.Array:
    """The int32 symbols of the rounded posterior mean (relative to the prior's medians)."""
    mean, _ = jnp.split(self.encoder(pad_to_multiple(x, FACTOR)), 2, axis=-1)
    return symbols(mean, self.prior.medians())

  def decode_latents(self, y_symbols: jax.Array, image_hw: tuple[int, int]) -> jax.Array:
    """The reconstruction in [0, 1] from the posterior mean's symbols."""
    z = dequantize(y_symbols, self.prior.medians())
    return jnp.clip(crop_to(self.generator(z), *image_hw), 0.0, 1.0)
