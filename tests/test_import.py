"""Imported CompressAI models reproduce CompressAI's outputs, recorded by tests/compressai_reference.py."""

import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from compressai_reference import ARCHS, DATA, image, parity_image
from PIL import Image

from jgc import cli
from jgc.codec import bundle as bundles
from jgc.codec import container
from jgc.codec import import_compressai as ic
from jgc.codec.compressor import Codec
from jgc.entropy import gaussian_likelihood
from jgc.io import torch_files
from jgc.models import build_model


def checkpoint(arch: str) -> str:
  return os.path.join(DATA, f"{arch}.pth")


def reference(arch: str) -> dict:
  return dict(np.load(os.path.join(DATA, f"{arch}.npz")))


def relative(a, b) -> float:
  return float(np.abs(np.asarray(a, np.float64) - b).max() / np.abs(b).max())


@pytest.mark.parametrize("arch", ARCHS)
def test_latents_reconstruction_and_rates_equal_compressais(arch):
  config, params = ic.load(arch, checkpoint(arch))
  ref = reference(arch)
  x = jnp.asarray(parity_image(), jnp.float32)[None] / 255.0
  x_hat, aux = build_model(config).apply({"params": params}, x, train=False)
  assert relative(aux["latents"]["y"], ref["y"]) < 1e-5
  assert relative(aux["latents"]["z"], ref["z"]) < 1e-5
  assert relative(x_hat, ref["x_hat"]) < 1e-5
  for k in ("y", "z"):
    np.testing.assert_allclose(aux["bits"][k][0], -np.log2(ref[f"{k}_likelihoods"].astype(np.float64)).sum(),
                               rtol=1e-4)
  if arch != "mbt2018":  # the autoregressive y is rounded around means that depend on it
    likelihoods = gaussian_likelihood(aux["quantized"]["y"], aux["mean"], aux["scale"])
    np.testing.assert_allclose(likelihoods, ref["y_likelihoods"], rtol=1e-4, atol=1e-8)


@pytest.mark.parametrize("arch", ARCHS)
def test_real_files_are_the_size_of_compressais_and_decode(arch):
  codec = Codec(bundles.parse(ic.bundle_bytes(arch, checkpoint(arch))))
  data = codec.compress(image())
  payload = len(data) - container.header_size(data, 2)
  ref = reference(arch)
  theirs = int(ref["y_bytes"] + ref["z_bytes"])
  assert abs(payload - theirs) <= 0.005 * theirs, (payload, theirs)
  # The decoded image is the model's (test_codec checks that for every family); here, that it decodes.
  assert codec.decompress(data).shape == image().shape


def test_legacy_and_zip_files_and_old_parameter_names_import_alike():
  arch = "bmshj2018-hyperprior"
  _, params = ic.load(arch, checkpoint(arch))
  _, legacy = ic.load(arch, os.path.join(DATA, f"{arch}-legacy.pth"))
  state = torch_files.load(checkpoint(arch))
  renamed = {("module." + k).replace("entropy_bottleneck.matrices.", "entropy_bottleneck._matrix")
             .replace("entropy_bottleneck.biases.", "entropy_bottleneck._biases."): v for k, v in state.items()}
  _, old_names = ic.convert(arch, {ic._canonical(k): v for k, v in renamed.items()})
  for other in (legacy, old_names):
    for a, b in zip(jax.tree.leaves(params), jax.tree.leaves(other), strict=True):
      np.testing.assert_array_equal(a, b)


def test_checkpoints_that_do_not_fit_are_refused_by_name(tmp_path):
  state = {ic._canonical(k): v for k, v in torch_files.load(checkpoint("mbt2018-mean")).items()}
  with pytest.raises(ic.CheckpointMismatch, match="no parameter 'context_prediction.weight'"):
    ic.convert("mbt2018", state)
  with pytest.raises(ic.CheckpointMismatch, match=r"shapes do not fit scale.*hyper_synthesis"):
    ic.convert("bmshj2018-hyperprior", state)
  with pytest.raises(ic.CheckpointMismatch, match="parameters that mbt2018-mean does not have: g_a.7.weight"):
    ic.convert("mbt2018-mean", {**state, "g_a.7.weight": np.zeros(3, np.float32)})
  with pytest.raises(ic.CheckpointMismatch, match="g_a.1.beta_reparam.pedestal is"):
    ic.convert("mbt2018-mean", {**state, "g_a.1.beta_reparam.pedestal": np.array([1e-3], np.float32)})
  with pytest.raises(ic.CheckpointMismatch, match="unknown architecture"):
    ic.convert("cheng2020-anchor", state)
  junk = tmp_path / "junk.pth"
  junk.write_bytes(b"not a checkpoint")
  with pytest.raises(torch_files.TorchFileError, match="not a readable torch file"):
    ic.load("mbt2018", str(junk))
  assert cli.main(["import", "compressai", "mbt2018", str(junk), "-o", str(tmp_path / "m.jgcm")]) == 2
  assert not (tmp_path / "m.jgcm").exists()


def test_cli_imports_and_the_bundle_compresses(tmp_path):
  model = tmp_path / "mbt2018-mean.jgcm"
  assert cli.main(["import", "compressai", "mbt2018-mean", checkpoint("mbt2018-mean"), "-o", str(model)]) == 0
  assert bundles.load(str(model)).model_config["padding"] == "TORCH"
  Image.fromarray(image()[:64, :96]).save(tmp_path / "in.png")
  assert cli.main(["compress", str(tmp_path / "in.png"), "-m", str(model), "-o", str(tmp_path / "in.jgc")]) == 0
  assert cli.main(["decompress", str(tmp_path / "in.jgc"), "-m", str(model), "-o", str(tmp_path / "out.png")]) == 0
  assert (tmp_path / "out.png").stat().st_size > 0
