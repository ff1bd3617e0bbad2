"""The config blocks every model's training config shares.

Config files in `configs/` start from `base()` and set the model, the
discriminator and the loss weights, so a field means the same thing in every
config and can be overridden the same way (`--config.optim.lr=3e-4`).
"""

import importlib.util
import os
import types

import ml_collections
from ml_collections import config_dict

from jgc import errors

# CompressAI's MSE lambdas for qualities 1..8 (`docs/source/zoo.rst`); its loss
# is lambda * 255^2 * MSE([0, 1]) + bpp, i.e. lambda on MSE in 0..255 units.
COMPRESSAI_LAMBDA = (0.0018, 0.0035, 0.0067, 0.0130, 0.0250, 0.0483, 0.0932, 0.1800)
# HiFiC's E and G (TFC `archs.py`), which GC and VAE-GAN share here; and the
# narrow version every `tiny` variant uses.
TRANSFORMS = dict(encoder_channels=(60, 120, 240, 480, 960), generator_channels=(960, 480, 240, 120, 60),
                  num_residual_blocks=9)
TINY_TRANSFORMS = dict(encoder_channels=(8, 8, 16, 16, 16), generator_channels=(16, 16, 16, 8, 8),
                       num_residual_blocks=1)


def host_cores() -> int:
  """The cores this process may run on: its CPU affinity where the OS has one (a SLURM task's or a
  container's cpuset can be a few of the machine's cores), else all of them."""
  if hasattr(os, "sched_getaffinity"):
    return len(os.sched_getaffinity(0))
  return os.cpu_count() or 1


def base() -> ml_collections.ConfigDict:
  """Data, optimizer, loop and loss fields, all at neutral defaults."""
  config = ml_collections.ConfigDict()
  config.seed = 0
  # Images per generator update, over all hosts; with a discriminator each
  # step reads twice as many (one sub-batch for D, one for G, TFC `model.py`).
  config.batch_size = 8
  config.crop_px = 256
  config.num_steps = 1_000_000
  # "bfloat16" runs the transforms' and discriminator's convolutions in bf16;
  # parameters, entropy models and losses stay float32.
  config.compute_dtype = "float32"
  # Where this run's codec model starts: a stage-1 workdir (its latest checkpoint), or a model bundle
  # (`jgc export`ed or imported) to fine-tune; a path or gs:// URL. D and the optimizers start fresh.
  config.init_from = config_dict.placeholder(str)
  config.data = _data()
  # None: no adversarial part (rate-distortion training, or HiFiC's stage 1).
  config.discriminator = None
  config.loss = _loss()
  config.optim = _optim()
  config.log_every_steps = 100
  config.image_every_steps = 5_000
  config.checkpoint_every_steps = 5_000
  config.keep_checkpoints = 3
  return config


def _data() -> ml_collections.ConfigDict:
  """No folder and no TFDS name: the embedded sample set (scikit-image's photos).

  A reader thread per core of the host that builds the config: decoding and
  cropping 256-px images for an accelerator needs every core, and the batches
  do not depend on the number of threads.
  """
  return ml_collections.ConfigDict(dict(
      folder=config_dict.placeholder(str),
      tfds_name=config_dict.placeholder(str),
      data_dir=config_dict.placeholder(str),
      cache_dir=config_dict.placeholder(str),
      split="train",
      image_key="image",
      num_threads=host_cores(),
      prefetch=64,
  ))


def _loss() -> ml_collections.ConfigDict:
  """Every loss weight at 0 but the rate's; the step reads them as `jgc.training.step.LossWeights`."""
  return ml_collections.ConfigDict(dict(
      # Rate weight: lambda_a above target_bpp, lambda_b below it; with no
      # target, lambda_a always. Both multiply bits per pixel.
      target_bpp=config_dict.placeholder(float),
      lambda_a=1.0,
      lambda_b=1.0,
      warmup_steps=0,
      warmup_target_factor=1.0,
      warmup_rate_factor=1.0,
      mse_weight=0.0,  # on MSE in 0..255 units
      lpips_weight=0.0,
      gan="non_saturating",
      gan_weight=0.0,
      feature_matching_weight=0.0,
      similarity_weight=0.0,
      kl_weight=0.0,  # on KL nats per pixel
      sparsity_weight=0.0,
  ))


def _optim() -> ml_collections.ConfigDict:
  """Adam for the model, its quantiles and D (see `jgc.training.optimizers`)."""
  return ml_collections.ConfigDict(dict(
      lr=1e-4,
      quantiles_lr=1e-4,
      discriminator_lr=1e-4,
      b1=0.9,
      b2=0.999,
      # lr x decay_factor after decay_steps of this stage (HiFiC: x0.1 at 500k).
      decay_steps=500_000,
      decay_factor=0.1,
      clip_norm=config_dict.placeholder(float),
  ))


def tiny(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """A run that trains on the CPU in seconds: small crops, few steps, frequent logs."""
  config.batch_size = 2
  config.crop_px = 64
  config.num_steps = 20
  config.log_every_steps = 5
  config.image_every_steps = 10
  config.checkpoint_every_steps = 10
  # Two to four 64-px crops a step: one thread keeps up, and on a CPU more would only take cores from XLA.
  config.data.num_threads = 1
  config.data.prefetch = 4
  return config


QUALITIES = {f"q{q}" for q in range(1, 9)}


def parse(arg: str, choices: set[str], name: str, exclusive: tuple[set[str], ...] = ()) -> set[str]:
  """The comma-separated options of `get_config(arg)`, validated.

  At most one option of each `exclusive` group may be given: a set has no order, so
  which of two would win could differ between hosts.
  """
  options = set(filter(None, arg.split(",")))
  unknown = options - choices
  if unknown:
    raise errors.ConfigError(f"unknown {name} options {sorted(unknown)}; use {', '.join(sorted(choices))}")
  for group in exclusive:
    if len(options & group) > 1:
      raise errors.ConfigError(f"{name}: pick one of {', '.join(sorted(options & group))}")
  return options


def rate_distortion(config: ml_collections.ConfigDict, quality: int) -> ml_collections.ConfigDict:
  """bpp + lambda * MSE(0..255) with CompressAI's lambda for `quality` (1..8); no target rate."""
  if not 1 <= quality <= len(COMPRESSAI_LAMBDA):
    raise errors.ConfigError(f"quality {quality} is outside 1..{len(COMPRESSAI_LAMBDA)}")
  config.loss.update(lambda_a=1.0, lambda_b=1.0, mse_weight=COMPRESSAI_LAMBDA[quality - 1])
  return config


def quality(options: set[str], default: int) -> int:
  """The `q1`..`q8` option among `options`, or `default`."""
  picked = [int(o[1:]) for o in options if o.startswith("q") and o[1:].isdigit()]
  return picked[0] if picked else default


def sibling(config_file: str, name: str) -> types.ModuleType:
  """Another config file of the same folder, loaded by path (config files are not a package)."""
  path = os.path.join(os.path.dirname(os.path.abspath(config_file)), f"{name}.py")
  spec = importlib.util.spec_from_file_location(f"jgc_config_{name}", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module
