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
