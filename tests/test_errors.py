"""One error family: every failure jgc expects is a `jgc.Error`, which the commands report in one line
per file and go on; anything else is a bug, and surfaces with its traceback."""

import ast
import importlib
import importlib.util
import inspect
import os
import pkgutil
import subprocess
import sys

import numpy as np
import pytest
from codec_helpers import ROOT, bundle_bytes
from PIL import Image

import jgc
from jgc import cli, errors
from jgc.codec.compressor import Codec

# Importing one runs its command or defines its absl flags, which a second script's would then clash with.
SCRIPTS = {"jgc.__main__", "jgc.main", "jgc.models.summary"}


def _exception_classes() -> list[type]:
  found = []
  for module in pkgutil.walk_packages(jgc.__path__, "jgc."):
    if module.name in SCRIPTS:
      # Not imported, so read: a script defines no classes of its own.
      source = importlib.util.find_spec(module.name).loader.get_source(module.name)
      assert not [n for n in ast.walk(ast.parse(source)) if isinstance(n, ast.ClassDef)], module.name
      continue
    for _, value in inspect.getmembers(importlib.import_module(module.name), inspect.isclass):
      if issubclass(value, BaseException) and value.__module__ == module.name:
        found.append(value)
  return found


def test_every_exception_class_of_jgc_is_in_the_family():
  classes = _exception_classes()
  # The walk reaches every package: the codec's, the readers', training's, the data pipeline's, evaluation's.
  names = {c.__name__ for c in classes}
  assert {"FormatError", "TorchFileError", "NonFiniteLoss", "DataError", "WeightsMissing", "Incomparable"} <= names
  assert [c.__qualname__ for c in classes if not issubclass(c, jgc.Error)] == []
  # Each also keeps a built-in base narrower than Exception, so `except ValueError` and the like still work.
  broad = (BaseException, Exception, object)
  plain = [c.__qualname__ for c in classes if c is not jgc.Error
           and not any(b.__module__ == "builtins" and b not in broad for b in c.__mro__)]
  assert plain == []


def test_the_family_refines_the_builtin_errors():
  assert jgc.Error is errors.Error and not issubclass(errors.Error, (ValueError, OSError))
  for cls, builtin in ((errors.ConfigError, ValueError), (errors.NotFound, FileNotFoundError),
                       (errors.Exists, FileExistsError), (errors.CannotRead, OSError),
                       (errors.CannotWrite, OSError), (errors.NotInstalled, ModuleNotFoundError)):
    assert issubclass(cls, jgc.Error) and issubclass(cls, builtin), cls


@pytest.fixture
def model(tmp_path):
  path = tmp_path / "model.jgcm"
  path.write_bytes(bundle_bytes("mean_scale"))
  return str(path)


def _photos(folder, names):
  folder.mkdir()
  for i, name in enumerate(names):
    Image.fromarray(np.random.default_rng(i).integers(0, 256, (24, 40, 3), np.uint8)).save(folder / name)


def test_the_cli_reports_each_failed_file_in_one_line_and_goes_on(model, tmp_path, capsys):
  src = tmp_path / "in"
  _photos(src, ["b.png", "d.png"])
  (src / "a.png").write_bytes(b"not an image")
  (src / "c.png").symlink_to(tmp_path / "gone.png")  # listed, but its read fails in the OS
  assert cli.main(["compress", str(src), "-m", model, "-o", str(tmp_path / "out")]) == 1
  out = capsys.readouterr()
  errs = out.err.splitlines()
  assert len(errs) == 2 and "Traceback" not in out.err, out.err
  assert f"{src / 'a.png'}: error: {src / 'a.png'}: not a readable image" in errs[0]
  assert errs[1].endswith(f"{src / 'c.png'}: error: cannot read {src / 'c.png'}: No such file or directory")
  assert "compressed 2 of 4 files" in out.out and "2 failed" in out.out
  assert sorted(os.listdir(tmp_path / "out")) == ["b.png.jgc", "d.png.jgc"]


@pytest.mark.parametrize("bug", [ZeroDivisionError, ValueError, OSError, KeyError])
def test_the_cli_lets_a_bug_surface_with_its_traceback(model, tmp_path, monkeypatch, capsys, bug):
  # Not a jgc.Error: not the user's file, so not reported as if it were (ValueError and OSError were, once).
  def broken(self, image):
    raise bug("a bug in jgc")

  monkeypatch.setattr(Codec, "compress", broken)
  src = tmp_path / "in"
  _photos(src, ["a.png", "b.png"])
  with pytest.raises(bug, match="a bug in jgc"):
    cli.main(["compress", str(src), "-m", model, "-o", str(tmp_path / "out")])
  out = capsys.readouterr()
  assert "error:" not in out.err and "b.png" not in out.out  # neither reported nor gone past


def test_a_failure_of_the_whole_run_is_one_line_and_exit_2(model, tmp_path, capsys):
  assert cli.main(["compress", str(tmp_path / "missing.png"), "-m", model, "-o", str(tmp_path / "out")]) == 2
  assert capsys.readouterr().err == f"jgc compress: error: {tmp_path / 'missing.png'}: no such file or folder\n"
  assert cli.main(["decompress", str(tmp_path), "-m", str(tmp_path / "none.jgcm"), "-o", str(tmp_path)]) == 2
  assert capsys.readouterr().err.count("\n") == 1


def test_training_a_refused_config_says_so_in_one_line(tmp_path):
  env = {**os.environ, "JAX_PLATFORMS": "cpu"}
  out = subprocess.run([sys.executable, "-m", "jgc.main", "--config=configs/bmshj2018.py:tiny",
                        f"--workdir={tmp_path / 'run'}", "--config.model.name=nope"],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
  assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr[-3000:]
  said = [line for line in out.stderr.splitlines() if line.startswith("jgc.main:")]
  assert len(said) == 1 and said[0].startswith("jgc.main: unknown model 'nope'; choose one of"), out.stderr[-3000:]
