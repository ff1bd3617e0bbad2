"""jgc.io.torch_files on torch files made by hand (tests/torch_corpus.py, no torch needed): valid ones load to the right
arrays, and every hostile or broken one is a one-line TorchFileError naming the file: never code run, a crash,
another exception, or a large allocation."""

import collections
import io
import random
import re
import time
import tracemalloc
import zipfile

import numpy as np
import pytest
from torch_corpus import (
  Build,
  Call,
  Global,
  New,
  Pid,
  Raw,
  Storage,
  Tensor,
  declare_size,
  dumps,
  legacy_file,
  system,
  zip_file,
)

from jgc.io import torch_files
from jgc.io.torch_files import TorchFileError

FLOATS = Storage("0", np.arange(12, dtype="<f4"))
DOUBLES = Storage("1", np.arange(3, dtype="<f8"))
GOOD = {"matrix": Tensor(FLOATS, 0, (3, 4), (4, 1)),
        "view": Tensor(FLOATS, 1, (2, 2), (4, 2)),  # not contiguous, and not at the storage's start
        "transposed": Tensor(FLOATS, 0, (4, 3), (1, 4)),
        "doubles": Tensor(DOUBLES, 0, (3,), (1,)),
        "scalar": Tensor(FLOATS, 5, (), ()),
        "empty": Tensor(FLOATS, 0, (0, 3), (3, 1)),
        "broadcast": Tensor(FLOATS, 8, (3, 4), (0, 1)),  # a stride of 0, within the storage's size
        "size-1 dim": Tensor(FLOATS, 2, (1, 3), (2**40, 1))}  # a stride never taken may be anything
WRITERS = [legacy_file, zip_file]
CALLABLES = [("os", "system"), ("posix", "system"), ("builtins", "eval"), ("builtins", "exec"), ("subprocess", "Popen")]


def state_dict(**tensors) -> collections.OrderedDict:
  state = collections.OrderedDict(tensors)
  state._metadata = collections.OrderedDict({"": {"version": 1}})  # as torch's state_dict() has, set by BUILD
  return state


def refused(tmp_path, data: bytes, match: str = "") -> str:
  """The message of the TorchFileError that reading `data` raises: one line, naming the file, matching `match`."""
  path = tmp_path / "hostile.pth"
  path.write_bytes(data)
  with pytest.raises(TorchFileError) as error:
    torch_files.load(str(path))
  message = str(error.value)
  assert message.startswith(f"{path}: ") and len(message.splitlines()) == 1, message
  assert re.search(match, message), message
  return message


def expected(tensor: Tensor) -> np.ndarray:
  """What `tensor` holds, by index arithmetic rather than as_strided."""
  values = tensor.storage.values
  out = np.empty(tensor.shape, values.dtype)
  for index in np.ndindex(*tensor.shape):
    out[index] = values[tensor.offset + sum(i * s for i, s in zip(index, tensor.strides, strict=True))]
  return out


@pytest.mark.parametrize("write", WRITERS)
def test_valid_files_load_to_the_right_arrays(tmp_path, write):
  path = tmp_path / "good.pth"
  path.write_bytes(write(state_dict(**GOOD)))
  state = torch_files.load(str(path))
  assert type(state) is collections.OrderedDict and list(state) == list(GOOD)
  assert state._metadata == {"": {"version": 1}}
  for name, tensor in GOOD.items():
    assert state[name].dtype == tensor.storage.values.dtype and state[name].flags.writeable, name
    np.testing.assert_array_equal(state[name], expected(tensor), err_msg=name)


def test_a_scripted_module_loads_as_a_module_shell(tmp_path):
  conv = Build(New(Global("__torch__.torch.nn.modules.conv", "Conv2d"), ()),
               {"training": False, "weight": GOOD["matrix"]})
  path = tmp_path / "script.pt"
  path.write_bytes(zip_file(Build(New(Global("__torch__.Net", "Net"), ()), {"conv": conv})))
  net = torch_files.load(str(path))
  assert isinstance(net.conv, torch_files.Module) and type(net.conv).__name__ == "Conv2d"
  assert net.conv.training is False
  np.testing.assert_array_equal(net.conv.weight, expected(GOOD["matrix"]))


