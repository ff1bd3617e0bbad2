"""A corpus of crafted files (torch checkpoints, bundles, .jgc files) through the `jgc` CLI, as a user
would give them: each gives exit 0 and a right result, or exit 1 or 2 and one line naming the file
and the problem; none aborts, crashes, hangs or runs code. All run in one child process, so that an
abort anywhere fails the test."""

import collections
import io
import json
import os
import random
import struct
import subprocess
import sys
import zipfile
import zlib

import numpy as np
import skimage.data
from codec_helpers import ROOT, bundle_bytes
from flax import serialization
from golden import DATA
from PIL import Image
from torch_corpus import Call, Global, New, Storage, Tensor, legacy_file, system, zip_file

from jgc.codec import bundle as bundles

COMPRESSAI = os.path.join(ROOT, "tests", "data", "compressai")
MARKER = "ran-code"


def _torch_files(out: str) -> dict[str, bytes]:
  marker = os.path.join(out, MARKER)
  floats = Storage("0", np.arange(12, dtype="<f4"))
  good = collections.OrderedDict(w=Tensor(floats, 0, (3, 4), (4, 1)))
  payloads = {f"legacy-{place}-{m}.{n}.pth": legacy_file(good, **{place: system(m, n, marker)})
              for place in ("magic", "protocol", "sys_info") for m, n in (("os", "system"), ("builtins", "eval"))}
  payloads |= {f"legacy-object-{m}.{n}.pth": legacy_file(system(m, n, marker))
               for m, n in (("os", "system"), ("subprocess", "Popen"), ("posix", "system"))}
  payloads["legacy-keys-exec.pth"] = legacy_file(good, keys=system("builtins", "exec", marker))
  payloads["zip-os-system.pth"] = zip_file(system("os", "system", marker))
  bomb = io.BytesIO()
  with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
    archive.writestr("archive/data.pkl", bytes(64 << 20))  # 64 MB of zeros in about 64 kB
  return payloads | {
      "negative-stride.pth": zip_file(collections.OrderedDict(w=Tensor(floats, 11, (3,), (-1,)))),
      "huge-offset.pth": legacy_file(collections.OrderedDict(w=Tensor(floats, 2**62, (2,), (1,)))),
      "expanded.pth": zip_file(collections.OrderedDict(w=Tensor(floats, 0, (2**20, 2**20), (0, 0)))),
      "not-a-storage.pth": zip_file(collections.OrderedDict(w=Tensor([1.0], 0, (1,), (1,)))),
      "class-with-args.pth": zip_file(New(Global("__torch__.Net", "Net"), (1, 2))),
      "bomb.pth": bomb.getvalue(),
      "wrong-storage-size.pth": zip_file(good, entries={"data/0": bytes(1 << 20)}),
      "truncated.pth": legacy_file(good)[:40],
      "empty.pth": b"",
      "random.pth": random.Random(0).randbytes(3000),
      "state-dict-of-nothing.pth": legacy_file(collections.OrderedDict()),
      "call-ordered-dict.pth": zip_file(Call(Global("collections", "OrderedDict"), ([("a", 1)],))),
  }


