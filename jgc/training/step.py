"""The training state, the frozen pieces of a step, and the one jitted training step.

A step with a discriminator reads `2 * batch_size` images: D is updated on
one sub-batch, then G (the codec model) on the other, against the updated D
(TFC `models/hific/model.py`: D's train op runs first). The step is written
for the global batch; under `jax.jit` with the batch sharded over a
`('data',)` mesh, XLA inserts the gradient all-reduce, so the arithmetic does
not depend on the number of devices.

`Trainer.step` is a pure function of `(state, images)`: it reads its frozen
pieces (models, optimizers, `LossWeights`, the guarded names, all fixed by
`make_trainer`) and changes none of them, so tracing it twice traces the same step.
"""

import dataclasses
import functools
from typing import Any

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import optax

from jgc import errors
from jgc.codec.labeler import Labeler
from jgc.models.lpips import lpips
from jgc.training import losses, optimizers

# The guard's mask is an int32 whose sign bit stays clear, so 31 names at most.
MAX_GUARDED = 31


@flax.struct.dataclass
class TrainState:
  """Arrays only; `disc_*` are empty dicts when the config has no discriminator.

  `bad_step` is -1 until a step computes a non-finite loss or gradient; from
  then on the state is frozen, and `bad_terms` says which terms (bits over
  `Trainer.guarded`), so the host can stop with a clear message at its next check.
  """

  step: jax.Array
  rng: jax.Array  # raw key data, so checkpoints hold plain uint32
  params: Any
  opt_state: Any
  disc_params: Any
  disc_stats: Any
  disc_opt_state: Any
  bad_step: jax.Array
  bad_terms: jax.Array


@dataclasses.dataclass(frozen=True)
class LossWeights:
  """The config's `loss` block, typed: every weight and setting the step's objective reads.

  A weight of 0 leaves its term out of the objective, and so out of the guard.
  """

  # The rate weight is lambda_a while the batch's mean rounded bpp is above target_bpp and lambda_b below
  # it; with no target, lambda_a always (HiFiC, Mentzer et al. 2020 §3.2). Both multiply bits per pixel.
  target_bpp: float | None
  lambda_a: float
  lambda_b: float
  # For the first warmup_steps the target is multiplied by warmup_target_factor, the rate weight by
  # warmup_rate_factor (TFC `configs.py`).
  warmup_steps: int
  warmup_target_factor: float
  warmup_rate_factor: float
  mse_weight: float  # on MSE in 0..255 units
  lpips_weight: float
  gan: str  # the adversarial loss, one of `losses.GAN_LOSSES`
  gan_weight: float
  feature_matching_weight: float  # on the mean L1 between D's activations (GC §3)
  similarity_weight: float  # on the squared error of D's activations (VAE-GAN §2.2)
  kl_weight: float  # on KL nats per pixel
  sparsity_weight: float  # on the main latent's mean |y|

  @classmethod
  def from_config(cls, loss: ml_collections.ConfigDict) -> "LossWeights":
    """The weights of a config's `loss` block; raises on a field no term reads (a typo) or an unknown GAN loss."""
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(loss.keys()) - set(names))
    if unknown:
      raise errors.ConfigError(f"unknown loss fields {unknown}; the loss block has {', '.join(names)}")
    losses.check_gan(loss.gan)
    return cls(**{name: loss[name] for name in names})


