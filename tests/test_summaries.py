"""TensorBoard event files: every call's events are in the file when it returns."""

import logging
import os
import struct

import numpy as np
from tensorboardX.proto import event_pb2

from jgc.training import summaries


def _events(path) -> list[event_pb2.Event]:
  """The records of a TFRecord file: u64 length, u32 CRC, data, u32 CRC."""
  data, events, pos = open(path, "rb").read(), [], 0
  while pos < len(data):
    (n,) = struct.unpack("<Q", data[pos:pos + 8])
    events.append(event_pb2.Event.FromString(data[pos + 12:pos + 12 + n]))
    pos += 12 + n + 4
  return events


def test_scalars_and_images_are_in_the_file_when_the_call_returns(tmp_path):
  writer = summaries.Writer(tmp_path)
  (name,) = os.listdir(tmp_path)
  for step in (1, 2):
    writer.scalars(step, {"loss": 0.5 * step, "bpp": 0.25})
    got = [(e.step, v.tag, v.simple_value) for e in _events(tmp_path / name) for v in e.summary.value]
    assert got[-2:] == [(step, "loss", 0.5 * step), (step, "bpp", 0.25)]
  writer.images(3, "reconstruction", np.random.default_rng(0).random((2, 8, 12, 3)))
  last = _events(tmp_path / name)[-1]
  assert last.step == 3 and last.summary.value[0].tag == "reconstruction"
  assert last.summary.value[0].image.width > 12  # the batch as one grid
  writer.close()
  assert os.listdir(tmp_path) == [name] and "tfevents" in name


def test_a_slow_first_step_does_not_enter_the_rate_or_the_eta(monkeypatch, caplog):
  now = [1000.0]
  monkeypatch.setattr(summaries.time, "monotonic", lambda: now[0])
  progress = summaries.Progress(0, 20)
  with caplog.at_level(logging.INFO):
    now[0] += 100.0  # step 1 compiles
    progress.first_step_done(1)
    assert progress.rate(1) is None  # no step measured yet
    progress.log(1, None, {"loss": 2.0})
    now[0] += 4 * 0.5  # steps 2 to 5, 0.5 s each
    rate = progress.rate(5)
    progress.log(5, rate, {"loss": 1.0})
  assert rate == 2.0
  assert [r.getMessage() for r in caplog.records] == [
      "step 1/20 took 0:01:40, compilation included; training ...",
      "step 1/20 loss=2",
      "step 5/20 loss=1 2.00 steps/s ETA 0:00:07",  # 15 steps at 2 per second, not at 5 per 102 s
  ]
