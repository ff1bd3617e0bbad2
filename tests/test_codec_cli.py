"""A model trained by `jgc.main`, exported, used through the `jgc` CLI: image
modes, folders, errors, file sizes on Kodak, and determinism across processes."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from codec_helpers import bundle_bytes
from PIL import Image

from jgc import cli
from jgc.codec import bundle as bundles
from jgc.codec import container
from jgc.codec.compressor import Codec
from jgc.io import image_files

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KODAK = os.path.join(ROOT, "..", "shared", "data", "kodak")
ENV = {**os.environ, "JAX_PLATFORMS": "cpu"}


@pytest.fixture
def model_path(readme_bundle):
  return readme_bundle


def _kodak(n: int) -> list[str]:
  return [os.path.join(KODAK, f"kodim{i:02d}.png") for i in range(1, n + 1)]


def test_cli_compresses_any_mode_and_reports_bad_files(model_path, tmp_path, capsys):
  src = tmp_path / "in"
  (src / "nested").mkdir(parents=True)
  photo = np.asarray(Image.open(_kodak(1)[0]))
  Image.fromarray(photo).save(src / "photo.png")
  Image.fromarray(photo[:40, :30, 0]).save(src / "gray.png")
  Image.fromarray(np.dstack([photo[:33, :65], np.full((33, 65), 128, np.uint8)])).save(src / "nested" / "alpha.png")
  Image.fromarray(photo[:20, :20, 1].astype(np.uint16) * 257).save(src / "deep16.png")
  Image.fromarray(photo[:24, :24]).convert("P").save(src / "palette.gif")
  Image.fromarray(photo[:1, :1]).save(src / "dot.webp", lossless=True)
  Image.fromarray(photo[:50, :50]).save(src / "photo.jpg", quality=90)
  (src / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(30))

  status = cli.main(["compress", str(src), "-m", model_path, "-o", str(tmp_path / "out")])
  out = capsys.readouterr()
  assert status == 1
  assert "broken.png: error:" in out.err and "compressed 7 of 8 files" in out.out
  assert "alpha channel dropped" in out.out and "bpp" in out.out
  coded = sorted(os.path.relpath(os.path.join(r, f), tmp_path / "out")
                 for r, _, fs in os.walk(tmp_path / "out") for f in fs)
  assert coded == ["deep16.png.jgc", "dot.webp.jgc", "gray.png.jgc", "nested/alpha.png.jgc", "palette.gif.jgc",
                   "photo.jpg.jgc", "photo.png.jgc"]

  assert cli.main(["decompress", str(tmp_path / "out"), "-m", model_path, "-o", str(tmp_path / "dec")]) == 0
  for rel, size in [("photo.png", photo.shape[:2]), ("gray.png", (40, 30)), ("nested/alpha.png", (33, 65)),
                    ("deep16.png", (20, 20)), ("palette.gif.png", (24, 24)), ("dot.webp.png", (1, 1)),
                    ("photo.jpg.png", (50, 50))]:
    image, _ = image_files.read(str(tmp_path / "dec" / rel))
    assert image.shape == (*size, 3), rel
  capsys.readouterr()
  # Nothing is overwritten unless asked.
  assert cli.main(["decompress", str(tmp_path / "out" / "gray.png.jgc"), "-m", model_path,
                   "-o", str(tmp_path / "dec" / "gray.png")]) == 1
  assert "--force" in capsys.readouterr().err


def test_cli_names_both_models_when_they_differ(model_path, tmp_path, capsys):
  other = tmp_path / "other.jgcm"
  other.write_bytes(bundle_bytes("hific"))
  assert cli.main(["compress", _kodak(1)[0], "-m", model_path, "-o", str(tmp_path / "a.jgc")]) == 0
  assert cli.main(["decompress", str(tmp_path / "a.jgc"), "-m", str(other), "-o", str(tmp_path / "a.png")]) == 1
  err = capsys.readouterr().err
  assert bundles.load(model_path).model_id.hex() in err and bundles.load(str(other)).model_id.hex() in err
  assert cli.main(["compress", str(tmp_path / "empty"), "-m", model_path, "-o", str(tmp_path)]) == 2
  (tmp_path / "empty").mkdir()
  assert cli.main(["compress", str(tmp_path / "empty"), "-m", model_path, "-o", str(tmp_path)]) == 2
  assert "no " in capsys.readouterr().err


def test_kodak_files_match_the_models_rate_estimate(model_path):
  codec = Codec(bundles.load(model_path))
  for path in _kodak(24):
    image, _ = image_files.read(path)
    data = codec.compress(image)
    header = container.header_size(data, 2)
    estimate = codec.estimate_bits(image) / 8
    assert header <= 32
    assert len(data) - header <= 1.005 * estimate, (path, len(data), header, estimate)


SIDE = textwrap.dedent("""
    import sys
    import numpy as np
    from jgc.io import image_files
    from jgc.codec import bundle, container
    from jgc.codec.compressor import Codec
    model, image_path, encode_to, decode_from, dump = sys.argv[1:]
    codec = Codec(bundle.load(model))
    image, _ = image_files.read(image_path)
    if encode_to != "-":
      open(encode_to, "wb").write(codec.compress(image[:200, :300]))
    data = open(decode_from, "rb").read()
    coded = container.unpack(data, 2)
    y_shape, z_shape = codec.latent_shapes(coded.height, coded.width)
    z = codec._coders["z"].decode(coded.streams[0], np.broadcast_to(np.arange(z_shape[-1]), z_shape))
    mean, idx = codec._side_info(z, y_shape[1:3])
    # The same z inside a batch of two: the exact path does not depend on the batch.
    mean2, idx2 = codec._side_info(np.concatenate([z, z[:, ::-1]]), y_shape[1:3])
    assert np.array_equal(mean2[:1], mean) and np.array_equal(idx2[:1], idx)
    decoded = codec.decompress(data)
    np.savez(dump, mean=mean, idx=idx, decoded=decoded)
""")


def test_side_info_is_identical_across_processes_and_xla_flags(model_path, tmp_path):
  image = _kodak(3)[2]
  coded = str(tmp_path / "a.jgc")
  single = {**ENV, "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false", "OMP_NUM_THREADS": "1"}
  multi = {**ENV, "XLA_FLAGS": "--xla_force_host_platform_device_count=3"}
  for env, args in [(single, [coded, coded, str(tmp_path / "a.npz")]),
                    (multi, ["-", coded, str(tmp_path / "b.npz")])]:
    out = subprocess.run([sys.executable, "-c", SIDE, model_path, image, *args], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
  a, b = np.load(tmp_path / "a.npz"), np.load(tmp_path / "b.npz")
  np.testing.assert_array_equal(a["idx"], b["idx"])
  np.testing.assert_array_equal(a["mean"], b["mean"])
  # The generator itself is float32: other XLA settings may move a pixel by one level.
  assert np.abs(a["decoded"].astype(int) - b["decoded"].astype(int)).max() <= 1
