"""The model parameters of a training workdir's newest checkpoint (orbax).

Shared by `init_from` (stage 2 starts from stage 1) and `jgc export`.
"""

import os

import orbax.checkpoint as ocp


def latest_params(workdir: str) -> tuple[int, dict] | None:
  """`(step, params)` of the newest finished checkpoint in `workdir/checkpoints`, or None."""
  manager = ocp.CheckpointManager(os.path.abspath(os.path.join(workdir, "checkpoints")),
                                  item_handlers={"state": ocp.StandardCheckpointHandler()})
  try:
    step = manager.latest_step()
    if step is None:
      return None
    state = manager.restore(step, args=ocp.args.Composite(state=ocp.args.StandardRestore())).state
    return step, state["params"]
  finally:
    manager.close()
