"""Reads the tensors of torch files without torch: TorchScript archives and `torch.save` checkpoints.

Both pickle their objects with each tensor a `torch._utils._rebuild_tensor_v2`
call on a storage of raw little-endian values:
- a TorchScript archive, and a `torch.save` file since torch 1.6, is a zip:
  `<root>/data.pkl` pickles the object, storages live in `<root>/data/<key>`;
- a legacy `torch.save` file is a run of pickles (magic number, protocol,
  system info, the object, the sorted storage keys), then each storage as its
  element count (int64) and its bytes.

Files are untrusted. Every pickle goes through one unpickler that builds only
tensors, dicts and TorchScript module shells (any other object is refused by
name, so a file cannot run code); every tensor must lie inside its storage; and
what the file says it holds is checked against its size before anything that
size is allocated. Whatever is wrong with a file is a TorchFileError: one line
naming the file and the fault.
"""

import collections
import io
import math
import mmap
import os
import pickle
import reprlib
import struct
import zipfile
import zlib
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from jgc import errors
from jgc.io import paths

_DTYPES = {"FloatStorage": "<f4", "DoubleStorage": "<f8", "LongStorage": "<i8", "IntStorage": "<i4",
           "ByteStorage": "u1", "BoolStorage": "?"}
_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
# What a load may allocate on the file's word (zip entries by their declared sizes, then the tensors it copies out),
# as a multiple of the file's size. torch stores its zip entries uncompressed, and a tensor copies at most its
# storage, so a file torch wrote needs about 2x; 8x leaves room for storages that several tensors share and for
# archives re-zipped with deflate (weights compress poorly), while a zip bomb, or one storage referenced a million
# times, claims hundreds of times its size.
_EXPANSION = 8
# numpy's limit on dimensions (32 before numpy 2); checked first, so a shape's product stays cheap to compute.
_MAX_DIMS = 64
# What pickle, zipfile and numpy raise on a malformed file. MemoryError is not among them: everything a file claims
# is checked against its size first, so running out of memory is the machine's state, not the file's fault.
_MALFORMED = (pickle.UnpicklingError, zipfile.BadZipFile, zlib.error, struct.error, EOFError, ValueError, TypeError,
              AttributeError, KeyError, IndexError, OverflowError, NotImplementedError)
_shown = reprlib.repr  # the file's own names and values, cut short in messages: they may be of any length


class TorchFileError(errors.Error, ValueError):
  """The file is not a torch file this reader understands, or is a hostile one."""


class Module:
  """A scripted module: its attributes, tensors as numpy arrays."""


class _Storage(NamedTuple):
  """A storage as the pickle references it: a NamedTuple, so no opcode can alter it once it is checked."""
  key: str
  dtype: np.dtype
  size: int  # in values


class _Budget:
  """The bytes a load may still allocate on the file's word."""

  def __init__(self, file_size: int):
    self.left = _EXPANSION * file_size

  def take(self, nbytes: int, what: str) -> None:
    if nbytes > self.left:
      raise TorchFileError(f"{what} ({nbytes} bytes) is more than {_EXPANSION}x the file's size allows")
    self.left -= nbytes


def _check_tensor(storage: _Storage, offset: Any, shape: Any, strides: Any) -> None:
  """Refuses a tensor unless it reads only values inside `storage`, and no more of them than it holds."""
  if not (type(shape) in (tuple, list) and type(strides) in (tuple, list) and len(shape) == len(strides)):
    raise TorchFileError(f"a tensor's shape {_shown(shape)} and strides {_shown(strides)} do not match")
  if len(shape) > _MAX_DIMS:
    raise TorchFileError(f"a tensor has {len(shape)} dimensions, numpy allows {_MAX_DIMS}")
  # as_strided takes a negative stride or offset, and reads outside the storage; bools are ints to Python.
  if not all(type(n) is int and n >= 0 for n in (offset, *shape, *strides)):
    raise TorchFileError(f"a tensor's offset {_shown(offset)}, shape {_shown(shape)} and strides {_shown(strides)} "
                         "are not all non-negative integers")
  count = math.prod(shape)
  # An expanded tensor (a stride of 0) can hold more values than its storage: copied, a few bytes would claim
  # terabytes.
  if count > storage.size:
    raise TorchFileError(f"a tensor of shape {_shown(shape)} holds {count} values, more than the {storage.size} of "
                         "its storage (an expanded tensor?)")
  if count and offset + sum((n - 1) * s for n, s in zip(shape, strides, strict=True)) >= storage.size:
    raise TorchFileError(f"a tensor of shape {_shown(shape)} at offset {offset} with strides {_shown(strides)} runs "
                         f"past the {storage.size} values of its storage")


def _copy(values: np.ndarray, offset: int, shape: tuple, strides: tuple, budget: _Budget) -> np.ndarray:
  """The tensor `_check_tensor` passed, copied out of its storage's `values`."""
  budget.take(math.prod(shape) * values.itemsize, f"a tensor of shape {shape}")
  if 0 in shape:
    return np.empty(shape, values.dtype)
  # A stride along a dimension of size 1 is never taken, whatever the file says: 0 keeps it a C integer.
  steps = [s * values.itemsize if n > 1 else 0 for n, s in zip(shape, strides, strict=True)]
  return np.lib.stride_tricks.as_strided(values[offset:], shape, steps).copy()


