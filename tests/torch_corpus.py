"""Torch files made by hand, without torch, for tests/test_torch_files.py: valid ones and hostile ones.

Objects are pickled by pickle's pure-Python pickler, which writes the stand-ins below as torch would write the real
things: `Global` as a GLOBAL opcode (so torch's names need no torch to import), `Call` as a REDUCE, `New` as a
NEWOBJ, `Build` as a BUILD, `Tensor` as `torch._utils._rebuild_tensor_v2(storage, offset, shape, strides, False,
OrderedDict())`, `Storage` as a persistent id (`Pid` as any persistent id), and `Raw` as its opcodes, as they are.
"""

import collections
import io
import pickle
import struct
import zipfile
from typing import Any, NamedTuple

import numpy as np

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
SYS_INFO = {"protocol_version": 1001, "little_endian": True, "type_sizes": {"short": 2, "int": 4, "long": 4}}
_STORAGE_TYPES = {np.dtype("<f4"): "FloatStorage", np.dtype("<f8"): "DoubleStorage", np.dtype("<i8"): "LongStorage"}


class Global(NamedTuple):
  module: str
  name: str


class Call(NamedTuple):
  func: Any
  args: tuple


class New(NamedTuple):
  cls: Any
  args: tuple


class Build(NamedTuple):
  obj: Any
  state: Any


class Raw(NamedTuple):
  opcodes: bytes


class Pid(NamedTuple):
  pid: Any


class Storage(NamedTuple):
  key: str
  values: np.ndarray
  size: int | None = None  # the size the reference declares, if not that of `values`


class Tensor(NamedTuple):
  storage: Any  # a Storage, or anything a hostile file puts there
  offset: Any
  shape: Any
  strides: Any


def system(module: str, name: str, marker: str) -> Call:
  """A call that creates the file `marker` if a reader runs it: `os.system` and its like."""
  command = f"touch {marker}"
  args = {("subprocess", "Popen"): (["touch", marker],),
          ("builtins", "eval"): (f"__import__('os').system({command!r})",),
          ("builtins", "exec"): (f"__import__('os').system({command!r})",)}.get((module, name), (command,))
  return Call(Global(module, name), args)


class _Pickler(pickle._Pickler):
  def __init__(self, file, legacy: bool):
    super().__init__(file, protocol=2)
    self.legacy = legacy
    self.storages = {}  # key -> Storage, in the order referenced

  def persistent_id(self, obj):
    if type(obj) is Pid:
      return obj.pid
    if type(obj) is not Storage:
      return None
    self.storages.setdefault(obj.key, obj)
    pid = ("storage", Global("torch", _STORAGE_TYPES[obj.values.dtype]), obj.key, "cpu",
           obj.values.size if obj.size is None else obj.size)
    return (*pid, None) if self.legacy else pid  # a legacy file adds the storage's view, None

  def save_global_stand_in(self, obj):
    self.write(pickle.GLOBAL + f"{obj.module}\n{obj.name}\n".encode())

  def save_call(self, obj):
    self.save(obj.func)
    self.save(tuple(obj.args))
    self.write(pickle.REDUCE)

  def save_new(self, obj):
    self.save(obj.cls)
    self.save(tuple(obj.args))
    self.write(pickle.NEWOBJ)

  def save_build(self, obj):
    self.save(obj.obj)
    self.save(obj.state)
    self.write(pickle.BUILD)

  def save_raw(self, obj):
    self.write(obj.opcodes)

  def save_tensor(self, obj):
    self.save_call(Call(Global("torch._utils", "_rebuild_tensor_v2"),
                        (obj.storage, obj.offset, obj.shape, obj.strides, False, collections.OrderedDict())))

  dispatch = pickle._Pickler.dispatch | {Global: save_global_stand_in, Call: save_call, New: save_new,
                                         Build: save_build, Raw: save_raw, Tensor: save_tensor}


def dumps(obj, legacy: bool = False) -> tuple[bytes, dict]:
  """The pickle of `obj` (protocol 2, as torch writes), and the storages it references by key."""
  f = io.BytesIO()
  pickler = _Pickler(f, legacy)
  pickler.dump(obj)
  return f.getvalue(), pickler.storages


def legacy_file(obj, *, magic=LEGACY_MAGIC, protocol=1001, sys_info=SYS_INFO, keys=None, counts=None,
                cut: int | None = None) -> bytes:
  """A legacy `torch.save` file of `obj`: `keys` (the list of stored storages) and `counts` (key -> element count)
  replace what it would say, and `cut` keeps only that many bytes."""
  data, storages = dumps(obj, legacy=True)
  keys = sorted(storages) if keys is None else keys
  parts = [dumps(magic)[0], dumps(protocol)[0], dumps(sys_info)[0], data, dumps(keys)[0]]
  for key in [k for k in keys if k in storages] if type(keys) is list else sorted(storages):
    values = storages[key].values
    parts += [struct.pack("<q", (counts or {}).get(key, values.size)), values.tobytes()]
  return b"".join(parts)[:cut]


def zip_file(obj, *, root: str = "archive", data_pkl: bytes | None = None, entries: dict | None = None) -> bytes:
  """A zip `torch.save` file of `obj` (or of the pickle `data_pkl`); `entries` (name -> bytes, or None to leave one
  out) add or replace entries under `root`, as torch writes them: stored, uncompressed."""
  data, storages = dumps(obj)
  files = {"data.pkl": data if data_pkl is None else data_pkl, "byteorder": b"little", ".format_version": b"1"}
  files |= {f"data/{s.key}": s.values.tobytes() for s in storages.values()} | (entries or {})
  f = io.BytesIO()
  with zipfile.ZipFile(f, "w", zipfile.ZIP_STORED) as archive:
    for name, content in files.items():
      if content is not None:
        archive.writestr(f"{root}/{name}", content)
  return f.getvalue()


def declare_size(data: bytes, name: str, size: int) -> bytes:
  """The zip `data` with the central directory declaring entry `name` `size` bytes long: zipfile reads sizes there."""
  cd_offset = struct.unpack_from("<I", data, len(data) - 6)[0]  # the end record, without a comment, is 22 bytes
  data, at = bytearray(data), cd_offset
  while data[at:at + 4] == b"PK\x01\x02":
    name_len, extra_len, comment_len = struct.unpack_from("<HHH", data, at + 28)
    if data[at + 46:at + 46 + name_len].decode() == name:
      struct.pack_into("<I", data, at + 24, size)
      return bytes(data)
    at += 46 + name_len + extra_len + comment_len
  raise KeyError(name)
