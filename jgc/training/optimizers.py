"""Optimizers: one chain for the codec model, one for the discriminator.

TFC (`models/hific/model.py::_make_enc_dec_entropy_train_op`) runs separate
Adams for the transforms, the entropy models and the quantiles' aux loss, plus
one for D. Adam's state is per element, so the first two are one Adam here;
the quantiles get their own chain and learning rate. Gradient clipping, when
set, applies to the transforms and to D, never to the quantiles.
"""

import jax
import ml_collections
import optax

QUANTILES = "quantiles"


def learning_rate(lr: float, optim: ml_collections.ConfigDict) -> optax.Schedule:
  """`lr`, times `decay_factor` from `decay_steps` on (HiFiC: x0.1 after 500k steps)."""
  return optax.piecewise_constant_schedule(lr, {int(optim.decay_steps): float(optim.decay_factor)})


def _adam(lr: float, optim: ml_collections.ConfigDict) -> optax.GradientTransformation:
  adam = optax.adam(learning_rate(lr, optim), b1=optim.b1, b2=optim.b2)
  if optim.clip_norm is None:
    return adam
  return optax.chain(optax.clip_by_global_norm(optim.clip_norm), adam)


def _label(path: jax.tree_util.KeyPath, _: object) -> str:
  return QUANTILES if getattr(path[-1], "key", None) == QUANTILES else "transforms"


def model_optimizer(optim: ml_collections.ConfigDict) -> optax.GradientTransformation:
  """Adam for the codec model's parameters, the quantiles on their own chain."""
  return optax.multi_transform(
      {"transforms": _adam(optim.lr, optim),
       QUANTILES: optax.adam(learning_rate(optim.quantiles_lr, optim), b1=optim.b1, b2=optim.b2)},
      lambda params: jax.tree_util.tree_map_with_path(_label, params))


def discriminator_optimizer(optim: ml_collections.ConfigDict) -> optax.GradientTransformation:
  """Adam for D, with the same schedule (TFC `_make_discriminator_optimizer`)."""
  return _adam(optim.discriminator_lr, optim)
