"""A run's checkpoints (orbax), under `WORKDIR/checkpoints`: the layout in one place.

Each step holds "state" (the `TrainState`) and "data" (every host's input
position, grain). Training saves and resumes here; `init_from` (stage 2
starts from stage 1) and `jgc export` read the newest parameters.
"""

import os

import grain
import orbax.checkpoint as ocp
from etils import epath

from jgc import paths


def manager(workdir: str | os.PathLike, keep: int | None = None) -> ocp.CheckpointManager:
  """The checkpoints of `workdir` (a local path or gs:// URL); `keep`: how many to keep."""
  return ocp.CheckpointManager(
      directory(workdir),
      options=ocp.CheckpointManagerOptions(max_to_keep=keep, create=True),
      item_handlers={"state": ocp.StandardCheckpointHandler(), "data": grain.checkpoint.CheckpointHandler()},
  )


def directory(workdir: str | os.PathLike) -> epath.Path:
  return paths.resolve(workdir) / "checkpoints"


def latest_params(workdir: str | os.PathLike) -> tuple[int, dict] | None:
  """`(step, params)` of the newest finished checkpoint of `workdir`, or None."""
  if not directory(workdir).exists():
    return None
  checkpoints = manager(workdir)
  try:
    step = checkpoints.latest_step()
    if step is None:
      return None
    state = checkpoints.restore(step, args=ocp.args.Composite(state=ocp.args.StandardRestore())).state
    return step, state["params"]
  finally:
    checkpoints.close()