def _ordered_dict() -> collections.OrderedDict:
  """`collections.OrderedDict`, which torch calls with no arguments: given one, it would copy it."""
  return collections.OrderedDict()


def _int_list(values: list) -> list:
  """TorchScript's `build_intlist`: the list itself (the ints are checked where a tensor uses them)."""
  if type(values) is not list:
    raise TorchFileError(f"build_intlist of a {_shown(type(values).__name__)}")
  return values


def _checking_keys(load: Callable, keys: Callable) -> Callable:
  """The opcode handler `load`, first refusing any of the `keys(stack)` it is to hash that is a tuple of tuples:
  CPython hashes nested tuples recursively, with no depth check, so a key nested a million deep crashes it."""

  def checked(unpickler: pickle._Unpickler) -> None:
    if any(type(key) is tuple and any(type(k) is tuple for k in key) for key in keys(unpickler.stack)):
      raise TorchFileError("a dict or set key is a tuple of tuples")
    load(unpickler)

  return checked


def _refuse_bytearray(unpickler: pickle._Unpickler) -> None:
  # pickle allocates a bytearray at the size the file names before reading it; torch writes none.
  raise TorchFileError("a bytearray, which torch does not write")


class _Unpickler(pickle._Unpickler):
  """Builds tensors, dicts and TorchScript module shells only; any other object is refused by name.

  `tensor(storage, offset, shape, strides)` makes a tensor once `_check_tensor` passed it; without it, a storage
  is refused. This is pickle's pure-Python unpickler, as the C one sizes its memo by whatever index a file names (a
  9-byte pickle makes it zero-fill 1 GB); `dispatch` changes the opcodes that could still harm.
  """

  def __init__(self, file, tensor: Callable | None = None):
    super().__init__(file)
    self._tensor = tensor
    self.storages = {}  # key -> the _Storage the pickle references by it

  def find_class(self, module: str, name: str) -> Any:
    if module.startswith("__torch__"):
      return type(name, (Module,), {})
    known = {("torch._utils", "_rebuild_tensor_v2"): self._rebuild, ("collections", "OrderedDict"): _ordered_dict,
             ("torch.jit._pickle", "build_intlist"): _int_list}
    if (module, name) in known:
      return known[(module, name)]
    if module == "torch" and name in _DTYPES:
      return _DTYPES[name]
    raise TorchFileError(f"unsupported object {_shown(f'{module}.{name}')} in the file")

  def persistent_load(self, pid: Any) -> _Storage:
    if self._tensor is None:
      raise TorchFileError(f"a storage {_shown(pid)} outside the object")
    # ("storage", dtype, key, location, size in values), and in a legacy file a view of it, which torch left behind.
    if not (type(pid) is tuple and len(pid) in (5, 6) and pid[0] == "storage" and type(pid[1]) is str
            and pid[1] in _DTYPES.values() and type(pid[2]) is str and type(pid[4]) is int and pid[4] >= 0
            and pid[5:] in ((), (None,))):
      raise TorchFileError(f"unsupported storage reference {_shown(pid)}")
    storage = _Storage(pid[2], np.dtype(pid[1]), pid[4])
    if self.storages.setdefault(storage.key, storage) != storage:
      raise TorchFileError(f"storage {_shown(storage.key)} is referenced with two dtypes or sizes")
    return storage

  def _rebuild(self, storage: Any, offset: Any, shape: Any, strides: Any, *_) -> Any:
    """`torch._utils._rebuild_tensor_v2`."""
    if type(storage) is not _Storage:
      raise TorchFileError(f"a tensor on a value of type {_shown(type(storage).__name__)}, not a storage")
    _check_tensor(storage, offset, shape, strides)
    return self._tensor(storage, offset, tuple(shape), tuple(strides))

  def _build(self) -> None:
    # A module shell, or a state_dict (its `_metadata`), takes the dict as its attributes, uncopied: a copy would
    # let one large dict, given to many objects, fill memory.
    state, inst = self.stack.pop(), self.stack[-1]
    if not (isinstance(inst, Module | collections.OrderedDict) and type(state) is dict):
      raise TorchFileError(f"cannot give a {_shown(type(inst).__name__)} the attributes {_shown(state)}")
    inst.__dict__ = state

  dispatch = pickle._Unpickler.dispatch | {pickle.BUILD[0]: _build, pickle.BYTEARRAY8[0]: _refuse_bytearray} | {
      op[0]: _checking_keys(pickle._Unpickler.dispatch[op[0]], keys) for op, keys in (
          (pickle.SETITEM, lambda stack: stack[-2:-1]),  # ..., dict, key, value
          (pickle.SETITEMS, lambda stack: stack[::2]), (pickle.DICT, lambda stack: stack[::2]),  # since the mark
          (pickle.ADDITEMS, lambda stack: stack), (pickle.FROZENSET, lambda stack: stack))}


