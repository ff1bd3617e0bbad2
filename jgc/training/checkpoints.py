"""A run's checkpoints (orbax), under `WORKDIR/checkpoints`: the layout in one place.

Each step holds "state" (the `TrainState`) and "data" (every host's input
position, grain). Training saves and resumes here; `init_from` (stage 2
starts from stage 1) and `jgc export` read the newest parameters.
"""

import contextlib
import logging
import os
import re
import sys
import warnings
from collections.abc import Iterator

import grain
import orbax.checkpoint as ocp
from etils import epath

from jgc.io import paths

# TensorStore, which writes orbax's arrays, reports a failed write as a ValueError
# "STATUS: Error writing ..." (or "STATUS: Error opening ...: Error writing ..." when the write
# was part of opening an array), ending with the OS's error number when there is one.
_TENSORSTORE_WRITE = re.compile(r"[A-Z_]+: (Error opening [^\n]*?: )?Error writing ")
_OS_ERROR_CODE = re.compile(r"os_error_code='(\d+)'")


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


def write_failure(e: BaseException) -> str | None:
  """The reason when `e` is a failed write (an OSError, or TensorStore's error for one), else None."""
  if isinstance(e, OSError):
    return e.strerror or str(e)
  if isinstance(e, ValueError) and _TENSORSTORE_WRITE.match(str(e)):
    code = _OS_ERROR_CODE.search(str(e))
    return os.strerror(int(code.group(1))) if code else str(e)
  return None


class _Quiet(logging.Filter):
  """Drops the copies of a failed write's error orbax logs, and what follows from it; `seen` once it has."""

  def __init__(self):
    super().__init__()
    self.seen = False
    self.previous_hook = sys.unraisablehook

  def _saw_one(self) -> None:
    if not self.seen:
      self.seen = True
      # Orbax's writes that never started, collected at some later time.
      warnings.filterwarnings("ignore", "coroutine .* was never awaited", RuntimeWarning)

  def filter(self, record: logging.LogRecord) -> bool:
    if record.exc_info and write_failure(record.exc_info[1]):
      self._saw_one()
      return False
    return True

  def unraisable(self, args) -> None:
    # TensorStore's other writes, finishing after orbax closed their event loop.
    if isinstance(args.exc_value, RuntimeError) and str(args.exc_value) == "Event loop is closed":
      self._saw_one()
    else:
      self.previous_hook(args)


@contextlib.contextmanager
def quiet_failed_writes() -> Iterator[None]:
  """Inside, a failed checkpoint write is left to be reported once, where orbax raises it.

  Orbax raises the error in the saving thread at the next save or `check_for_errors`; before
  that it logs it with its traceback in every background thread it passes, TensorStore's other
  writes call back into orbax's closed event loop, and asyncio logs each of orbax's tasks that
  failed when they are collected. Those are dropped (absl's and asyncio's loggers and
  `sys.unraisablehook`); after a failure up to the process's exit, as the abandoned tasks may
  be collected as late as that.
  """
  quiet = _Quiet()
  loggers = [logging.getLogger("absl"), logging.getLogger("asyncio")]
  for logger in loggers:
    logger.addFilter(quiet)
  sys.unraisablehook = quiet.unraisable
  try:
    yield
  finally:
    if not quiet.seen:
      sys.unraisablehook = quiet.previous_hook
      for logger in loggers:
        logger.removeFilter(quiet)