@dataclasses.dataclass(frozen=True)
class Trainer:
  """The frozen pieces a step closes over: the models, their optimizers, the loss weights and the guarded names."""

  model: nn.Module
  disc: nn.Module | None
  model_opt: optax.GradientTransformation
  disc_opt: optax.GradientTransformation | None
  weights: LossWeights
  lr_schedule: optax.Schedule
  labeler: Labeler | None  # the frozen VQ-VAE whose codes are D's targets, for the "oasis" GAN loss
  # What the non-finite guard watches, in bit order of `bad_terms`: every loss term the step computes, D's
  # loss, both gradient norms and the updated parameters. `make_trainer` reads them off the step's abstract
  # evaluation, so a new loss term is guarded without being listed anywhere.
  guarded: tuple[str, ...]

  def guarded_names(self, bad_terms: int) -> list[str]:
    """The names behind the set bits of a state's `bad_terms`."""
    return [name for i, name in enumerate(self.guarded) if bad_terms & (1 << i)]

  def init(self, key: jax.Array, images: jax.Array) -> TrainState:
    """A fresh state; `images` (uint8 NHWC, one G sub-batch) only fixes shapes."""
    k_model, k_disc, k_noise, k_run = jax.random.split(key, 4)
    x = _to_float(images)
    variables = self.model.init({"params": k_model, "noise": k_noise}, x, train=False)
    params = variables["params"]
    disc_params, disc_stats, disc_opt_state = {}, {}, {}
    if self.disc is not None:
      _, aux = jax.eval_shape(lambda v: self.model.apply(v, x, train=False), variables)
      cond = jnp.zeros(aux["quantized"][self.model.MAIN_LATENT].shape, jnp.float32)
      d_vars = self.disc.init({"params": k_disc}, x, cond, train=False)
      disc_params, disc_stats = d_vars["params"], d_vars.get("batch_stats", {})
      disc_opt_state = self.disc_opt.init(disc_params)
    return TrainState(
        step=jnp.zeros((), jnp.int32),
        rng=jax.random.key_data(k_run),
        params=params,
        opt_state=self.model_opt.init(params),
        disc_params=disc_params,
        disc_stats=disc_stats,
        disc_opt_state=disc_opt_state,
        bad_step=jnp.full((), -1, jnp.int32),
        bad_terms=jnp.zeros((), jnp.int32),
    )

  def frozen(self) -> Any:
    """The labeler's parameters (None without one): `step`'s third argument. Applied, never optimized,
    and not in the state: they are the labeler file's, and checkpoints stay those of the other configs."""
    return None if self.labeler is None else jax.tree.map(jnp.asarray, self.labeler.params)

  def step(self, state: TrainState, images: jax.Array,
           frozen: Any = None) -> tuple[TrainState, dict[str, jax.Array]]:
    """One update of D (if any) and of the model, guarded. `images`: the global uint8 batch; `frozen`:
    `self.frozen()`, passed in so that a jitted step takes them as an argument, not as constants."""
    updated, checks, metrics = _update(self, state, images, frozen)
    if tuple(sorted(checks)) != self.guarded:
      raise ValueError(f"the step computes {sorted(checks)}, its trainer guards {list(self.guarded)}")
    return _guard(state, updated, [checks[name] for name in self.guarded]), metrics

  def reconstruct(self, params: Any, images: jax.Array) -> jax.Array:
    """Evaluation-mode reconstructions in [0, 1] of uint8 images."""
    x_hat, _ = self.model.apply({"params": params}, _to_float(images), train=False)
    return jnp.clip(x_hat, 0.0, 1.0)


