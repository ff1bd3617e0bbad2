"""Shared test settings: CPU only, small and deterministic."""

import os
import tempfile

os.environ.setdefault("JAX_PLATFORMS", "cpu")
# Training tests (and their subprocesses) compile the same tiny programs
# several times; a shared persistent cache compiles each once.
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", os.path.join(tempfile.gettempdir(), "jgc-test-jax-cache"))

import jax  # noqa: E402
import pytest  # noqa: E402


def pytest_collection_modifyitems(config, items):
  if any(d.platform != "cpu" for d in jax.devices()):
    return
  skip = pytest.mark.skip(reason="needs an accelerator; JAX sees only CPUs")
  for item in items:
    if "gpu" in item.keywords:
      item.add_marker(skip)


@pytest.fixture(scope="session")
def readme_bundle(tmp_path_factory):
  """The README's main command, shortened to two steps, exported: one run serves every test that needs a
  trained model's bundle (the CLI's and the notebooks')."""
  from codec_helpers import train_readme_model  # noqa: PLC0415

  from jgc import cli  # noqa: PLC0415

  work = tmp_path_factory.mktemp("readme-run")
  train_readme_model(work)
  path = str(work / "model.jgcm")
  assert cli.main(["export", str(work), "-o", path]) == 0
  return path
