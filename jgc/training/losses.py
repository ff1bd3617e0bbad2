"""Loss terms, as pure functions of arrays.

Weights and their provenance live in the configs; these functions only define
the terms. Images are NHWC float32 in [0, 1].
"""

from collections.abc import Mapping, Sequence

import jax
import jax.numpy as jnp
import optax

from jgc import errors

GAN_LOSSES = ("non_saturating", "least_squares", "hinge", "oasis")


def bits_per_pixel(bits: Mapping[str, jax.Array], num_pixels: int) -> dict[str, jax.Array]:
  """Per-image bpp `(B,)` of each entropy model, from its bits per image."""
  return {name: b / num_pixels for name, b in bits.items()}


def rate_weight(
    bpp_rounded: jax.Array,
    step: jax.Array,
    *,
    target_bpp: float | None,
    lambda_a: float,
    lambda_b: float,
    warmup_steps: int,
    warmup_target_factor: float,
    warmup_rate_factor: float,
) -> tuple[jax.Array, jax.Array | None]:
  """HiFiC's target-rate rule (Mentzer et al. 2020 §3.2; TFC `configs.py`).

  The rate weight is `lambda_a` while the batch's mean rounded bpp is above
  the target and `lambda_b` below it, decided per batch as in TFC. For the
  first `warmup_steps` the target is multiplied by `warmup_target_factor`
  (TFC: 0.20 / 0.14) and the weight by `warmup_rate_factor` (TFC doubles
  lambda's denominator, i.e. halves the rate weight). With no target the
  weight is `lambda_a` throughout. Returns `(weight, effective target or None)`.
  """
  warm = step < warmup_steps
  factor = jnp.where(warm, warmup_rate_factor, 1.0)
  if target_bpp is None:
    return jnp.float32(lambda_a) * factor, None
  target = target_bpp * jnp.where(warm, warmup_target_factor, 1.0)
  weight = jnp.where(jnp.mean(bpp_rounded) > target, lambda_a, lambda_b)
  return weight * factor, target


def mse_255(x: jax.Array, x_hat: jax.Array) -> jax.Array:
  """Mean squared error on the 0..255 scale (HiFiC's distortion, TFC `model.py`)."""
  return jnp.mean(jnp.square((x - x_hat) * 255.0))


def psnr(x: jax.Array, x_hat: jax.Array) -> jax.Array:
  """Mean PSNR in dB over the batch, on clipped images."""
  mse = jnp.mean(jnp.square(x - jnp.clip(x_hat, 0.0, 1.0)), axis=(1, 2, 3))
  return jnp.mean(-10.0 * jnp.log10(jnp.maximum(mse, 1e-10)))


def discriminator_loss(real: Sequence[jax.Array], fake: Sequence[jax.Array], kind: str,
                       labels: jax.Array | None = None) -> jax.Array:
  """D's loss, averaged over its scales; `real` and `fake` are logit maps.

  "oasis" (OASIS, Sushko et al. 2021 §3.1, as MS-ILLM uses it; NC `loss_fn/_oasis_loss.py`): the mean of
  the per-pixel cross-entropies of real logits against class `labels + 1` and of fake ones against
  class 0 ("fake"); `labels` (B, h, w) are the real images' codes.
  """
  check_gan(kind, labels, labelled=True)
  terms = []
  for r, f in zip(real, fake, strict=True):
    if kind == "non_saturating":
      t = optax.sigmoid_binary_cross_entropy(r, jnp.ones_like(r)).mean() + \
          optax.sigmoid_binary_cross_entropy(f, jnp.zeros_like(f)).mean()
    elif kind == "least_squares":
      t = jnp.mean(jnp.square(r - 1.0)) + jnp.mean(jnp.square(f))
    elif kind == "oasis":
      t = 0.5 * (_cross_entropy(r, labels + 1) + _cross_entropy(f, jnp.zeros_like(labels)))
    else:
      t = jnp.mean(jax.nn.relu(1.0 - r)) + jnp.mean(jax.nn.relu(1.0 + f))
    terms.append(t)
  return sum(terms) / len(terms)


def generator_loss(fake: Sequence[jax.Array], kind: str, labels: jax.Array | None = None) -> jax.Array:
  """G's adversarial loss: -log D(G(y)) for non-saturating (HiFiC), (D - 1)^2, -D, or for "oasis" the
  cross-entropy of the fake logits against class `labels + 1`, the codes of the images G reconstructs."""
  check_gan(kind, labels, labelled=True)
  terms = []
  for f in fake:
    if kind == "non_saturating":
      terms.append(optax.sigmoid_binary_cross_entropy(f, jnp.ones_like(f)).mean())
    elif kind == "least_squares":
      terms.append(jnp.mean(jnp.square(f - 1.0)))
    elif kind == "oasis":
      terms.append(_cross_entropy(f, labels + 1))
    else:
      terms.append(-jnp.mean(f))
  return sum(terms) / len(terms)


def _cross_entropy(logits: jax.Array, classes: jax.Array) -> jax.Array:
  """Mean over pixels of the cross-entropy of `(B, h, w, K)` logits against `(B, h, w)` classes."""
  if logits.shape[:-1] != classes.shape:
    raise ValueError(f"logits of shape {logits.shape} against labels of shape {classes.shape}")
  return optax.softmax_cross_entropy_with_integer_labels(logits, classes).mean()


def feature_matching(real: Sequence[jax.Array], fake: Sequence[jax.Array]) -> jax.Array:
  """Mean L1 between D's activations on real and fake (pix2pixHD; GC §3)."""
  terms = [jnp.mean(jnp.abs(jax.lax.stop_gradient(r) - f)) for r, f in zip(real, fake, strict=True)]
  return sum(terms) / len(terms)


def learned_similarity(real: Sequence[jax.Array], fake: Sequence[jax.Array]) -> jax.Array:
  """VAE-GAN's Dis_l term (Larsen et al. 2016 §2.2): the Gaussian negative
  log-likelihood of D's hidden representation, i.e. its squared error up to a constant."""
  terms = [jnp.mean(jnp.square(jax.lax.stop_gradient(r) - f)) for r, f in zip(real, fake, strict=True)]
  return sum(terms) / len(terms)


def sparsity(y: jax.Array) -> jax.Array:
  """Mean |y| of the main latent: an L1 penalty that pushes small values to zero,
  where the entropy model makes them nearly free."""
  return jnp.mean(jnp.abs(y))


def check_gan(kind: str, labels: jax.Array | None = None, *, labelled: bool = False) -> None:
  """Raises unless `kind` is one of `GAN_LOSSES`, and (where `labelled`, i.e. when computing it) unless
  "oasis" has its `labels`."""
  if kind not in GAN_LOSSES:
    raise errors.ConfigError(f"unknown GAN loss {kind!r}; choose one of {GAN_LOSSES}")
  if labelled and kind == "oasis" and labels is None:
    raise errors.ConfigError("the oasis GAN loss needs labels: a discriminator with a labeler (discriminator.labeler)")
