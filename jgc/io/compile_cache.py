"""A persistent XLA compilation cache shared by the codec CLI and training.

A cold `jgc compress` spends most of its time compiling the transforms for
the image's size; with the cache, a second process with the same model
shapes, image size, backend and JAX version loads the executables instead.
The cache lives under the user's cache directory (`$XDG_CACHE_HOME/jgc/xla`,
default `~/.cache/jgc/xla`); `JGC_COMPILATION_CACHE` names another folder, or
`off` disables it. A folder already chosen through JAX's own
`JAX_COMPILATION_CACHE_DIR` is kept.
"""

import logging
import os

import jax

from jgc.io import paths


def cache_dir() -> str | None:
  """The folder this process caches executables in, or None when disabled."""
  chosen = os.environ.get("JGC_COMPILATION_CACHE")
  if chosen == "off":
    return None
  if chosen:
    return chosen
  if jax.config.jax_compilation_cache_dir:
    return jax.config.jax_compilation_cache_dir
  return paths.user_cache("xla")


def enable() -> None:
  """Turns the cache on for this process (before its first compilation)."""
  path = cache_dir()
  if path is None:
    return
  try:
    os.makedirs(path, exist_ok=True)
  except OSError as e:
    # A read-only home must not stop compression; it only costs compile time.
    logging.warning("no compilation cache: %s", e)
    return
  jax.config.update("jax_compilation_cache_dir", path)
  # Every executable counts: the CLI's many small ones add up to seconds.
  jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
  jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