def _bundles() -> dict[str, bytes]:
  from test_codec import BAD_BUNDLES, _altered  # noqa: PLC0415  (the bundle cases the codec tests name)

  good = bundle_bytes("hific")
  tree = serialization.msgpack_restore(good[len(bundles.MAGIC):])
  tree["version"] = 99
  out = {f"{case.replace(' ', '-')}.jgcm": _altered("hific", change) for case, (change, _) in BAD_BUNDLES.items()}
  return out | {"half.jgcm": good[:len(good) // 2], "magic-only.jgcm": bundles.MAGIC, "empty.jgcm": b"",
                "version-99.jgcm": bundles.MAGIC + serialization.msgpack_serialize(tree),
                "a-png.jgcm": b"\x89PNG\r\n\x1a\n" + bytes(100), "random.jgcm": random.Random(1).randbytes(500),
                "garbage-payload.jgcm": bundles.MAGIC + random.Random(2).randbytes(500)}


def _with_crc(data: bytes) -> bytes:
  return data[:12] + struct.pack("<I", zlib.crc32(data[16:], zlib.crc32(data[:12]))) + data[16:]


def _jgc_files() -> dict[str, bytes]:
  v1, v2 = (open(os.path.join(DATA, f"hific.v{v}.jgc"), "rb").read() for v in (1, 2))
  flips = {f"bit-{bit}.jgc": bytes(b ^ (1 << bit % 8) if i == bit // 8 else b for i, b in enumerate(v2))
           for bit in (0, 25, 30, 40, 100, 130, 135, 140, 170, 8 * len(v2) - 1)}
  header = 16
  return flips | {
      "v1.jgc": v1, "v2.jgc": v2, "empty.jgc": b"", "magic-only.jgc": b"JGC", "a-png.jgc": b"\x89PNG" + bytes(40),
      "version-9.jgc": v2[:3] + b"\x09" + v2[4:], "truncated-header.jgc": v2[:14], "truncated.jgc": v2[:-5],
      "other-model.jgc": _with_crc(v2[:4] + bytes(8) + v2[12:]),
      # 47x59 is one byte each; after them, the first stream's length.
      "claims-16384-squared.jgc": _with_crc(v2[:header] + b"\x80\x80\x01\x80\x80\x01" + v2[header + 2:]),
      "claims-4096-squared.jgc": _with_crc(v2[:header] + b"\x80\x20\x80\x20" + v2[header + 2:]),
      "stream-split-moved.jgc": _with_crc(v2[:header + 2] + bytes([v2[header + 2] + 1]) + v2[header + 3:]),
      "v1-stream-split-moved.jgc": v1[:header + 2] + bytes([v1[header + 2] + 1]) + v1[header + 3:],
      "endless-varint.jgc": _with_crc(v2[:header] + b"\xff" * 30),
      "random.jgc": random.Random(3).randbytes(300),
  }


DRIVER = """
import contextlib, io, json, sys, traceback
from jgc import cli
for argv in json.loads(sys.argv[1]):
  out, err = io.StringIO(), io.StringIO()
  with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
    try:
      code = cli.main(argv)
    except SystemExit as e:
      code = e.code
    except BaseException:
      code, err = "traceback", io.StringIO(traceback.format_exc())
  print(json.dumps({"argv": argv, "code": code, "out": out.getvalue(), "err": err.getvalue()}), flush=True)
"""


def test_every_crafted_file_gets_a_result_or_a_one_line_error(tmp_path):
  corpus = {"torch": _torch_files(str(tmp_path)), "bundle": _bundles(), "jgc": _jgc_files()}
  assert sum(map(len, corpus.values())) >= 60
  image = tmp_path / "image.png"
  Image.fromarray(skimage.data.astronaut()[:40, :56]).save(image)
  runs = []
  for kind, files in corpus.items():
    for name, data in files.items():
      path = tmp_path / kind / name
      path.parent.mkdir(exist_ok=True)
      path.write_bytes(data)
      out = str(tmp_path / "out" / kind / name)
      runs.append({"torch": ["import", "compressai", "mbt2018-mean", str(path), "-o", out + ".jgcm"],
                   "bundle": ["compress", str(image), "-m", str(path), "-o", out + ".jgc"],
                   "jgc": ["decompress", str(path), "-m", os.path.join(DATA, "hific.jgcm"), "-o", out + ".png"]}[kind])
  # The valid inputs, to show the checks refuse only what is wrong.
  runs += [["import", "compressai", "mbt2018-mean", os.path.join(COMPRESSAI, "mbt2018-mean.pth"),
            "-o", str(tmp_path / "out" / "real.jgcm")],
           ["compress", str(image), "-m", os.path.join(DATA, "hific.jgcm"), "-o", str(tmp_path / "out" / "real.jgc")]]
  env = {**os.environ, "JAX_PLATFORMS": "cpu", "JGC_MEMORY_BUDGET_GIB": "2", "PYTHONPATH": ROOT}
  child = subprocess.run([sys.executable, "-c", DRIVER, json.dumps(runs)], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=900)
  assert child.returncode == 0, child.stderr[-3000:]
  results = [json.loads(line) for line in child.stdout.splitlines() if line.startswith("{")]
  assert len(results) == len(runs)
  assert not os.path.exists(tmp_path / MARKER) and not os.path.exists(os.path.join(ROOT, MARKER)), "a file ran code"
  succeeded = set()
  for r in results:
    target = r["argv"][r["argv"].index("-o") + 1]
    given = r["argv"][3] if r["argv"][0] in ("import", "compress") else r["argv"][1]  # the crafted file
    assert r["code"] in (0, 1, 2), (r["argv"], r["code"], r["err"][-2000:])
    if r["code"] == 0:
      assert os.path.getsize(target) > 0, r["argv"]
      succeeded.add(os.path.basename(given))
    else:
      lines = r["err"].strip().splitlines()
      assert len(lines) == 1 and "Traceback" not in r["err"], (r["argv"], r["err"])
      assert os.path.basename(given) in lines[0], (given, lines[0])
      assert not os.path.exists(target), r["argv"]
  # Only the untouched files succeed; everything else is refused.
  assert succeeded == {"v1.jgc", "v2.jgc", "mbt2018-mean.pth", "hific.jgcm"}, succeeded
  assert np.asarray(Image.open(tmp_path / "out" / "jgc" / "v2.jgc.png")).shape == (47, 59, 3)