@pytest.mark.parametrize("place", ["magic", "protocol", "sys_info", "object", "keys"])
@pytest.mark.parametrize("module,name", CALLABLES)
def test_no_pickle_of_a_legacy_file_runs_code(tmp_path, place, module, name):
  marker = tmp_path / "ran"
  payload = system(module, name, str(marker))
  if place == "object":
    data = legacy_file(state_dict(**GOOD, payload=payload))
  else:
    data = legacy_file(state_dict(**GOOD), **{place: payload})
  refused(tmp_path, data, f"unsupported object '{module}.{name}'")
  assert not marker.exists()


@pytest.mark.parametrize("module,name", CALLABLES)
def test_a_zip_files_pickle_runs_no_code(tmp_path, module, name):
  marker = tmp_path / "ran"
  refused(tmp_path, zip_file(state_dict(**GOOD, payload=system(module, name, str(marker)))),
          f"unsupported object '{module}.{name}'")
  assert not marker.exists()


@pytest.mark.parametrize("opcodes,match", [
    (b"\x80\x04\x8c\x02os\x8c\x06system\x93\x8c\x0btouch MARK\x85R.", "'os.system'"),  # STACK_GLOBAL (protocol 4)
    (b"(S'touch MARK'\nios\nsystem\n.", "'os.system'"),  # INST, protocol 0
    (b"\x80\x02\x82\x01)R.", "unregistered extension code 1"),  # EXT1: a name from copyreg's registry, empty
    (b"\x80\x02Pstorage\n.", "storage 'storage'|storage reference 'storage'")],  # PERSID, a storage by a string
    ids=["stack_global", "inst", "ext1", "persid"])
def test_other_ways_of_naming_objects_run_no_code(tmp_path, monkeypatch, opcodes, match):
  monkeypatch.chdir(tmp_path)
  refused(tmp_path, zip_file(None, data_pkl=opcodes), match)
  refused(tmp_path, legacy_file(None, magic=Raw(opcodes[opcodes.startswith(b"\x80") * 2:-1])), match)
  assert not (tmp_path / "MARK").exists()


