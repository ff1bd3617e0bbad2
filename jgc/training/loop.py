"""The training loop: data-parallel over a `('data',)` mesh, resumable, guarded.

Parameters and optimizer state are replicated; each host feeds its share of
the global batch (`jax.make_array_from_process_local_data`), and one jitted
step does the rest (see `jgc.training.step`). Checkpoints hold the state and every
host's input-iterator position, so a run killed at any point continues from
its last checkpoint with the same data and the same random stream.
"""

import contextlib
import dataclasses
import json
import logging
import os
import signal
import threading
from collections.abc import Callable, Iterator
from typing import Any

import grain
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import orbax.checkpoint as ocp
from clu import parameter_overview
from etils import epath
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from jgc import errors
from jgc.codec import bundle as bundles
from jgc.codec import labeler as labelers
from jgc.data import BadRecords, EncodedImages, train_dataset
from jgc.io import paths
from jgc.models import build_discriminator, build_model
from jgc.training import checkpoints, summaries
from jgc.training.step import Trainer, TrainState, images_per_step, make_trainer

IMAGES_SHOWN = 4


class NonFiniteLoss(errors.Error, RuntimeError):
  """A loss term or gradient became NaN or infinite; the run stopped."""


class ConfigMismatch(errors.ConfigError):
  """A checkpoint does not fit the config's models."""


def make_mesh(devices: list | None = None) -> Mesh:
  """A one-axis `('data',)` mesh over `devices` (default: all of them, on every host)."""
  return Mesh(np.asarray(devices if devices is not None else jax.devices()), ("data",))


def build_trainer(config: ml_collections.ConfigDict) -> Trainer:
  """The config's model, discriminator (or none) and its labeler (or none), losses and optimizers."""
  dtype = config.compute_dtype
  disc, frozen = None, None
  if config.discriminator is not None:
    block = config.discriminator.to_dict()
    path = block.pop("labeler", None)
    if path:
      frozen = _labeler(path)
      # D scores each code of the labeler's codebook, and class 0 "fake" (MS-ILLM §3.2).
      block.setdefault("output_channels", frozen.config["codebook_size"] + 1)
    disc = build_discriminator(block, dtype)
    if frozen is not None:
      _check_labeler(disc, frozen, path)
  return make_trainer(build_model(config.model, dtype), disc, config, frozen)


def _labeler(path: str) -> labelers.Labeler:
  try:
    return labelers.load(path)
  except errors.NotFound:
    raise errors.NotFound(f"discriminator.labeler: no file {path} (`jgc import vqvae CHECKPOINT -o {path}` "
                          "makes one)") from None


def _check_labeler(disc: Any, frozen: labelers.Labeler, path: str) -> None:
  """Refuses a discriminator whose logits have not one class per code plus "fake", or another size than the labels."""
  want = (frozen.config["codebook_size"] + 1, frozen.module.factor)
  got = (getattr(disc, "output_channels", None), getattr(disc, "output_factor", None))
  if got != want:
    raise errors.ConfigError(f"the discriminator's classes and output factor are {got}; the labeler {path} "
                             f"needs {want} ({want[0] - 1} codes and fake, one label per {want[1]}x{want[1]} patch)")


def check_batch(config: ml_collections.ConfigDict, *, num_devices: int, num_hosts: int) -> None:
  """Raises unless every device gets whole images (and, with D, as many for D as for G)."""
  n = images_per_step(config)
  per_device = 2 if config.discriminator is not None else 1
  if config.batch_size < 1 or n % (num_devices * per_device) or n % num_hosts:
    raise errors.ConfigError(
        f"batch_size {config.batch_size} ({n} images per step) does not split evenly over "
        f"{num_devices} devices on {num_hosts} hosts"
        + (" with both D and G sub-batches on every device" if per_device == 2 else ""))


@contextlib.contextmanager
def _writing(path: str | os.PathLike) -> Iterator[None]:
  """Turns a failed write inside into `CannotWrite`, naming the file (else `path`) and the OS's reason."""
  try:
    yield
  except errors.CannotWrite:
    raise  # from `paths.write_bytes`, already naming its file
  except Exception as e:
    reason = checkpoints.write_failure(e)
    if reason is None:
      raise
    raise errors.CannotWrite(f"cannot write {getattr(e, 'filename', None) or path}: {reason}") from None


def _first_difference(theirs: Any, ours: Any, name: str) -> str | None:
  if isinstance(theirs, dict) and isinstance(ours, dict):
    for key in [*theirs, *(k for k in ours if k not in theirs)]:
      found = _first_difference(theirs.get(key), ours.get(key), f"{name}.{key}")
      if found:
        return found
    return None
  return None if theirs == ours else \
      f"{name} is {json.dumps(theirs)} in its config.json and {json.dumps(ours)} in this config"


