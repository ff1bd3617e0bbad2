"""What a run reports: TensorBoard scalars and images, a progress line, averaged metrics.

Only process 0 writes. TensorBoard files come from tensorboardX, because
`clu.metric_writers` imports TensorFlow; averaging uses `clu.metrics`, whose
merges run on the device, so metrics leave it only at a log step.

Events are written and flushed in the caller's thread: `SummaryWriter` queues
them for a thread of its own, whose `flush()` does not wait for the queue, so
a log step's values could reach the file (or a cloud upload) steps later.
"""

import logging
import os
import time

import jax
import numpy as np
from clu import metrics as clu_metrics
from etils import epath
from tensorboardX import event_file_writer, record_writer, summary
from tensorboardX.proto import event_pb2

from jgc.io import paths

# A cloud event file is uploaded whole at each flush; past this size the next
# events go to a new file, so an upload never exceeds it by much.
ROLL_BYTES = 8 << 20


class Averages:
  """Running means of named scalars, kept on the device between log steps."""

  def __init__(self):
    self._metrics: dict[str, clu_metrics.Average] = {}

  def add(self, values: dict[str, jax.Array]) -> None:
    for name, value in values.items():
      m = clu_metrics.Average.from_model_output(value)
      self._metrics[name] = self._metrics[name].merge(m) if name in self._metrics else m

  def pop(self) -> dict[str, float]:
    """The means since the last call, as Python floats (one transfer)."""
    totals = jax.device_get({k: (m.total, m.count) for k, m in self._metrics.items()})
    self._metrics = {}
    return {k: float(t) / max(int(c), 1) for k, (t, c) in totals.items()}


class Writer:
  """TensorBoard event files under `logdir` (a local path or gs:// URL) on process 0; silent elsewhere.

  Each call writes its events and flushes them before it returns."""

  def __init__(self, logdir: str | os.PathLike):
    self._events = None
    if jax.process_index() == 0:
      logdir = paths.resolve(logdir)
      logdir.mkdir(parents=True, exist_ok=True)
      # tensorboardX's own gs:// writer needs google-cloud-storage; this one goes through epath.
      record_writer.register_writer_factory("gs", _CloudEventFiles())
      # The name prefix tensorboardX's SummaryWriter gives its event files.
      self._events = event_file_writer.EventsWriter(os.path.join(os.fspath(logdir), "events"))

  def _write(self, step: int, summaries: list) -> None:
    if self._events is not None:
      for s in summaries:
        self._events.write_event(event_pb2.Event(summary=s, step=int(step), wall_time=time.time()))
      self._events.flush()

  def scalars(self, step: int, values: dict[str, float]) -> None:
    self._write(step, [summary.scalar(name, value) for name, value in values.items()])

  def images(self, step: int, name: str, images: np.ndarray) -> None:
    """`images`: NHWC float in [0, 1]."""
    self._write(step, [summary.image(name, np.asarray(images), dataformats="NHWC")])

  def close(self) -> None:
    if self._events is not None:
      self._events.close()
      self._events = None


class _CloudEvents:
  """One event file in cloud storage. Objects cannot be appended to, so every flush uploads
  the file whole, and past `ROLL_BYTES` it continues in `NAME.0001`, `NAME.0002`, ...
  (TensorBoard reads every file with "tfevents" in its name, in name order)."""

  def __init__(self, path: str):
    self._path, self._part, self._buffer, self._dirty = path, 0, bytearray(), False

  def write(self, data: bytes) -> None:
    self._buffer += data
    self._dirty = True

  def flush(self) -> None:
    if not self._dirty:
      return
    name = self._path if self._part == 0 else f"{self._path}.{self._part:04d}"
    epath.Path(name).write_bytes(bytes(self._buffer))
    self._dirty = False
    if len(self._buffer) >= ROLL_BYTES:
      self._part, self._buffer = self._part + 1, bytearray()

  def close(self) -> None:
    self.flush()


class _CloudEventFiles:
  """tensorboardX's writer factory for gs:// log folders."""

  def open(self, path: str) -> _CloudEvents:
    return _CloudEvents(path)

  def directory_check(self, path: str) -> None:
    del path  # cloud folders need no creating


class Progress:
  """A log line per log step: step, key metrics, steps/s and time left.

  Steps/s and the time left count from the end of the first step this process runs
  (`first_step_done`): that step compiles the step function and fills the input
  pipeline, a minute or more on a CPU, and would make the first estimate many times
  too long.
  """

  def __init__(self, first_step: int, num_steps: int):
    self._num_steps = num_steps
    self._last = (first_step, time.monotonic())
    self._measuring = False

  def first_step_done(self, step: int) -> None:
    """Logs how long the first step took and starts measuring from now; call once the step has finished."""
    _, last_time = self._last
    now = time.monotonic()
    logging.info("step %d/%d took %s, compilation included; training ...", step, self._num_steps,
                 _duration(now - last_time))
    self._last, self._measuring = (step, now), True

  def rate(self, step: int) -> float | None:
    """Steps per second since the previous call, or since the first step ended; None while there are none to count."""
    last_step, last_time = self._last
    if not self._measuring or step == last_step:
      return None
    now = time.monotonic()
    self._last = (step, now)
    return (step - last_step) / max(now - last_time, 1e-9)

  def log(self, step: int, steps_per_s: float | None, values: dict[str, float]) -> None:
    shown = " ".join(f"{k}={values[k]:.4g}" for k in ("loss", "bpp", "psnr", "lpips") if k in values)
    if steps_per_s is None:
      logging.info("step %d/%d %s", step, self._num_steps, shown)
      return
    eta_s = (self._num_steps - step) / max(steps_per_s, 1e-9)
    logging.info("step %d/%d %s %.2f steps/s ETA %s", step, self._num_steps, shown, steps_per_s, _duration(eta_s))


def _duration(seconds: float) -> str:
  seconds = int(seconds)
  h, rest = divmod(seconds, 3600)
  return f"{h}:{rest // 60:02d}:{rest % 60:02d}"