@pytest.mark.parametrize("write", WRITERS)
@pytest.mark.parametrize("tensor,match", [
    (Tensor(FLOATS, 0, (3,), (-4,)), "non-negative"),  # before the storage's start
    (Tensor(FLOATS, -4, (2,), (1,)), "non-negative"),
    (Tensor(FLOATS, 0, (-1, 3), (3, 1)), "non-negative"),
    (Tensor(FLOATS, 0, (2,), (2**62,)), "runs past"),
    (Tensor(FLOATS, 0, (2, 2), (2**64 - 1, 1)), "runs past"),
    (Tensor(FLOATS, 2**62, (1,), (1,)), "runs past"),
    (Tensor(FLOATS, 12, (1,), (1,)), "runs past"),
    (Tensor(FLOATS, 0, (5,), (3,)), "runs past"),  # the last element, index 12, just past
    (Tensor(FLOATS, 0, (3, 4), (4,)), "do not match"),
    (Tensor(FLOATS, 0, "abc", "abc"), "do not match"),
    (Tensor(FLOATS, 0, (3.0, 4), (4, 1)), "non-negative integers"),
    (Tensor(FLOATS, 0, (True, 3), (3, 1)), "non-negative integers"),
    (Tensor(FLOATS, 0, (3,), (1.5,)), "non-negative integers"),
    (Tensor(FLOATS, False, (3,), (1,)), "non-negative integers"),
    (Tensor(FLOATS, 0, (2**20, 2**20), (0, 0)), r"1099511627776 values, more than the 12 .*expanded"),
    (Tensor(FLOATS, 0, (13,), (0,)), "expanded"),
    (Tensor(FLOATS, 0, (1,) * 65, (1,) * 65), "65 dimensions"),
    (Tensor(FLOATS, 0, (0, 2**70), (1, 1)), "not a readable torch file"),  # empty, but too big for numpy
    (Tensor(5, 0, (1,), (1,)), "type 'int', not a storage"),
    (Tensor([1.0, 2.0], 0, (1,), (1,)), "type 'list', not a storage"),
    # A tensor's values as another's storage: a 2-D one would be sliced by rows, and read past its end. (A legacy
    # file's object is read once for its storages, with no tensors built: None, then.)
    (Tensor(Tensor(FLOATS, 0, (3, 4), (4, 1)), 2, (12,), (1,)), "type '(ndarray|NoneType)', not a storage"),
    (Tensor(Pid(("storage", "O", "0", "cpu", 3)), 0, (1,), (1,)), "unsupported storage reference"),  # object dtype
    (Tensor(Pid(("storage", Global("torch", "FloatStorage"), "0", "cpu", -1)), 0, (0,), (1,)), "unsupported storage"),
    (Tensor(Pid(("storage", Global("torch", "FloatStorage"), 0, "cpu", 12)), 0, (1,), (1,)), "unsupported storage"),
    (Tensor(Pid(("storage", Global("torch", "FloatStorage"), "0", "cpu", 12, (0, 12, 12))), 0, (1,), (1,)),
     "unsupported storage"),  # a view of the storage, which old torch wrote
    (Tensor(Pid(("module", "0")), 0, (1,), (1,)), "unsupported storage"),
    (Tensor(Storage("0", FLOATS.values, size=2), 0, (1,), (1,)), "two dtypes or sizes"),  # beside GOOD's
    (Call(Global("torch._utils", "_rebuild_tensor_v2"), (Storage("2", FLOATS.values), 0)), "missing 2 required"),
])
def test_tensors_outside_their_storage_are_refused(tmp_path, write, tensor, match):
  refused(tmp_path, write(state_dict(**GOOD, hostile=tensor)), match)


@pytest.mark.parametrize("write", WRITERS)
def test_one_storage_referenced_many_times_cannot_fill_memory(tmp_path, write):
  storage = Storage("big", np.zeros(2**16, "<f4"))
  tensors = {str(i): Tensor(storage, 0, (2**16,), (1,)) for i in range(300)}  # 300 x 256 KB from a 256 KB file
  tracemalloc.start()
  try:
    refused(tmp_path, write(state_dict(**tensors)), r"a tensor of shape \(65536,\) \(262144 bytes\) is more than 8x")
    assert tracemalloc.get_traced_memory()[1] < 2**24
  finally:
    tracemalloc.stop()


def test_legacy_storages_must_be_what_the_object_references(tmp_path):
  obj = state_dict(**GOOD)
  refused(tmp_path, legacy_file(obj, counts={"0": 2**40}), "storage '0' holds 1099511627776 values, its tensors say 12")
  refused(tmp_path, legacy_file(obj, counts={"0": 3}), "storage '0' holds 3 values")
  huge = Storage("0", FLOATS.values, size=2**40)  # the object declares it, the count agrees, the file is short
  refused(tmp_path, legacy_file(state_dict(t=Tensor(huge, 0, (1,), (1,))), counts={"0": 2**40}),
          r"the file ends 56 bytes into the 4398046511112 of storage '0'")
  refused(tmp_path, legacy_file(obj, keys=["0", "1", "zzz"]), "stores 'zzz', which no tensor references")
  refused(tmp_path, legacy_file(obj, keys=["0"]), "storage '1' is not in the file")
  refused(tmp_path, legacy_file(obj, keys="0"), "not a list of strings")
  refused(tmp_path, legacy_file(obj, keys=[0, 1]), "not a list of strings")
  refused(tmp_path, legacy_file(obj, magic=12345), "neither a zip nor a legacy torch file")
  refused(tmp_path, legacy_file(obj, sys_info=GOOD["matrix"]), "a storage .* outside the object")