def _read(archive: zipfile.ZipFile, name: str, budget: _Budget, nbytes: int | None = None) -> bytes:
  """Entry `name` of the archive, its declared size checked (against `nbytes` if given) before it is inflated."""
  try:
    info = archive.getinfo(name)
  except KeyError:
    raise TorchFileError(f"the archive has no entry {_shown(name)}") from None
  # torch stores its entries as they are; zipfile inflates a deflated entry no further than asked, but a bzip2 or
  # lzma one a whole compressed block at a time.
  if info.flag_bits & 1 or info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
    raise TorchFileError(f"entry {_shown(name)} is encrypted or compressed by method {info.compress_type}")
  if info.header_offset < 0:  # zipfile shifts offsets by what it takes for data prepended to the archive
    raise TorchFileError(f"entry {_shown(name)} starts {-info.header_offset} bytes before the archive")
  if nbytes is not None and info.file_size != nbytes:
    raise TorchFileError(f"entry {_shown(name)} holds {info.file_size} bytes, its storage {nbytes}")
  budget.take(info.file_size, f"entry {_shown(name)}")
  with archive.open(info) as f:
    data = f.read(info.file_size)  # read(n) inflates at most n bytes; read() inflates the whole stream, then cuts it
  if len(data) != info.file_size:
    raise TorchFileError(f"entry {_shown(name)} ends after {len(data)} of its {info.file_size} bytes")
  return data


def _load_zip(archive: zipfile.ZipFile, budget: _Budget) -> Any:
  pickles = [n for n in archive.namelist() if n.endswith("/data.pkl")]
  if len(pickles) != 1:
    raise TorchFileError(f"expected one data.pkl in the archive, found {len(pickles)}")
  root = pickles[0].rsplit("/", 1)[0]
  values = {}  # _Storage -> its values, read when a tensor first needs them

  def tensor(storage, offset, shape, strides):
    if storage not in values:
      data = _read(archive, f"{root}/data/{storage.key}", budget, storage.size * storage.dtype.itemsize)
      values[storage] = np.frombuffer(data, storage.dtype)
    return _copy(values[storage], offset, shape, strides, budget)

  return _Unpickler(io.BytesIO(_read(archive, pickles[0], budget)), tensor).load()


def _load_legacy(f: mmap.mmap, budget: _Budget) -> Any:
  if _Unpickler(f).load() != _LEGACY_MAGIC:
    raise TorchFileError("neither a zip nor a legacy torch file")
  _Unpickler(f).load(), _Unpickler(f).load()  # protocol version, system info
  # The storages follow the object: it is read once for the storages it references, and again for its tensors.
  start = f.tell()
  first = _Unpickler(f, lambda *_: None)
  first.load()
  keys = _Unpickler(f).load()
  if type(keys) is not list or not all(type(k) is str for k in keys):
    raise TorchFileError(f"the storage keys {_shown(keys)} are not a list of strings")
  values = {}  # _Storage -> its values
  for key in keys:
    if key not in first.storages:
      raise TorchFileError(f"the file stores {_shown(key)}, which no tensor references")
    storage = first.storages[key]
    nbytes = storage.size * storage.dtype.itemsize
    if 8 + nbytes > len(f) - f.tell():  # its count, then its values
      raise TorchFileError(f"the file ends {len(f) - f.tell()} bytes into the {8 + nbytes} of storage {_shown(key)}")
    count = int.from_bytes(f.read(8), "little", signed=True)
    if count != storage.size:
      raise TorchFileError(f"storage {_shown(key)} holds {count} values, its tensors say {storage.size}")
    values[storage] = np.frombuffer(f.read(nbytes), storage.dtype)

  def tensor(storage, offset, shape, strides):
    if storage not in values:
      raise TorchFileError(f"storage {_shown(storage.key)} is not in the file")
    return _copy(values[storage], offset, shape, strides, budget)

  f.seek(start)
  return _Unpickler(f, tensor).load()


def _one_line(text: str) -> str:
  """`text` with line breaks and other unprintable characters escaped: it quotes the file, which may hold any."""
  return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def load(path: str) -> Any:
  """The object a torch file holds, tensors as numpy arrays.

  Raises TorchFileError, one line naming the file and its fault, for any other file, hostile ones included;
  `NotFound` or `CannotRead` (`jgc.errors`) for a file that cannot be opened.
  """
  try:
    f = open(path, "rb")
  except OSError as e:
    raise paths.read_error(path, e) from None
  with f:
    size = os.fstat(f.fileno()).st_size
    try:
      if f.read(4) == b"PK\x03\x04":  # how torch tells its zip files from legacy ones, which begin with a pickle
        with zipfile.ZipFile(f) as archive:
          return _load_zip(archive, _Budget(size))
      if not size:
        raise TorchFileError("the file is empty")
      with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:  # reads past its end come back short
        return _load_legacy(data, _Budget(size))
    except TorchFileError as e:
      raise TorchFileError(_one_line(f"{path}: {e}")) from None
    except _MALFORMED as e:
      detail = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
      raise TorchFileError(_one_line(f"{path}: not a readable torch file ({detail})")) from e
