"""Reads the tensors of a TorchScript archive without torch.

A TorchScript file is a zip: `<root>/data.pkl` pickles the module tree, with
each tensor a `torch._utils._rebuild_tensor_v2` call on a storage that lives
in `<root>/data/<key>` as raw little-endian values. Only what the Inception
archive for FID needs is understood; anything else is refused by name.
"""

import pickle
import zipfile

import numpy as np

_DTYPES = {"FloatStorage": "<f4", "DoubleStorage": "<f8", "LongStorage": "<i8", "IntStorage": "<i4"}


class TorchScriptError(ValueError):
  """The archive is not a TorchScript file this reader understands."""


class Module:
  """A scripted module: its attributes, tensors as numpy arrays."""

  def __setstate__(self, state: dict) -> None:
    self.__dict__.update(state)


def _rebuild_tensor(storage: np.ndarray, offset: int, shape: tuple, strides: tuple, *_) -> np.ndarray:
  item = storage.itemsize
  last = offset + sum((n - 1) * s for n, s in zip(shape, strides, strict=True))
  if np.prod(shape) and last >= storage.size:
    raise TorchScriptError(f"tensor of shape {shape} runs past its storage of {storage.size} values")
  return np.lib.stride_tricks.as_strided(storage[offset:], shape, [s * item for s in strides]).copy()


class _Unpickler(pickle.Unpickler):
  def __init__(self, archive: zipfile.ZipFile, root: str):
    super().__init__(archive.open(f"{root}/data.pkl"))
    self._archive, self._root = archive, root

  def find_class(self, module: str, name: str):
    if module.startswith("__torch__"):
      return type(name, (Module,), {})
    known = {("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor, ("collections", "OrderedDict"): dict,
             ("torch.jit._pickle", "build_intlist"): list}
    if (module, name) in known:
      return known[(module, name)]
    if module == "torch" and name in _DTYPES:
      return _DTYPES[name]
    raise TorchScriptError(f"unsupported object {module}.{name} in the archive")

  def persistent_load(self, pid):
    _, dtype, key, _, size = pid
    data = np.frombuffer(self._archive.read(f"{self._root}/data/{key}"), dtype)
    if data.size != size:
      raise TorchScriptError(f"storage {key} holds {data.size} values, the archive says {size}")
    return data


def load(path: str) -> Module:
  """The archive's top module; submodules and tensors are its attributes."""
  try:
    with zipfile.ZipFile(path) as archive:
      pickles = [n for n in archive.namelist() if n.endswith("/data.pkl")]
      if len(pickles) != 1:
        raise TorchScriptError(f"{path}: expected one data.pkl in the archive, found {len(pickles)}")
      return _Unpickler(archive, pickles[0].rsplit("/", 1)[0]).load()
  except (zipfile.BadZipFile, pickle.UnpicklingError, KeyError, EOFError) as e:
    raise TorchScriptError(f"{path}: not a readable TorchScript archive ({e})") from e
