import os

import jax
import pytest

from jgc.io import compile_cache


@pytest.fixture
def jax_cache_dir():
  """Sets JAX's own cache folder for one test, then puts the suite's back."""
  before, update = jax.config.jax_compilation_cache_dir, jax.config.update  # a test may patch update
  yield lambda path: update("jax_compilation_cache_dir", path)
  update("jax_compilation_cache_dir", before)


def test_the_cache_lives_under_the_users_cache_directory(monkeypatch, tmp_path, jax_cache_dir):
  monkeypatch.delenv("JGC_COMPILATION_CACHE", raising=False)
  jax_cache_dir(None)
  monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
  assert compile_cache.cache_dir() == os.path.join(tmp_path, "jgc", "xla")
  monkeypatch.delenv("XDG_CACHE_HOME")
  monkeypatch.setenv("HOME", str(tmp_path / "home"))
  assert compile_cache.cache_dir() == os.path.join(tmp_path, "home", ".cache", "jgc", "xla")


def test_a_chosen_folder_wins_and_off_disables(monkeypatch, tmp_path, jax_cache_dir):
  jax_cache_dir("/jax/own")
  assert compile_cache.cache_dir() == "/jax/own"
  monkeypatch.setenv("JGC_COMPILATION_CACHE", str(tmp_path))
  assert compile_cache.cache_dir() == str(tmp_path)
  monkeypatch.setenv("JGC_COMPILATION_CACHE", "off")
  assert compile_cache.cache_dir() is None
  calls = []
  monkeypatch.setattr(jax.config, "update", lambda *a: calls.append(a))
  compile_cache.enable()
  assert not calls


def test_enable_caches_every_executable(monkeypatch, tmp_path):
  monkeypatch.setenv("JGC_COMPILATION_CACHE", str(tmp_path / "cache"))
  calls = {}
  monkeypatch.setattr(jax.config, "update", lambda name, value: calls.__setitem__(name, value))
  compile_cache.enable()
  assert calls["jax_compilation_cache_dir"] == str(tmp_path / "cache")
  assert calls["jax_persistent_cache_min_compile_time_secs"] == 0.0
  assert (tmp_path / "cache").is_dir()


def test_an_unwritable_cache_only_warns(monkeypatch, tmp_path):
  blocker = tmp_path / "file"
  blocker.write_text("")
  monkeypatch.setenv("JGC_COMPILATION_CACHE", str(blocker / "cache"))
  calls = []
  monkeypatch.setattr(jax.config, "update", lambda *a: calls.append(a))
  compile_cache.enable()
  assert not calls
