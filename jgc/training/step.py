"""The training state and the one jitted training step.

A step with a discriminator reads `2 * batch_size` images: D is updated on
one sub-batch, then G (the codec model) on the other, against the updated D
(TFC `models/hific/model.py`: D's train op runs first). The step is written
for the global batch; under `jax.jit` with the batch sharded over a
`('data',)` mesh, XLA inserts the gradient all-reduce, so the arithmetic does
not depend on the number of devices.
"""

import dataclasses
from typing import Any

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from jgc.models.lpips import lpips
from jgc.training import losses, optimizers


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
class Trainer:
  """The pieces a step needs: models, optimizers and the config's `loss` block."""

  model: nn.Module
  disc: nn.Module | None
  model_opt: optax.GradientTransformation
  disc_opt: optax.GradientTransformation | None
  loss: Any
  lr_schedule: optax.Schedule
  # What the non-finite guard watches, in bit order of `bad_terms`: every loss term the
  # step computes, D's loss, both gradient norms and the updated parameters. Filled when
  # the step is traced, so a new loss term is guarded without being listed anywhere.
  guarded: list[str] = dataclasses.field(default_factory=list, compare=False, hash=False)

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

  def _condition(self, aux: dict) -> jax.Array:
    """What a conditional D sees of the latent: the model's main quantized latent, gradient stopped."""
    return jax.lax.stop_gradient(aux["quantized"][self.model.MAIN_LATENT])

  def step(self, state: TrainState, images: jax.Array) -> tuple[TrainState, dict[str, jax.Array]]:
    """One update of D (if any) and of the model. `images`: the global uint8 batch."""
    x = _to_float(images)
    key = jax.random.fold_in(jax.random.wrap_key_data(state.rng), state.step)
    k_disc, k_gen = jax.random.split(key)
    metrics, checks = {}, {}
    disc_params, disc_stats, disc_opt_state = state.disc_params, state.disc_stats, state.disc_opt_state
    if self.disc is not None:
      # Interleaved halves keep each device's share of both sub-batches local.
      pairs = x.reshape(x.shape[0] // 2, 2, *x.shape[1:])
      x, x_disc = pairs[:, 0], pairs[:, 1]
      (d_loss, (disc_stats, d_metrics)), d_grads = jax.value_and_grad(self._disc_loss, has_aux=True)(
          disc_params, disc_stats, state.params, x_disc, k_disc)
      updates, disc_opt_state = self.disc_opt.update(d_grads, disc_opt_state, disc_params)
      disc_params = optax.apply_updates(disc_params, updates)
      d_norm = optax.tree.norm(d_grads)
      checks.update(discriminator=d_loss, discriminator_gradients=d_norm)
      metrics.update(d_metrics, loss_discriminator=d_loss, grad_norm_discriminator=d_norm)
    disc_vars = {"params": disc_params, "batch_stats": disc_stats}
    (loss, (terms, g_metrics)), grads = jax.value_and_grad(self._model_loss, has_aux=True)(
        state.params, x, k_gen, disc_vars, state.step)
    updates, opt_state = self.model_opt.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    g_norm = optax.tree.norm(grads)
    # A finite loss can still take a step to inf (a bad learning rate); that
    # must not reach a checkpoint either.
    checks.update(terms, generator_gradients=g_norm,
                  updated_parameters=optax.tree.norm((params, disc_params)))
    # The quantiles' aux loss is reported apart: it is not part of the objective.
    objective = loss - terms.get("quantiles", 0.0)
    metrics.update(g_metrics, loss=objective, grad_norm=g_norm, learning_rate=self.lr_schedule(state.step))
    metrics.update({f"loss_{k}": v for k, v in terms.items()})

    self.guarded[:] = sorted(checks)
    if len(self.guarded) > 31:
      raise ValueError(f"the guard's int32 mask holds 31 names, the step has {len(self.guarded)}")
    bad = jnp.int32(0)
    for i, name in enumerate(self.guarded):
      bad = bad | jnp.where(jnp.isfinite(checks[name]), 0, 1 << i)
    good = (bad == 0) & (state.bad_step < 0)
    new = state.replace(params=params, opt_state=opt_state, disc_params=disc_params,
                        disc_stats=disc_stats, disc_opt_state=disc_opt_state)
    keep = lambda a, b: jax.tree.map(lambda u, v: jnp.where(good, u, v), a, b)  # noqa: E731
    first_bad = (state.bad_step < 0) & (bad != 0)
    new = keep(new, state).replace(
        step=state.step + 1,
        bad_step=jnp.where(first_bad, state.step, state.bad_step),
        bad_terms=jnp.where(first_bad, bad, state.bad_terms),
    )
    return new, metrics

  def reconstruct(self, params: Any, images: jax.Array) -> jax.Array:
    """Evaluation-mode reconstructions in [0, 1] of uint8 images."""
    x_hat, _ = self.model.apply({"params": params}, _to_float(images), train=False)
    return jnp.clip(x_hat, 0.0, 1.0)

  def _disc_loss(self, disc_params, disc_stats, params, x, key):
    x_hat, aux = self.model.apply({"params": params}, x, train=True, rngs={"noise": key})
    x_hat, cond = jax.lax.stop_gradient(x_hat), self._condition(aux)
    (logits, _), updated = self.disc.apply(
        {"params": disc_params, "batch_stats": disc_stats},
        jnp.concatenate([x, x_hat]), jnp.concatenate([cond, cond]), train=True, mutable=["batch_stats"])
    real, fake = _halves(logits)
    d_loss = losses.discriminator_loss(real, fake, self.loss.gan)
    metrics = {"d_real": _mean_output(real, self.loss.gan), "d_fake": _mean_output(fake, self.loss.gan)}
    return d_loss, (updated.get("batch_stats", {}), metrics)

  def _model_loss(self, params, x, key, disc_vars, step):
    cfg = self.loss
    (x_hat, aux), sown = self.model.apply(
        {"params": params}, x, train=True, rngs={"noise": key}, mutable=["losses"])
    num_pixels = x.shape[1] * x.shape[2]
    bpp = losses.bits_per_pixel(aux["bits"], num_pixels)
    bpp_rounded = losses.bits_per_pixel(aux["bits_rounded"], num_pixels)
    total_bpp, total_rounded = sum(bpp.values()), sum(bpp_rounded.values())
    weight, target = losses.rate_weight(
        total_rounded, step, target_bpp=cfg.target_bpp, lambda_a=cfg.lambda_a, lambda_b=cfg.lambda_b,
        warmup_steps=cfg.warmup_steps, warmup_target_factor=cfg.warmup_target_factor,
        warmup_rate_factor=cfg.warmup_rate_factor)
    terms = {"rate": weight * jnp.mean(total_bpp)}
    metrics = {"bpp": jnp.mean(total_bpp), "bpp_rounded": jnp.mean(total_rounded),
               "rate_weight": weight, "psnr": losses.psnr(x, x_hat)}
    if target is not None:  # a run with no target logs none, not NaN
      metrics["target_bpp"] = target
    for name in bpp:
      metrics[f"bpp_{name}"] = jnp.mean(bpp[name])
      metrics[f"bpp_rounded_{name}"] = jnp.mean(bpp_rounded[name])
    if cfg.mse_weight:
      terms["mse"] = cfg.mse_weight * losses.mse_255(x, x_hat)
    if cfg.lpips_weight:
      metrics["lpips"] = jnp.mean(lpips(x, x_hat))
      terms["lpips"] = cfg.lpips_weight * metrics["lpips"]
    if self.disc is not None:
      cond = self._condition(aux)
      if cfg.feature_matching_weight or cfg.similarity_weight:
        (logits, feats) = self.disc.apply(disc_vars, jnp.concatenate([x, x_hat]),
                                          jnp.concatenate([cond, cond]), train=False)
        (_, fake), (real_f, fake_f) = _halves(logits), _halves(feats)
        if cfg.feature_matching_weight:
          terms["feature_matching"] = cfg.feature_matching_weight * losses.feature_matching(real_f, fake_f)
        if cfg.similarity_weight:
          terms["similarity"] = cfg.similarity_weight * losses.learned_similarity(real_f, fake_f)
      else:
        fake, _ = self.disc.apply(disc_vars, x_hat, cond, train=False)
      terms["gan"] = cfg.gan_weight * losses.generator_loss(fake, cfg.gan)
    if cfg.kl_weight:
      terms["kl"] = cfg.kl_weight * jnp.mean(aux["kl"]) / num_pixels
    if cfg.sparsity_weight:
      metrics["latent_l1"] = losses.sparsity(aux["latents"][self.model.MAIN_LATENT])
      terms["sparsity"] = cfg.sparsity_weight * metrics["latent_l1"]
    quantile_losses = jax.tree.leaves(sown.get("losses", {}))
    if quantile_losses:
      terms["quantiles"] = sum(quantile_losses)
    return sum(terms.values()), (terms, metrics)


def _to_float(images: jax.Array) -> jax.Array:
  return images.astype(jnp.float32) / 255.0


def _halves(arrays: list[jax.Array]) -> tuple[list[jax.Array], list[jax.Array]]:
  pairs = [jnp.split(a, 2) for a in arrays]
  return [p[0] for p in pairs], [p[1] for p in pairs]


def _mean_output(logits: list[jax.Array], kind: str) -> jax.Array:
  """D's mean output: a probability for the non-saturating (sigmoid) loss, a raw score otherwise."""
  f = jax.nn.sigmoid if kind == "non_saturating" else (lambda v: v)
  return jnp.mean(jnp.stack([jnp.mean(f(v)) for v in logits]))


def make_trainer(model: nn.Module, disc: nn.Module | None, config) -> Trainer:
  """A `Trainer` for a config; checks that the loss and the discriminator agree."""
  adversarial = {k: config.loss[k] for k in ("gan_weight", "feature_matching_weight", "similarity_weight")}
  if disc is None and any(adversarial.values()):
    named = ", ".join(k for k, v in adversarial.items() if v)
    raise ValueError(f"{named} set but the config has no discriminator")
  losses.check_gan(config.loss.gan)
  return Trainer(
      model=model,
      disc=disc,
      model_opt=optimizers.model_optimizer(config.optim),
      disc_opt=optimizers.discriminator_optimizer(config.optim) if disc is not None else None,
      loss=config.loss,
      lr_schedule=optimizers.learning_rate(config.optim.lr, config.optim),
  )
