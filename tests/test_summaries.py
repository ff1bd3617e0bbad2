"""TensorBoard event files: every call's events are in the file when it returns."""

import os
import struct

import numpy as np
from tensorboardX.proto import event_pb2

from jgc import summaries


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
