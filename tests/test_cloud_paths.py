"""gs:// paths against a local GCS emulator (`gcs_emulator.py`, reached through
STORAGE_EMULATOR_HOST): a run writes config, checkpoints and TensorBoard into the
bucket and nothing local, resumes from it, `jgc export` reads it, and image
folders, TFDS data and evaluation inputs and outputs live there too."""

import io
import json
import logging
import os
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
from etils import epath
from PIL import Image

from jgc import cli
from jgc.data import embedded_samples, folder, sources
from jgc.eval import classical, evaluate
from jgc.io import paths
from jgc.training import defaults, loop, summaries

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUCKET = "jgc-test"


@pytest.fixture(scope="module")
def emulator(tmp_path_factory):
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
  # It logs every request: to a file, since a full pipe would stall it.
  log = tmp_path_factory.mktemp("emulator") / "log"
  proc = subprocess.Popen(
      [sys.executable, os.path.join(ROOT, "tests", "gcs_emulator.py"), f"--port={port}", f"--bucket={BUCKET}"],
      stdout=subprocess.DEVNULL, stderr=log.open("w"))
  deadline = time.monotonic() + 60
  while True:
    try:
      socket.create_connection(("127.0.0.1", port), timeout=1).close()
      break
    except OSError:
      assert proc.poll() is None, log.read_text()
      assert time.monotonic() < deadline, "the GCS emulator did not start within 60 s"
      time.sleep(0.2)
  saved = {k: os.environ.get(k) for k in ("STORAGE_EMULATOR_HOST", "TENSORSTORE_GCS_HTTP_URL",
                                          "CLOUD_STORAGE_EMULATOR_ENDPOINT", "GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT")}
  for k in saved:
    os.environ.pop(k, None)
  os.environ["STORAGE_EMULATOR_HOST"] = f"http://127.0.0.1:{port}"
  yield f"gs://{BUCKET}"
  proc.terminate()
  proc.wait()
  for k, v in saved.items():
    os.environ.pop(k, None)
    if v is not None:
      os.environ[k] = v


def config(**overrides):
  c = defaults.sibling(os.path.join(ROOT, "configs", "bmshj2018.py"), "bmshj2018").get_config("tiny")
  c.update(overrides)
  return c


def test_a_run_lives_in_the_bucket_resumes_from_it_and_exports(emulator, tmp_path, monkeypatch, caplog):
  monkeypatch.chdir(tmp_path)
  monkeypatch.setattr(classical, "available", lambda: {"jpeg420": True})  # the evaluation's paths, not its codecs
  workdir = f"{emulator}/run"
  samples = embedded_samples()
  c = config(num_steps=2, checkpoint_every_steps=2, log_every_steps=1, image_every_steps=2)
  loop.train(c, workdir, source=samples)
  run = epath.Path(workdir)
  assert json.loads((run / "config.json").read_text())["model"]["name"] == "hyperprior"
  assert sorted(p.name for p in (run / "checkpoints").iterdir() if p.name.isdigit()) == ["2"]
  events = list((run / "tensorboard").iterdir())
  assert len(events) == 1 and "tfevents" in events[0].name and events[0].stat().length > 1000
  assert os.listdir(tmp_path) == [], "a gs:// workdir left local files"

  c.num_steps = 4
  # That a resumed run equals a straight one is tested locally (test_train); here, that it resumes from the bucket.
  with caplog.at_level(logging.INFO):
    resumed = loop.train(c, workdir, source=samples)
  assert int(resumed.step) == 4 and f"resumed from step 2 in {workdir}/checkpoints" in caplog.text
  assert sorted(p.name for p in (run / "checkpoints").iterdir() if p.name.isdigit()) == ["2", "4"]

  assert cli.main(["export", workdir, "-o", f"{emulator}/model.jgcm"]) == 0
  image = tmp_path / "in.png"
  Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 96, 3), np.uint8)).save(image)
  assert cli.main(["compress", str(image), "-m", f"{emulator}/model.jgcm", "-o", str(tmp_path / "in.jgc")]) == 0
  assert (tmp_path / "in.jgc").stat().st_size > 0

  paths.write_bytes(f"{emulator}/kodak/in.png", image.read_bytes())
  assert evaluate.main(["--model", f"{emulator}/model.jgcm", "--images", f"{emulator}/kodak",
                        "--out", f"{emulator}/eval", "--no-fid", "--qualities", "50"]) == 0
  written = {p.name for p in epath.Path(f"{emulator}/eval").iterdir()}
  assert written == {"rows.jsonl", "per_image.csv", "summary.json", "compressai", "rd.png", "crops.png", "report.md"}
  assert sorted(os.listdir(tmp_path)) == ["in.jgc", "in.png"]


def test_image_folders_and_tfds_data_in_the_bucket_read_as_local_ones(emulator, tmp_path):
  rng = np.random.default_rng(0)
  for name in ("a/one.png", "a/b/two.png", "three.jpg"):
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (40, 56, 3), np.uint8)).save(buf, format="JPEG" if "jpg" in name else "PNG")
    paths.write_bytes(f"{emulator}/photos/{name}", buf.getvalue())
  assert folder.list_images(f"{emulator}/photos") == [
      f"{emulator}/photos/{n}" for n in ("a/b/two.png", "a/one.png", "three.jpg")]
  name, data_dir = folder.prepare(f"{emulator}/photos", cache_dir=str(tmp_path))
  local = sources.tfds_images(name, "train", data_dir)
  for d, _, files in os.walk(data_dir):
    for f in files:
      rel = os.path.relpath(os.path.join(d, f), data_dir)
      paths.write_bytes(f"{emulator}/tfds/{rel}", (epath.Path(d) / f).read_bytes())
  remote = sources.tfds_images(name, "train", f"{emulator}/tfds")
  assert len(remote) == len(local) == 3
  assert all(remote[i][1] == local[i][1] for i in range(3))


def test_cloud_event_files_roll_over_past_the_size_limit(emulator, monkeypatch):
  monkeypatch.setattr(summaries, "ROLL_BYTES", 4000)
  logdir = f"{emulator}/events"
  writer = summaries.Writer(logdir)
  for step in range(4):
    writer.images(step, "noise", np.random.default_rng(step).random((1, 40, 40, 3)))
    # Each call has flushed its event: a file of the first image (and the file header), then one per image.
    names = sorted(p.name for p in epath.Path(logdir).iterdir())
    assert names == [names[0]] + [names[0] + f".{i:04d}" for i in range(1, step + 1)]
  writer.close()
  assert len(list(epath.Path(logdir).iterdir())) == 4


def test_urls_other_than_gs_are_refused():
  with pytest.raises(ValueError, match="only local paths and gs://"):
    paths.resolve("s3://bucket/run")
