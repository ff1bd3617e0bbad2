"""Trains a model of the zoo.

    python -m jgc.main --config=configs/hific.py:tiny --workdir=/tmp/jgc-tiny

Run it again with the same workdir to resume. On several hosts (a TPU pod
slice, or GPU processes started with JAX's coordinator variables), pass
`--multihost` and start the same command on every host.
"""

import logging
import os
import sys
from collections.abc import Sequence

import jax
from absl import app, flags
from absl import logging as absl_logging
from ml_collections import config_flags

import jgc
from jgc.io import compile_cache
from jgc.training import loop

_CONFIG = config_flags.DEFINE_config_file("config", None, "Training config file, with `:arg` for variants.")
_WORKDIR = flags.DEFINE_string("workdir", None, "Directory for checkpoints and TensorBoard logs: a path or gs:// URL.")
_MULTIHOST = flags.DEFINE_bool(
    "multihost", bool(os.environ.get("JAX_COORDINATOR_ADDRESS")),
    "Call jax.distributed.initialize() first (default: when JAX_COORDINATOR_ADDRESS is set).")


def main(argv: Sequence[str]) -> None:
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  # Orbax and grain log every save through absl at INFO, gcsfs every read; keep jgc's own lines.
  absl_logging.get_absl_logger().setLevel(logging.WARNING)
  for name in ("gcsfs", "fsspec"):
    logging.getLogger(name).setLevel(logging.WARNING)
  compile_cache.enable()
  if _MULTIHOST.value:
    # Only the CPU backend reads this: CPU processes need gloo for collectives.
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize()
  logging.info("process %d of %d; %d devices in all: %s", jax.process_index(), jax.process_count(),
               jax.device_count(), jax.devices()[0].platform)
  try:
    loop.train(_CONFIG.value, _WORKDIR.value)
    return
  except jgc.Error as e:  # a refused config, dataset or workdir; anything else is a bug, with its traceback
    message = f"jgc.main: {e}"
  # Outside the handler, so the exit does not hold the failed run (with, after a failed write,
  # orbax's abandoned tasks) until Python has torn down the `warnings` filters that quiet them.
  sys.exit(message)


if __name__ == "__main__":
  flags.mark_flags_as_required(["config", "workdir"])
  app.run(main)
