"""GC: "Generative Adversarial Networks for Extreme Learned Image Compression"
(Agustsson et al. 2019).

Encoder to C channels, a fixed L-centre quantizer with soft-to-hard gradients
(Mentzer et al. 2018, "Conditional probability models for deep image
compression", §3.1), and the generator that HiFiC later refined (same code
here, with ChannelNorm). The paper codes nothing and counts `C * log2(L)` bits
per latent; here a learned per-channel categorical prior over the centre
indices gives the coder a real distribution, so files come out smaller.
"""

from typing import ClassVar

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jgc.models.coding import Coding
from jgc.models.padding import crop_to, pad_to_multiple
from jgc.models.transforms import ENCODER_RADIUS, FACTOR, Encoder, Generator, WithTransforms, generator_radius


def centers(num_centers: int, low: float = -2.0, high: float = 2.0) -> jax.Array:
  """The quantizer's fixed centres; GC uses {-2, -1, 0, 1, 2}."""
  return jnp.linspace(low, high, num_centers)


def quantize_to_centers(w: jax.Array, c: jax.Array, temperature: float) -> tuple[jax.Array, jax.Array]:
  """Nearest-centre values (forward) with a soft assignment's gradient (backward).

  Returns `(w_hat, indices)`; the soft value is `sum softmax(-(w - c)^2 / T) c`.
  """
  d = (w[..., None] - c) ** 2
  indices = jnp.argmin(d, axis=-1).astype(jnp.int32)
  soft = (jax.nn.softmax(-d / temperature, axis=-1) * c).sum(-1)
  return soft + jax.lax.stop_gradient(c[indices] - soft), indices


class GC(WithTransforms):
  """E -> L-centre quantizer -> G, with a learned prior over centre indices."""

  MAIN_LATENT: ClassVar[str] = "w"  # what D is conditioned on, and what the sparsity penalty sees

  latent_channels: int = 8
  num_centers: int = 5
  temperature: float = 1.0

  def setup(self):
    self.encoder = Encoder(self.dtype, channels=self.encoder_channels, latent_channels=self.latent_channels)
    self.generator = Generator(self.dtype, channels=self.generator_channels,
                               num_residual_blocks=self.num_residual_blocks)
    self.prior_logits = self.param(
        "prior_logits", nn.initializers.zeros, (self.latent_channels, self.num_centers))

  def log2_pmf(self) -> jax.Array:
    """`(C, L)` log2-probabilities of each centre per channel."""
    return jax.nn.log_softmax(self.prior_logits, axis=-1) / np.log(2.0)

  def __call__(self, x: jax.Array, *, train: bool) -> tuple[jax.Array, dict]:
    h, w = x.shape[1:3]
    latent = self.encoder(pad_to_multiple(x, FACTOR))
    w_hat, indices = quantize_to_centers(latent, centers(self.num_centers), self.temperature)
    # The prior learns the index frequencies by maximum likelihood; indices are
    # discrete, so the rate sends no gradient into the encoder (GC has no rate term).
    channel = jnp.arange(self.latent_channels)
    b = -self.log2_pmf()[channel, indices].reshape(x.shape[0], -1).sum(axis=1)
    x_hat = crop_to(self.generator(w_hat), h, w)
    aux = {
        "latents": {"w": latent},
        "quantized": {"w": w_hat},
        "symbols": {"w": indices},
        "bits": {"w": b},
        "bits_rounded": {"w": b},
    }
    return x_hat, aux

  # Coding helpers: the centre indices, coded per channel under `log2_pmf`.

  def coding(self) -> Coding:
    """One stream, w: the centre indices under the per-channel pmfs of `log2_pmf`."""
    return Coding(streams=("w",), encoded=("w",), synthesis_radius=generator_radius(self.num_residual_blocks),
                  analysis_radius=ENCODER_RADIUS, learned_pmf=("w", "log2_pmf"))

  def encode_latents(self, x: jax.Array) -> jax.Array:
    """The int32 centre index of every latent element."""
    return quantize_to_centers(self.encoder(pad_to_multiple(x, FACTOR)),
                               centers(self.num_centers), self.temperature)[1]

  def decode_latents(self, indices: jax.Array, image_hw: tuple[int, int]) -> jax.Array:
    """The reconstruction in [0, 1] from the centre indices."""
    return jnp.clip(crop_to(self.generator(centers(self.num_centers)[indices]), *image_hw), 0.0, 1.0)