def _check_workdir(config: ml_collections.ConfigDict, workdir: str) -> None:
  """Refuses, before anything is written, a workdir whose config.json holds another model or discriminator.

  Its checkpoints could not be restored into this config's models, and `jgc export`
  rebuilds the model from config.json, so it must keep describing them. Other fields
  (steps, learning rates, loss weights, ...) may change when a run is resumed.
  """
  path = paths.resolve(workdir) / "config.json"
  if not path.exists():
    return
  text = paths.read_bytes(path)
  try:
    theirs = json.loads(text)
  except ValueError as e:
    raise errors.ConfigError(f"{path} is not a jgc config: {e}") from None
  ours = json.loads(config.to_json_best_effort())
  for block in ("model", "discriminator"):
    found = _first_difference(theirs.get(block), ours.get(block), block)
    if found:
      raise ConfigMismatch(f"{workdir} holds a run of another model: {found}; resume it with its own config "
                           "or train in another workdir")


def _check_writable(workdir: str) -> None:
  """Creates `workdir` and writes a file in it: a workdir that cannot be written stops the run before it starts."""
  root = paths.resolve(workdir)
  probe = root / f".write-test-{jax.process_index()}"
  with _writing(root):
    root.mkdir(parents=True, exist_ok=True)
    probe.write_bytes(b"")
    probe.unlink()


def _restore(manager: ocp.CheckpointManager, abstract: TrainState, iterator: grain.DatasetIterator) -> TrainState:
  step = manager.latest_step()
  mine = f"process_{jax.process_index()}-of-{jax.process_count()}.json"
  # A checkpoint from another number of hosts restores the state, but not the
  # input position: the shards themselves differ. (epath: also on gs://.)
  same_hosts = (manager.directory / str(step) / "data" / mine).exists()
  args = {"state": ocp.args.StandardRestore(abstract)}
  if same_hosts:
    args["data"] = grain.checkpoint.CheckpointRestore(iterator)
  try:
    restored = manager.restore(step, args=ocp.args.Composite(**args))
  except (ValueError, KeyError, TypeError) as e:
    raise ConfigMismatch(
        f"the checkpoint at step {step} in {manager.directory} does not fit this config "
        f"(another model or discriminator?): {e}") from None
  if not same_hosts:
    logging.warning("step %d was saved by another number of hosts; the input pipeline restarts "
                    "from its seed on %d host(s)", step, jax.process_count())
  logging.info("resumed from step %d in %s", step, manager.directory)
  return restored.state


def _architecture_difference(theirs: dict, ours: ml_collections.ConfigDict) -> str | None:
  """The first field in which two model blocks build different architectures, with every field the
  blocks leave out at its default; None if they build the same. The compute dtype is not compared:
  a float32 bundle fine-tunes in bfloat16 as well."""
  a, b = build_model(theirs), build_model(ours)
  if type(a) is not type(b):
    return f"model.name is {json.dumps(theirs.get('name'))} there and {json.dumps(ours.name)} here"
  for field in dataclasses.fields(b):
    if field.name not in ("parent", "name", "dtype") and getattr(a, field.name) != getattr(b, field.name):
      return f"model.{field.name} is {getattr(a, field.name)!r} there and {getattr(b, field.name)!r} here"
  return None


def _starting_params(source: str, model: ml_collections.ConfigDict) -> tuple[dict, str]:
  """`(params, where they come from)` of `init_from`: a model bundle (a file: exported by `jgc export`
  or imported from CompressAI or the PyTorch HiFiC port), else a training workdir's latest checkpoint."""
  if paths.resolve(source).is_file():
    bundle = bundles.load(source)
    found = _architecture_difference(bundle.model_config, model)
    if found:
      raise ConfigMismatch(f"init_from: {source} holds another model than this config's: {found}")
    return bundle.params, f"the bundle {source} (model id {bundle.model_id.hex()})"
  latest = checkpoints.latest_params(source)
  if latest is None:
    raise errors.NotFound(f"init_from: {source} is neither a model bundle nor a workdir with a checkpoint")
  return latest[1], f"step {latest[0]} of {source}"


def _check_fits(params: dict, origin: str, abstract: TrainState) -> None:
  expected = jax.tree.map(lambda a: a.shape, abstract.params)
  if jax.tree.map(lambda a: a.shape, params) != expected:
    raise ConfigMismatch(f"init_from: the model of {origin} has other layers or sizes than this config's model")


