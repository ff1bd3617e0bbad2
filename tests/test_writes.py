"""Writes that lose nothing: no overwrite without --force, no half files, no writes through links,
no two inputs into one output, names the terminal cannot show."""

import errno
import os
import subprocess
import sys

import numpy as np
import pytest
from codec_helpers import ROOT, bundle_bytes
from PIL import Image

from jgc import cli
from jgc.io import paths

COMPRESSAI = os.path.join(ROOT, "tests", "data", "compressai", "mbt2018-mean.pth")


@pytest.fixture
def model(tmp_path):
  path = tmp_path / "model.jgcm"
  path.write_bytes(bundle_bytes("mean_scale"))
  return str(path)


def _photo(path, size=(24, 40), seed=0):
  path.parent.mkdir(parents=True, exist_ok=True)
  Image.fromarray(np.random.default_rng(seed).integers(0, 256, (*size, 3), np.uint8)).save(path)
  return str(path)


def test_bundles_are_not_overwritten_without_force(tmp_path, capsys):
  bundle = tmp_path / "kept.jgcm"
  bundle.write_bytes(b"the old bundle")
  assert cli.main(["import", "compressai", "mbt2018-mean", COMPRESSAI, "-o", str(bundle)]) == 2
  assert cli.main(["export", str(tmp_path), "-o", str(bundle)]) == 2
  assert capsys.readouterr().err.count("kept.jgcm exists; not overwriting it without --force") == 2
  assert bundle.read_bytes() == b"the old bundle"
  assert cli.main(["import", "compressai", "mbt2018-mean", COMPRESSAI, "-o", str(bundle), "--force"]) == 0
  assert bundle.read_bytes().startswith(b"JGCMODEL")
  assert sorted(os.listdir(tmp_path)) == ["kept.jgcm"]


def test_two_inputs_for_one_output_are_refused_before_anything_is_written(model, tmp_path, capsys):
  a, b = _photo(tmp_path / "a" / "x.png"), _photo(tmp_path / "b" / "x.png", seed=1)
  out = tmp_path / "out"
  assert cli.main(["compress", a, b, "-m", model, "-o", str(out), "--force"]) == 2
  err = capsys.readouterr().err
  assert f"{a} and {b} would both be written to {out / 'x.png.jgc'}" in err
  assert not out.exists()


def test_a_link_at_the_output_is_replaced_not_written_through(model, tmp_path):
  victim = tmp_path / "victim"
  victim.write_bytes(b"precious")
  out = tmp_path / "out.jgc"
  out.symlink_to(victim)
  assert cli.main(["compress", _photo(tmp_path / "x.png"), "-m", model, "-o", str(out), "--force"]) == 0
  assert victim.read_bytes() == b"precious"
  assert not out.is_symlink() and out.read_bytes().startswith(b"JGC")


def test_a_failed_write_leaves_no_partial_file(model, tmp_path, monkeypatch, capsys):
  def full(_):
    raise OSError(errno.ENOSPC, "No space left on device")

  monkeypatch.setattr(os, "fsync", full)
  out = tmp_path / "out"
  assert cli.main(["compress", _photo(tmp_path / "in" / "x.png"), "-m", model, "-o", str(out)]) == 1
  assert "No space left on device" in capsys.readouterr().err
  assert os.listdir(out) == []
  with pytest.raises(OSError, match="No space left"):
    paths.write_bytes(tmp_path / "bundle.jgcm", b"data")
  assert sorted(os.listdir(tmp_path)) == ["in", "model.jgcm", "out"]


def test_names_the_terminal_cannot_encode_are_written_and_counted(model, tmp_path):
  src = tmp_path / "in"
  name = os.fsdecode(b"caf\xe9.png")  # Latin-1 bytes: not UTF-8, a surrogate escape in Python
  _photo(src / name)
  env = {**os.environ, "JAX_PLATFORMS": "cpu", "PYTHONIOENCODING": "utf-8:strict"}
  out = subprocess.run([sys.executable, "-m", "jgc", "compress", str(src), "-m", model,
                        "-o", str(tmp_path / "out")], cwd=ROOT, env=env, capture_output=True, timeout=300)
  assert out.returncode == 0, out.stderr.decode(errors="replace")[-2000:]
  assert b"compressed 1 of 1 files" in out.stdout and b"caf\\udce9.png" in out.stdout
  assert os.listdir(os.fsencode(tmp_path / "out")) == [b"caf\xe9.png.jgc"]