def _update(trainer: Trainer, state: TrainState, images: jax.Array,
            frozen: Any = None) -> tuple[TrainState, dict[str, jax.Array], dict[str, jax.Array]]:
  """D's update (if any), then G's against the updated D, unguarded: the new state, what the guard checks, metrics."""
  x = _to_float(images)
  key = jax.random.fold_in(jax.random.wrap_key_data(state.rng), state.step)
  k_disc, k_gen = jax.random.split(key)
  metrics, checks, labels = {}, {}, None
  disc_params, disc_stats, disc_opt_state = state.disc_params, state.disc_stats, state.disc_opt_state
  if trainer.disc is not None:
    # Interleaved halves keep each device's share of both sub-batches local.
    pairs = x.reshape(x.shape[0] // 2, 2, *x.shape[1:])
    x, x_disc = pairs[:, 0], pairs[:, 1]
    labels_disc, labels = (_labels(trainer, frozen, v) for v in (x_disc, x))
    (d_loss, (disc_stats, d_metrics)), d_grads = jax.value_and_grad(
        functools.partial(_disc_loss, trainer), has_aux=True)(disc_params, disc_stats, state.params, x_disc, k_disc,
                                                              labels_disc)
    updates, disc_opt_state = trainer.disc_opt.update(d_grads, disc_opt_state, disc_params)
    disc_params = optax.apply_updates(disc_params, updates)
    d_norm = optax.tree.norm(d_grads)
    checks.update(discriminator=d_loss, discriminator_gradients=d_norm)
    metrics.update(d_metrics, loss_discriminator=d_loss, grad_norm_discriminator=d_norm)
  disc_vars = {"params": disc_params, "batch_stats": disc_stats}
  (loss, (terms, g_metrics)), grads = jax.value_and_grad(functools.partial(_model_loss, trainer), has_aux=True)(
      state.params, x, k_gen, disc_vars, state.step, labels)
  updates, opt_state = trainer.model_opt.update(grads, state.opt_state, state.params)
  params = optax.apply_updates(state.params, updates)
  g_norm = optax.tree.norm(grads)
  # A finite loss can still take a step to inf (a bad learning rate); that
  # must not reach a checkpoint either.
  checks.update(terms, generator_gradients=g_norm, updated_parameters=optax.tree.norm((params, disc_params)))
  # The quantiles' aux loss is reported apart: it is not part of the objective.
  objective = loss - terms.get("quantiles", 0.0)
  metrics.update(g_metrics, loss=objective, grad_norm=g_norm, learning_rate=trainer.lr_schedule(state.step))
  metrics.update({f"loss_{k}": v for k, v in terms.items()})
  updated = state.replace(params=params, opt_state=opt_state, disc_params=disc_params,
                          disc_stats=disc_stats, disc_opt_state=disc_opt_state)
  return updated, checks, metrics


def _guard(state: TrainState, updated: TrainState, checked: list[jax.Array]) -> TrainState:
  """`updated` if every checked value is finite and no earlier step was bad, else `state` unchanged; either way
  one step on, and the first bad step with its bits (one per checked value) recorded."""
  bad = jnp.int32(0)
  for i, value in enumerate(checked):
    bad = bad | jnp.where(jnp.isfinite(value), 0, 1 << i)
  good = (bad == 0) & (state.bad_step < 0)
  keep = lambda a, b: jax.tree.map(lambda u, v: jnp.where(good, u, v), a, b)  # noqa: E731
  first_bad = (state.bad_step < 0) & (bad != 0)
  return keep(updated, state).replace(
      step=state.step + 1,
      bad_step=jnp.where(first_bad, state.step, state.bad_step),
      bad_terms=jnp.where(first_bad, bad, state.bad_terms),
  )


def _condition(model: nn.Module, aux: dict) -> jax.Array:
  """What a conditional D sees of the latent: the model's main quantized latent, gradient stopped."""
  return jax.lax.stop_gradient(aux["quantized"][model.MAIN_LATENT])


def _labels(trainer: Trainer, frozen: Any, x: jax.Array) -> jax.Array | None:
  """The frozen labeler's codes of images `x` (MS-ILLM's D targets), or None without a labeler."""
  if trainer.labeler is None:
    return None
  if frozen is None:
    raise ValueError("a step with a labeler needs its parameters: step(state, images, trainer.frozen())")
  return trainer.labeler.module.apply({"params": frozen}, x)


def _disc_loss(trainer: Trainer, disc_params: Any, disc_stats: Any, params: Any, x: jax.Array, key: jax.Array,
               labels: jax.Array | None) -> tuple[jax.Array, tuple[Any, dict[str, jax.Array]]]:
  """D's loss on real `x` (of codes `labels`, if D has a labeler) against G's reconstructions of it;
  returns `(loss, (updated batch stats, metrics))`."""
  x_hat, aux = trainer.model.apply({"params": params}, x, train=True, rngs={"noise": key})
  x_hat, cond = jax.lax.stop_gradient(x_hat), _condition(trainer.model, aux)
  (logits, _), updated = trainer.disc.apply(
      {"params": disc_params, "batch_stats": disc_stats},
      jnp.concatenate([x, x_hat]), jnp.concatenate([cond, cond]), train=True, mutable=["batch_stats"])
  real, fake = _halves(logits)
  gan = trainer.weights.gan
  d_loss = losses.discriminator_loss(real, fake, gan, labels)
  metrics = {"d_real": _mean_output(real, gan), "d_fake": _mean_output(fake, gan)}
  return d_loss, (updated.get("batch_stats", {}), metrics)


def _model_loss(trainer: Trainer, params: Any, x: jax.Array, key: jax.Array, disc_vars: dict, step: jax.Array,
                labels: jax.Array | None) -> tuple[jax.Array, tuple[dict[str, jax.Array], dict[str, jax.Array]]]:
  """G's loss: the sum of its weighted terms (`labels`: the codes of `x`, if D has a labeler); returns
  `(loss, (terms, metrics))`."""
  w = trainer.weights
  (x_hat, aux), sown = trainer.model.apply(
      {"params": params}, x, train=True, rngs={"noise": key}, mutable=["losses"])
  num_pixels = x.shape[1] * x.shape[2]
  bpp = losses.bits_per_pixel(aux["bits"], num_pixels)
  bpp_rounded = losses.bits_per_pixel(aux["bits_rounded"], num_pixels)
  total_bpp, total_rounded = sum(bpp.values()), sum(bpp_rounded.values())
  weight, target = losses.rate_weight(
      total_rounded, step, target_bpp=w.target_bpp, lambda_a=w.lambda_a, lambda_b=w.lambda_b,
      warmup_steps=w.warmup_steps, warmup_target_factor=w.warmup_target_factor,
      warmup_rate_factor=w.warmup_rate_factor)
  terms = {"rate": weight * jnp.mean(total_bpp)}
  metrics = {"bpp": jnp.mean(total_bpp), "bpp_rounded": jnp.mean(total_rounded),
             "rate_weight": weight, "psnr": losses.psnr(x, x_hat)}
  if target is not None:  # a run with no target logs none, not NaN
    metrics["target_bpp"] = target
  for name in bpp:
    metrics[f"bpp_{name}"] = jnp.mean(bpp[name])
    metrics[f"bpp_rounded_{name}"] = jnp.mean(bpp_rounded[name])
  if w.mse_weight:
    terms["mse"] = w.mse_weight * losses.mse_255(x, x_hat)
  if w.lpips_weight:
    metrics["lpips"] = jnp.mean(lpips(x, x_hat))
    terms["lpips"] = w.lpips_weight * metrics["lpips"]
  if trainer.disc is not None:
    terms.update(_adversarial_terms(trainer, disc_vars, x, x_hat, _condition(trainer.model, aux), labels))
  if w.kl_weight:
    terms["kl"] = w.kl_weight * jnp.mean(aux["kl"]) / num_pixels
  if w.sparsity_weight:
    metrics["latent_l1"] = losses.sparsity(aux["latents"][trainer.model.MAIN_LATENT])
    terms["sparsity"] = w.sparsity_weight * metrics["latent_l1"]
  quantile_losses = jax.tree.leaves(sown.get("losses", {}))
  if quantile_losses:
    terms["quantiles"] = sum(quantile_losses)
  return sum(terms.values()), (terms, metrics)


def _adversarial_terms(trainer: Trainer, disc_vars: dict, x: jax.Array, x_hat: jax.Array, cond: jax.Array,
                       labels: jax.Array | None) -> dict[str, jax.Array]:
  """G's terms against D: feature matching and learned similarity (if weighted) and the GAN loss."""
  w = trainer.weights
  terms = {}
  if w.feature_matching_weight or w.similarity_weight:
    (logits, feats) = trainer.disc.apply(disc_vars, jnp.concatenate([x, x_hat]),
                                         jnp.concatenate([cond, cond]), train=False)
    (_, fake), (real_f, fake_f) = _halves(logits), _halves(feats)
    if w.feature_matching_weight:
      terms["feature_matching"] = w.feature_matching_weight * losses.feature_matching(real_f, fake_f)
    if w.similarity_weight:
      terms["similarity"] = w.similarity_weight * losses.learned_similarity(real_f, fake_f)
  else:
    fake, _ = trainer.disc.apply(disc_vars, x_hat, cond, train=False)
  terms["gan"] = w.gan_weight * losses.generator_loss(fake, w.gan, labels)
  return terms


def _to_float(images: jax.Array) -> jax.Array:
  return images.astype(jnp.float32) / 255.0


def _halves(arrays: list[jax.Array]) -> tuple[list[jax.Array], list[jax.Array]]:
  pairs = [jnp.split(a, 2) for a in arrays]
  return [p[0] for p in pairs], [p[1] for p in pairs]


def _mean_output(logits: list[jax.Array], kind: str) -> jax.Array:
  """D's mean output: a probability for the non-saturating (sigmoid) loss, that of "real" (any code, not
  class 0) for OASIS, a raw score otherwise."""
  probability = {"non_saturating": jax.nn.sigmoid, "oasis": lambda v: 1.0 - jax.nn.softmax(v)[..., 0]}
  f = probability.get(kind, lambda v: v)
  return jnp.mean(jnp.stack([jnp.mean(f(v)) for v in logits]))


def images_per_step(config: ml_collections.ConfigDict) -> int:
  """Global images read per step: twice the batch with a discriminator (one sub-batch each)."""
  return config.batch_size * (1 if config.discriminator is None else 2)


def _guarded(trainer: Trainer, config: ml_collections.ConfigDict) -> tuple[str, ...]:
  """The names the guard watches, in bit order: what one abstract evaluation of the step (shapes only, nothing
  compiled or computed) checks, on the config's batch and crop."""
  crop = (config.crop_px, config.crop_px, 3)
  sample = jax.ShapeDtypeStruct((1, *crop), jnp.uint8)
  images = jax.ShapeDtypeStruct((images_per_step(config), *crop), jnp.uint8)
  state = jax.eval_shape(trainer.init, jax.random.key(0), sample)
  _, checks, _ = jax.eval_shape(functools.partial(_update, trainer), state, images, trainer.frozen())
  if len(checks) > MAX_GUARDED:
    raise ValueError(f"the guard's int32 mask holds {MAX_GUARDED} names, the step has {len(checks)}")
  return tuple(sorted(checks))


def make_trainer(model: nn.Module, disc: nn.Module | None, config: ml_collections.ConfigDict,
                 labeler: Labeler | None = None) -> Trainer:
  """A `Trainer` for a config, its guarded names fixed; checks that the loss, the discriminator and the
  labeler (`discriminator.labeler`, which the "oasis" loss and only it needs) agree."""
  weights = LossWeights.from_config(config.loss)
  if weights.gan == "oasis" and labeler is None:
    raise errors.ConfigError("discriminator.labeler is not set: the oasis GAN loss (configs/hific.py:illm) needs "
                             "the labeler file that `jgc import vqvae` writes from NeuralCompression's VQ-VAE")
  if labeler is not None and weights.gan != "oasis":
    raise errors.ConfigError(f"discriminator.labeler is set, but only the oasis GAN loss uses one, not {weights.gan!r}")
  adversarial = {k: getattr(weights, k) for k in ("gan_weight", "feature_matching_weight", "similarity_weight")}
  if disc is None and any(adversarial.values()):
    named = ", ".join(k for k, v in adversarial.items() if v)
    raise errors.ConfigError(f"{named} set but the config has no discriminator")
  trainer = Trainer(
      model=model,
      disc=disc,
      model_opt=optimizers.model_optimizer(config.optim),
      disc_opt=optimizers.discriminator_optimizer(config.optim) if disc is not None else None,
      weights=weights,
      lr_schedule=optimizers.learning_rate(config.optim.lr, config.optim),
      labeler=labeler,
      guarded=(),
  )
  return dataclasses.replace(trainer, guarded=_guarded(trainer, config))