def test_zip_entries_must_be_what_the_object_references(tmp_path):
  obj = state_dict(**GOOD)
  refused(tmp_path, zip_file(obj, entries={"data/0": bytes(20)}), "'archive/data/0' holds 20 bytes, its storage 48")
  refused(tmp_path, zip_file(obj, entries={"data/1": None}), "the archive has no entry 'archive/data/1'")
  refused(tmp_path, zip_file(obj, entries={"data.pkl": None}), "expected one data.pkl in the archive, found 0")
  refused(tmp_path, zip_file(obj, entries={"more/data.pkl": b"."}), "expected one data.pkl in the archive, found 2")
  bzip2 = io.BytesIO()
  with zipfile.ZipFile(bzip2, "w", zipfile.ZIP_BZIP2) as archive:
    archive.writestr("archive/data.pkl", dumps(obj)[0])
  refused(tmp_path, bzip2.getvalue(), "entry 'archive/data.pkl' is encrypted or compressed by method 12")


@pytest.fixture(scope="module")
def bomb() -> bytes:
  """A zip whose data.pkl, 256 KB deflated, inflates to 256 MB of zeros."""
  f = io.BytesIO()
  with zipfile.ZipFile(f, "w", zipfile.ZIP_DEFLATED) as archive, archive.open("archive/data.pkl", "w") as entry:
    for _ in range(256):
      entry.write(bytes(2**20))
  return f.getvalue()


def test_zip_bombs_are_refused_before_they_are_inflated(tmp_path, bomb):
  obj = state_dict(big=Tensor(Storage("0", FLOATS.values, size=2**29), 0, (2**29,), (1,)))
  claims = declare_size(zip_file(obj), "archive/data/0", 2**31)  # 48 bytes stored, 2 GiB declared, as its storage
  for data, size in [(bomb, 2**28), (claims, 2**31)]:
    tracemalloc.start()
    try:
      start = time.perf_counter()
      refused(tmp_path, data, rf"entry 'archive/data.*' \({size} bytes\) is more than 8x the file's size allows")
      assert time.perf_counter() - start < 2
      assert tracemalloc.get_traced_memory()[1] < 2**24
    finally:
      tracemalloc.stop()


def test_pickled_calls_and_builds_torch_never_writes_are_refused(tmp_path):
  module = Global("__torch__.Net", "Net")
  for obj, match in [
      (Call(module, (1, 2)), r"TypeError: Net\(\) takes no arguments"),
      (New(module, (1,)), r"TypeError: Net\(\) takes no arguments"),
      (Call(Global("collections", "OrderedDict"), ({"a": 1},)), "takes 0 positional arguments"),
      (Call(Global("torch.jit._pickle", "build_intlist"), ("abc",)), "build_intlist of a 'str'"),
      (Call(Global("torch", "FloatStorage"), ()), "TypeError: 'str' object is not callable"),
      (Build([1, 2], {"a": 1}), "cannot give a 'list' the attributes"),
      (Build(Global("torch._utils", "_rebuild_tensor_v2"), {"a": 1}), "cannot give a 'method' the attributes"),
      (Build(Global("collections", "OrderedDict"), {"a": 1}), "cannot give a 'function' the attributes"),
      (Build(New(module, ()), [1]), r"cannot give a 'Net' the attributes \[1\]"),
      (Build(New(module, ()), ({}, {"a": 1})), "cannot give a 'Net' the attributes"),
      (Build(module, {"a": 1}), "cannot give a 'type' the attributes")]:
    refused(tmp_path, zip_file(state_dict(**GOOD, hostile=obj)), match)


DEEP = 10**6  # tuples nested this deep crash CPython's hash()


