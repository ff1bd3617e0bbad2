"""Reads the tensors of torch files without torch: TorchScript archives and `torch.save` checkpoints.

Both pickle their objects with each tensor a `torch._utils._rebuild_tensor_v2`
call on a storage of raw little-endian values:
- a TorchScript archive, and a `torch.save` file since torch 1.6, is a zip:
  `<root>/data.pkl` pickles the object, storages live in `<root>/data/<key>`;
- a legacy `torch.save` file is a run of pickles (magic number, protocol,
  system info, the object, the sorted storage keys), then each storage as its
  element count (int64) and its bytes.

The unpickler builds only tensors, dicts and TorchScript module shells; any
other object is refused by name, so a file cannot run code.
"""

import collections
import pickle
import zipfile

import numpy as np

_DTYPES = {"FloatStorage": "<f4", "DoubleStorage": "<f8", "LongStorage": "<i8", "IntStorage": "<i4",
           "ByteStorage": "u1", "BoolStorage": "?"}
_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C


class TorchFileError(ValueError):
  """The file is not a torch file this reader understands."""


class Module:
  """A scripted module: its attributes, tensors as numpy arrays."""

  def __setstate__(self, state: dict) -> None:
    self.__dict__.update(state)


def _rebuild_tensor(storage: np.ndarray, offset: int, shape: tuple, strides: tuple, *_) -> np.ndarray:
  item = storage.itemsize
  last = offset + sum((n - 1) * s for n, s in zip(shape, strides, strict=True))
  if np.prod(shape) and last >= storage.size:
    raise TorchFileError(f"tensor of shape {shape} runs past its storage of {storage.size} values")
  return np.lib.stride_tricks.as_strided(storage[offset:], shape, [s * item for s in strides]).copy()


class _Unpickler(pickle.Unpickler):
  """Tensors and dicts only; `storage(dtype, key, size)` supplies the raw storages."""

  def __init__(self, file, storage):
    super().__init__(file)
    self._storage = storage

  def find_class(self, module: str, name: str):
    if module.startswith("__torch__"):
      return type(name, (Module,), {})
    # OrderedDict itself: a state_dict carries a `_metadata` attribute.
    known = {("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
             ("collections", "OrderedDict"): collections.OrderedDict,
             ("torch.jit._pickle", "build_intlist"): list}
    if (module, name) in known:
      return known[(module, name)]
    if module == "torch" and name in _DTYPES:
      return _DTYPES[name]
    raise TorchFileError(f"unsupported object {module}.{name} in the file")

  def persistent_load(self, pid):
    if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage" and pid[1] in _DTYPES.values()):
      raise TorchFileError(f"unsupported storage reference {pid!r}")
    return self._storage(np.dtype(pid[1]), str(pid[2]), int(pid[4]))


def _load_zip(archive: zipfile.ZipFile, path: str):
  pickles = [n for n in archive.namelist() if n.endswith("/data.pkl")]
  if len(pickles) != 1:
    raise TorchFileError(f"{path}: expected one data.pkl in the archive, found {len(pickles)}")
  root = pickles[0].rsplit("/", 1)[0]

  def storage(dtype, key, size):
    data = np.frombuffer(archive.read(f"{root}/data/{key}"), dtype)
    if data.size != size:
      raise TorchFileError(f"storage {key} holds {data.size} values, the file says {size}")
    return data

  with archive.open(pickles[0]) as f:
    return _Unpickler(f, storage).load()


def _load_legacy(f, path: str):
  if pickle.load(f) != _LEGACY_MAGIC:
    raise TorchFileError(f"{path}: neither a zip nor a legacy torch file")
  pickle.load(f), pickle.load(f)  # protocol version, system info
  wanted = {}  # key -> (dtype, size); filled while the object is read, before the storages

  def storage(dtype, key, size):
    wanted[key] = (dtype, size)
    return (key,)  # a placeholder the tensors are rebuilt from once the storages are read

  def rebuild(storage, offset, shape, strides, *_):
    return _Pending((storage[0], offset, tuple(shape), tuple(strides)))

  unpickler = _Unpickler(f, storage)
  unpickler.find_class = lambda module, name, find=unpickler.find_class: (
      rebuild if (module, name) == ("torch._utils", "_rebuild_tensor_v2") else find(module, name))
  obj = unpickler.load()
  storages = {}
  for key in pickle.load(f):
    dtype, size = wanted[str(key)]
    count = int(np.frombuffer(f.read(8), "<i8")[0])
    data = np.frombuffer(f.read(count * dtype.itemsize), dtype)
    if count != size or data.size != size:
      raise TorchFileError(f"{path}: storage {key} holds {data.size} values, the file says {size}")
    storages[str(key)] = data
  return _fill(obj, storages)


class _Pending(tuple):
  """A tensor of a legacy file whose storage comes after the object: (key, offset, shape, strides)."""


def _fill(obj, storages: dict):
  if isinstance(obj, _Pending):
    key, offset, shape, strides = obj
    return _rebuild_tensor(storages[key], offset, shape, strides)
  if isinstance(obj, dict):
    return type(obj)((k, _fill(v, storages)) for k, v in obj.items())
  if isinstance(obj, list | tuple):
    return type(obj)(_fill(v, storages) for v in obj)
  return obj


def load(path: str):
  """The object a torch file holds, tensors as numpy arrays."""
  try:
    if zipfile.is_zipfile(path):
      with zipfile.ZipFile(path) as archive:
        return _load_zip(archive, path)
    with open(path, "rb") as f:
      return _load_legacy(f, path)
  except (zipfile.BadZipFile, pickle.UnpicklingError, KeyError, EOFError, IndexError, ValueError) as e:
    if isinstance(e, TorchFileError):
      raise
    raise TorchFileError(f"{path}: not a readable torch file ({e})") from e
