"""Shared test settings: CPU only, small and deterministic."""

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402
import pytest  # noqa: E402


def pytest_collection_modifyitems(config, items):
  if any(d.platform != "cpu" for d in jax.devices()):
    return
  skip = pytest.mark.skip(reason="needs an accelerator; JAX sees only CPUs")
  for item in items:
    if "gpu" in item.keywords:
      item.add_marker(skip)
