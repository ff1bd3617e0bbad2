"""What a run reports: TensorBoard scalars and images, a progress line, averaged metrics.

Only process 0 writes. TensorBoard files come from tensorboardX, because
`clu.metric_writers` imports TensorFlow; averaging uses `clu.metrics`, whose
merges run on the device, so metrics leave it only at a log step.
"""

import logging
import os
import time

import jax
import numpy as np
from clu import metrics as clu_metrics
from tensorboardX import SummaryWriter


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
  """TensorBoard event files under `logdir` on process 0; silent elsewhere."""

  def __init__(self, logdir: str):
    self._writer = None
    if jax.process_index() == 0:
      os.makedirs(logdir, exist_ok=True)
      self._writer = SummaryWriter(logdir)

  def scalars(self, step: int, values: dict[str, float]) -> None:
    if self._writer is not None:
      for name, value in values.items():
        self._writer.add_scalar(name, value, step)
      self._writer.flush()

  def images(self, step: int, name: str, images: np.ndarray) -> None:
    """`images`: NHWC float in [0, 1]."""
    if self._writer is not None:
      self._writer.add_images(name, np.asarray(images), step, dataformats="NHWC")
      self._writer.flush()

  def close(self) -> None:
    if self._writer is not None:
      self._writer.close()


class Progress:
  """A log line per log step: step, key metrics, steps/s and time left."""

  def __init__(self, first_step: int, num_steps: int):
    self._num_steps = num_steps
    self._last = (first_step, time.monotonic())

  def rate(self, step: int) -> float:
    """Steps per second since the previous call."""
    last_step, last_time = self._last
    now = time.monotonic()
    self._last = (step, now)
    return (step - last_step) / max(now - last_time, 1e-9)

  def log(self, step: int, steps_per_s: float, values: dict[str, float]) -> None:
    eta_s = (self._num_steps - step) / max(steps_per_s, 1e-9)
    shown = " ".join(f"{k}={values[k]:.4g}" for k in ("loss", "bpp", "psnr", "lpips") if k in values)
    logging.info("step %d/%d %s %.2f steps/s ETA %s", step, self._num_steps, shown, steps_per_s, _duration(eta_s))


def _duration(seconds: float) -> str:
  seconds = int(seconds)
  h, rest = divmod(seconds, 3600)
  return f"{h}:{rest // 60:02d}:{rest % 60:02d}"
