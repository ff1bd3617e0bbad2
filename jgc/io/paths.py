"""Every path a run reads or writes: local files or `gs://` URLs, through etils.epath as orbax uses.

Cloud paths need gcsfs (`pip install "jgc[gcs]"`). For a local GCS emulator,
set `STORAGE_EMULATOR_HOST` (the variable of Google's client libraries, which
gcsfs reads). Checkpoint arrays go through TensorStore and TFDS's ArrayRecord
files through google-cloud-cpp; their own endpoint variables are set from it,
and gcsfs's probe for hierarchical buckets, which an emulator cannot answer,
is turned off.
"""

import contextlib
import importlib.util
import os
import secrets

from etils import epath

from jgc import errors


def is_url(path: str | os.PathLike) -> bool:
  return "://" in os.fspath(path)


def resolve(path: str | os.PathLike) -> epath.Path:
  """`path` as an `epath.Path`: URLs as given, local paths made absolute (orbax needs them so)."""
  text = os.fspath(path)
  if not is_url(text):
    return epath.Path(os.path.abspath(text))
  if not text.startswith("gs://"):
    raise errors.ConfigError(f"{text}: only local paths and gs:// URLs are supported")
  if importlib.util.find_spec("gcsfs") is None:
    raise errors.NotInstalled(f'{text}: gs:// paths need gcsfs; install it with pip install "jgc[gcs]"')
  _follow_emulator()
  return epath.Path(text)


def _follow_emulator() -> None:
  """Points TensorStore and google-cloud-cpp at `STORAGE_EMULATOR_HOST` when it is set."""
  host = os.environ.get("STORAGE_EMULATOR_HOST")
  if not host:
    return
  url = host if host.startswith(("http://", "https://")) else f"http://{host}"
  os.environ.setdefault("TENSORSTORE_GCS_HTTP_URL", url)
  os.environ.setdefault("CLOUD_STORAGE_EMULATOR_ENDPOINT", url)
  os.environ.setdefault("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")


def user_cache(name: str) -> str:
  """jgc's cache folder for `name`: `$XDG_CACHE_HOME/jgc/name`, by default under `~/.cache`."""
  base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
  return os.path.join(base, "jgc", name)


def read_bytes(path: str | os.PathLike) -> bytes:
  """The bytes of a file a user gave (a local path or gs:// URL); `NotFound` or `CannotRead` naming it
  and the OS's reason."""
  try:
    return resolve(path).read_bytes()
  except OSError as e:
    raise read_error(path, e) from None


def read_error(path: str | os.PathLike, e: OSError) -> errors.Error:
  """`e`, a failed read of `path`, as `NotFound` or `CannotRead` naming the file and the OS's reason."""
  kind = errors.NotFound if isinstance(e, FileNotFoundError) else errors.CannotRead
  return kind(f"cannot read {path}: {e.strerror or e}")


def write_bytes(path: str | os.PathLike, data: bytes, *, overwrite: bool = True) -> None:
  """Writes `path` whole; with `overwrite=False`, `Exists` if it exists; `CannotWrite` naming it and
  the OS's reason if the write fails.

  Locally through a temporary file beside it, created exclusively under a random name (so never
  through a link planted there), flushed to disk and renamed over `path`: a reader never sees half
  a file, and a failed write (a full disk) removes it. Cloud objects appear whole when their upload
  ends, so they are written directly.
  """
  target = resolve(path)
  if not overwrite and target.exists():
    raise errors.Exists(f"{path} exists; not overwriting it without --force")
  try:
    _write(target, data)
  except OSError as e:
    raise errors.CannotWrite(f"cannot write {path}: {e.strerror or e}") from None


def _write(target: epath.Path, data: bytes) -> None:
  target.parent.mkdir(parents=True, exist_ok=True)
  if is_url(target):
    target.write_bytes(data)
    return
  tmp = f"{target}.{secrets.token_hex(4)}.part"
  fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o666)
  try:
    with os.fdopen(fd, "wb") as f:
      f.write(data)
      f.flush()
      os.fsync(f.fileno())
    os.replace(tmp, target)
  except BaseException:
    with contextlib.suppress(OSError):
      os.unlink(tmp)
    raise