@pytest.mark.parametrize("opcodes,match", [
    (b"\x80\x02}" + b")" + b"\x85" * DEEP + b"Ns.", "a dict or set key is a tuple of tuples"),  # SETITEM
    (b"\x80\x02}(" + b")\x85\x85" + b"Nu.", "a dict or set key is a tuple of tuples"),  # SETITEMS
    (b"\x80\x04\x8f(" + b")\x85\x85" + b"\x90.", "a dict or set key is a tuple of tuples"),  # ADDITEMS
    (b"\x80\x04(" + b")\x85\x85" + b"\x91.", "a dict or set key is a tuple of tuples"),  # FROZENSET
    (b"(" + b")\x85\x85" + b"Nd.", "a dict or set key is a tuple of tuples"),  # DICT
    (b"\x80\x05\x96" + (2**40).to_bytes(8, "little") + b".", "a bytearray"),  # BYTEARRAY8, allocated at its size
    (b"\x80\x02Nr\xff\xff\xff\xffcos\nsystem\n.", "'os.system'"),  # LONG_BINPUT: the C unpickler asks for 64 GB
    (b"\x80\x04\x8d" + (2**40).to_bytes(8, "little") + b"abc.", "EOFError"),  # BINUNICODE8, longer than the file
    (b"\x80\x04\x95" + (2**40).to_bytes(8, "little") + b"N", "EOFError"),  # FRAME, longer than the file
    (b"\x80\x02c\xff\xfe\nsystem\n.", "UnicodeDecodeError"),
    (b"\x80\x02c" + b"a" * 10**5 + b"\nsystem\n.", r"unsupported object 'a{12}\.\.\.a{6}\.system' in the file$"),
    (b"\x80\x02cos\xe2\x80\xa8x\nsys\rtem\n.", r"unsupported object 'os\\u2028x\.sys\\rtem'"),  # line breaks, escaped
    (b"\x80\x02.", "IndexError"),  # STOP with nothing on the stack
    (b"\x80\x02(((", "EOFError")],
    ids=["setitem", "setitems", "additems", "frozenset", "dict", "bytearray8", "long_binput", "binunicode8", "frame",
         "global_utf8", "long_name", "line_breaks", "empty_stop", "unterminated"])
def test_hostile_opcodes_are_refused_cheaply(tmp_path, opcodes, match):
  tracemalloc.start()
  try:
    refused(tmp_path, zip_file(None, data_pkl=opcodes), match)
    assert tracemalloc.get_traced_memory()[1] < 2**26
  finally:
    tracemalloc.stop()


def test_a_path_with_a_line_break_stays_on_one_line(tmp_path):
  path = tmp_path / "two\nlines.pth"
  path.write_bytes(b"")
  with pytest.raises(TorchFileError, match=r"two\\nlines\.pth: the file is empty$"):
    torch_files.load(str(path))


@pytest.mark.parametrize("write", WRITERS)
def test_truncated_files_are_refused(tmp_path, write):
  data = write(state_dict(**GOOD))
  for cut in [1, 4, 15, 21, 100, len(data) // 2, len(data) - 20, len(data) - 1]:
    refused(tmp_path, data[:cut])
  refused(tmp_path, b"", "the file is empty")


def test_random_bytes_and_damaged_files_are_refused(tmp_path):
  rng = random.Random(0)
  for size in [1, 2, 10, 100, 1000, 10000]:
    refused(tmp_path, rng.randbytes(size))
  for data in [legacy_file(state_dict(**GOOD)), zip_file(state_dict(**GOOD))]:
    for _ in range(150):
      damaged = bytearray(data)
      for _ in range(rng.randint(1, 4)):
        at = rng.randrange(len(damaged))
        damaged[at:at + 4] = rng.choice([rng.randbytes(1), b"\xff\xff\xff\x7f", b"\x00\x00\x00\x80", b"\xff" * 4])
      path = tmp_path / "damaged.pth"
      path.write_bytes(damaged)
      try:
        torch_files.load(str(path))  # a byte of a value may change and still make a file
      except TorchFileError as e:
        assert str(e).startswith(f"{path}: ") and len(str(e).splitlines()) == 1, str(e)