def _start_from(params: dict, origin: str, trainer: Trainer, state: TrainState, sharding: NamedSharding) -> TrainState:
  """`state` with the codec model (autoencoder and entropy models) `params`; D and optimizers fresh."""
  params = jax.device_put(jax.tree.map(lambda a: np.asarray(a, np.float32), params), sharding)
  logging.info("initialized the model from %s", origin)
  return state.replace(params=params, opt_state=trainer.model_opt.init(params))


def _write_parameters(workdir: str, trainer: Trainer, state: TrainState) -> None:
  """Writes the parameter tables to `workdir/parameters.txt` and logs their totals in one line.

  The tables run to a hundred lines even for a tiny model; on the console they buried what the run was doing.
  """
  parts = [("model", state.params)]
  if trainer.disc is not None:
    parts.append(("discriminator", state.disc_params))
  step = int(state.step)
  text = "".join(f"{name} parameters at step {step}:\n{parameter_overview.get_parameter_overview(params)}\n\n"
                 for name, params in parts)
  path = paths.resolve(workdir) / "parameters.txt"
  with _writing(path):
    paths.write_bytes(path, text.encode())
  totals = ", ".join(f"{name} {parameter_overview.count_parameters(params):,}" for name, params in parts)
  logging.info("parameters: %s (tables in %s)", totals, path)


def _raise_if_bad(state: TrainState, trainer: Trainer, manager: ocp.CheckpointManager) -> None:
  bad_step = int(state.bad_step)
  if bad_step < 0:
    return
  terms = ", ".join(trainer.guarded_names(int(state.bad_terms)))
  with _writing(manager.directory):
    manager.wait_until_finished()
  last = manager.latest_step()
  kept = f"the last good checkpoint is step {last} in {manager.directory}" if last is not None else \
      "no checkpoint was written yet"
  raise NonFiniteLoss(f"non-finite {terms} at step {bad_step}; training stopped and {kept}")


@contextlib.contextmanager
def _preemption_notice() -> Iterator[Callable[[int], bool]]:
  """Yields `preempted(step)`, true once the run must save and stop.

  One process: after a SIGTERM (a spot VM's or SLURM's warning). Several:
  at the step JAX's preemption service agrees on for every host, so all of
  them save the same step (it listens for SIGTERM itself, so no handler of
  ours replaces its own).
  """
  if jax.process_count() > 1:
    yield multihost_utils.reached_preemption_sync_point
    return
  if threading.current_thread() is not threading.main_thread():
    yield lambda step: False  # signals reach only the main thread
    return
  term = threading.Event()
  previous = signal.signal(signal.SIGTERM, lambda *_: term.set())
  try:
    yield lambda step: term.is_set()
  finally:
    signal.signal(signal.SIGTERM, previous)


def train(config: ml_collections.ConfigDict, workdir: str, *, devices: list | None = None,
          source: EncodedImages | None = None) -> TrainState:
  """Trains `config` in `workdir` (config.json, checkpoints/, tensorboard/), resuming if it holds a checkpoint.

  Args:
    config: a training config (see `configs/`).
    workdir: where config.json, checkpoints and TensorBoard logs go: a local path or gs:// URL.
    devices: the mesh's devices (default: all).
    source: an opened image source instead of `config.data` (tests).
  Returns:
    The final state.
  Raises:
    jgc.Error for every failure a config, a dataset or a workdir can cause, among them:
    ConfigMismatch: the workdir holds another model's run, or a checkpoint this config cannot restore;
      nothing in the workdir has changed.
    jgc.errors.CannotWrite: a file of the workdir could not be written.
    NonFiniteLoss: a step gave a NaN or infinity; the last good checkpoint is kept.
  """
  _check_workdir(config, workdir)
  mesh = make_mesh(devices)
  check_batch(config, num_devices=mesh.size, num_hosts=jax.process_count())
  _check_writable(workdir)
  logging.info("building the model ...")
  trainer = build_trainer(config)
  per_host = images_per_step(config) // jax.process_count()
  logging.info("preparing data ...")
  dataset, bad_records = train_dataset(
      config.data, batch_size=per_host, crop_px=config.crop_px, seed=config.seed, source=source)
  iterator = iter(dataset)
  with _writing(checkpoints.directory(workdir)):
    manager = checkpoints.manager(workdir, keep=config.keep_checkpoints)
  state = _first_state(config, trainer, manager, iterator, NamedSharding(mesh, P()))
  if jax.process_index() == 0:
    # Once the checkpoint, if any, has restored: the config then fits it.
    _write_config(config, workdir)
    _write_parameters(workdir, trainer, state)
  logdir = paths.resolve(workdir) / "tensorboard"
  with _writing(logdir):
    writer = summaries.Writer(logdir)
  with contextlib.ExitStack() as cleanup:
    cleanup.enter_context(checkpoints.quiet_failed_writes())
    preempted = cleanup.enter_context(_preemption_notice())
    # Closing waits for the last save, so it reports a failed one too (`_writing` also wraps functions).
    cleanup.callback(_writing(manager.directory)(manager.close))
    cleanup.callback(_writing(logdir)(writer.close))
    state = _run_steps(config, trainer, state, mesh, iterator, bad_records, preempted=preempted, manager=manager,
                       writer=writer, logdir=logdir)
    with _writing(manager.directory):
      manager.wait_until_finished()
  return state


def _first_state(config: ml_collections.ConfigDict, trainer: Trainer, manager: ocp.CheckpointManager,
                 iterator: grain.DatasetIterator, replicated: NamedSharding) -> TrainState:
  """The latest checkpoint's state (and input position), else a fresh one, from `config.init_from`'s model if set."""
  sample = jnp.zeros((1, config.crop_px, config.crop_px, 3), jnp.uint8)
  key = jax.random.key(config.seed)
  if manager.latest_step() is not None:
    abstract = jax.eval_shape(trainer.init, key, sample)
    abstract = jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=replicated), abstract)
    return _restore(manager, abstract, iterator)
  start = None
  if config.init_from:
    # Refused, if it does not fit, before a minute goes into compiling.
    start = _starting_params(config.init_from, config.model)
    _check_fits(*start, jax.eval_shape(trainer.init, key, sample))
  logging.info("initializing the parameters (compiling the model: about a minute on a CPU the first time) ...")
  state = jax.jit(trainer.init, out_shardings=replicated)(key, sample)
  return _start_from(*start, trainer, state, replicated) if start else state


def _write_config(config: ml_collections.ConfigDict, workdir: str) -> None:
  """Writes `workdir/config.json`: what `jgc export` rebuilds the model from."""
  path = paths.resolve(workdir) / "config.json"
  with _writing(path):
    paths.write_bytes(path, config.to_json_best_effort(indent=2).encode())


def _run_steps(config: ml_collections.ConfigDict, trainer: Trainer, state: TrainState, mesh: Mesh,
               iterator: grain.DatasetIterator, bad_records: BadRecords, *, preempted: Callable[[int], bool],
               manager: ocp.CheckpointManager, writer: summaries.Writer, logdir: epath.Path) -> TrainState:
  """Steps to `config.num_steps`, or to a preemption; logs, shows images and saves checkpoints on schedule."""
  replicated, batched = NamedSharding(mesh, P()), NamedSharding(mesh, P("data"))
  step_fn = jax.jit(trainer.step, out_shardings=(replicated, replicated), donate_argnums=0)
  reconstruct = jax.jit(trainer.reconstruct)
  frozen = jax.device_put(trainer.frozen(), replicated)
  step = int(state.step)
  progress = summaries.Progress(step, config.num_steps)
  averages = summaries.Averages()
  if step < config.num_steps:
    logging.info("compiling the training step (about a minute on a CPU the first time) ...")
  first = step + 1
  while step < config.num_steps:
    local = next(iterator)
    state, metrics = step_fn(state, jax.make_array_from_process_local_data(batched, local), frozen)
    averages.add(metrics)
    step += 1
    if step == first:
      jax.block_until_ready(state)  # the step runs asynchronously; its end is where the measured steps begin
      progress.first_step_done(step)
    last = step == config.num_steps
    if step % config.log_every_steps == 0 or last:
      _raise_if_bad(state, trainer, manager)
      values = averages.pop()
      rate = progress.rate(step)
      if rate is not None:
        values.update(steps_per_s=rate, images_per_s=rate * images_per_step(config))
      values.update(skipped_records=bad_records.count)
      with _writing(logdir):
        writer.scalars(step, values)
      progress.log(step, rate, values)
      with _writing(manager.directory):
        manager.check_for_errors()  # a background save that failed stops the run now, not at the next save
    if step % config.image_every_steps == 0 or last:
      shown = local[:: 2 if trainer.disc is not None else 1][:IMAGES_SHOWN]
      reconstruction = jax.device_get(reconstruct(state.params, shown))
      with _writing(logdir):
        writer.images(step, "original", shown / 255.0)
        writer.images(step, "reconstruction", reconstruction)
    stop = preempted(step)
    if step % config.checkpoint_every_steps == 0 or last or stop:
      _raise_if_bad(state, trainer, manager)
      with _writing(manager.directory):
        manager.save(step, args=ocp.args.Composite(
            state=ocp.args.StandardSave(state), data=grain.checkpoint.CheckpointSave(iterator)), force=stop)
    if stop:
      logging.warning("preempted: saved step %d in %s; the same command resumes from it", step, manager.directory)
      break
  return state

