"""An imported checkpoint of the PyTorch HiFiC port reproduces the port's outputs
(recorded by tests/hific_pytorch_reference.py)."""

import os

import jax.numpy as jnp
import numpy as np
import pytest
from hific_pytorch_reference import BLOCKS, DATA, ENCODER, GENERATOR, HYPER, LATENT, VARIANTS, image
from PIL import Image

from jgc import cli
from jgc.codec import bundle as bundles
from jgc.codec import container
from jgc.codec import import_hific_pytorch as ih
from jgc.codec.compressor import Codec
from jgc.entropy import DISTRIBUTIONS
from jgc.io import torch_files
from jgc.models import build_model

CHECKPOINT = os.path.join(DATA, "hific.pt")


def checkpoint(variant: str) -> str:
  return os.path.join(DATA, f"{variant}.pt")


def relative(a, b) -> float:
  return float(np.abs(np.asarray(a, np.float64) - b).max() / np.abs(b).max())


@pytest.mark.parametrize("variant", VARIANTS)
def test_widths_latents_reconstruction_and_rates_equal_the_ports(variant):
  config, params = ih.load(checkpoint(variant))
  assert (config["signed_images"], config["likelihood"]) == VARIANTS[variant]
  assert (config["encoder_channels"], config["generator_channels"]) == (list(ENCODER), list(GENERATOR))
  assert (config["latent_channels"], config["hyper_channels"], config["num_residual_blocks"]) == (LATENT, HYPER, BLOCKS)
  ref = dict(np.load(os.path.join(DATA, f"{variant}.npz")))
  x = jnp.asarray(image(), jnp.float32)[None] / 255.0
  x_hat, aux = build_model(config).apply({"params": params}, x, train=False)
  for key, got in (("y", aux["latents"]["y"]), ("z", aux["latents"]["z"]), ("mean", aux["mean"]),
                   ("y_hat", aux["quantized"]["y"]), ("x_hat", x_hat)):
    assert relative(got, ref[key]) < 1e-5, key
  np.testing.assert_allclose(np.maximum(aux["scale"], 0.11), ref["scale"], rtol=1e-5)
  likelihoods = {"y": DISTRIBUTIONS[config["likelihood"]](aux["quantized"]["y"], aux["mean"], aux["scale"]),
                 "z": build_model(config).apply({"params": params}, aux["quantized"]["z"],
                                                method=lambda m, z: m.hyperprior.z_prior.likelihood(z))}
  for k in ("y", "z"):
    np.testing.assert_allclose(likelihoods[k], ref[f"{k}_likelihoods"], rtol=1e-4, atol=1e-9)
    # The port counts a likelihood p as -log2(p + 1e-9) bits; jgc as -log2(p), p >= 1e-9.
    ours = -np.log2(np.asarray(likelihoods[k], np.float64) + 1e-9).sum()
    np.testing.assert_allclose(ours, ref[f"{k}_bits"], rtol=1e-4)
    np.testing.assert_allclose(aux["bits"][k][0], -np.log2(ref[f"{k}_likelihoods"].astype(np.float64)).sum(),
                               rtol=1e-4)


@pytest.mark.parametrize("variant", VARIANTS)
def test_cli_imports_and_files_decode_to_the_models_reconstruction(tmp_path, variant):
  model = tmp_path / "hific.jgcm"
  assert cli.main(["import", "hific-pytorch", checkpoint(variant), "-o", str(model)]) == 0
  bundle = bundles.load(str(model))
  assert bundle.model_config["padding"] == "REFLECT"
  codec = Codec(bundle)
  data = codec.compress(image())
  decoded = codec.decompress(data)
  config, params = ih.load(checkpoint(variant))
  net, x = build_model(config), jnp.asarray(image(), jnp.float32)[None] / 255.0
  _, aux = net.apply({"params": params}, x, train=False)
  # The file holds y rounded around the coder's exact fixed-point means, within 1e-4 of the
  # float model's: only latents that close to a rounding boundary round the other way...
  y, z_symbols = codec._encode(codec._variables, x)
  mean, _ = codec._side_info(np.asarray(z_symbols), y.shape[1:3])
  symbols = np.round(np.asarray(y) - mean).astype(np.int32)
  assert np.abs(mean - aux["mean"]).max() < 1e-4
  assert (symbols != np.round(np.asarray(y) - aux["mean"])).mean() < 0.01
  # ...and the decoded image is the model's reconstruction from those symbols.
  want = net.apply({"params": params}, symbols, mean, image().shape[:2], method="decode_latents")
  assert np.abs(decoded.astype(np.int32) - np.round(np.asarray(want[0]) * 255)).max() <= 1
  estimated = float(aux["bits_rounded"]["y"][0] + aux["bits_rounded"]["z"][0])
  payload_bits = 8 * (len(data) - container.header_size(data, 2))
  assert abs(payload_bits - estimated) < 0.05 * estimated, (payload_bits, estimated)
  Image.fromarray(image()).save(tmp_path / "in.png")
  assert cli.main(["compress", str(tmp_path / "in.png"), "-m", str(model), "-o", str(tmp_path / "in.jgc")]) == 0
  assert cli.main(["decompress", str(tmp_path / "in.jgc"), "-m", str(model), "-o", str(tmp_path / "out.png")]) == 0
  np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "out.png")), decoded)


def test_checkpoints_that_do_not_fit_are_refused_by_name(tmp_path):
  saved = torch_files.load(CHECKPOINT)
  state = saved["model_state_dict"]
  for name in ("sample_noise", "use_latent_mixture_model"):
    with pytest.raises(ih.CheckpointMismatch, match=f"{name}=True"):
      ih.convert(state, {**saved["args"], name: True})
  assert not ih.convert(state)[0]["signed_images"]  # a bare state_dict: the port's defaults
  instance_norm = {k.replace(".2.gamma", ".2.weight"): v for k, v in state.items()}
  with pytest.raises(ih.CheckpointMismatch, match=r"no parameter 'Encoder.conv_block1.2.gamma'.*ChannelNorm"):
    ih.convert(instance_norm)
  with pytest.raises(ih.CheckpointMismatch, match="does not have: Generator.noise.weight"):
    ih.convert({**state, "Generator.noise.weight": np.zeros(3, np.float32)})
  wider = dict(state)
  wider["Generator.conv_block_out.1.weight"] = np.zeros((3, 5, 7, 7), np.float32)
  with pytest.raises(ih.CheckpointMismatch, match=r"shapes do not fit HiFiC.*generator"):
    ih.convert(wider)
  junk = tmp_path / "junk.pt"
  junk.write_bytes(b"not a checkpoint")
  assert cli.main(["import", "hific-pytorch", str(junk), "-o", str(tmp_path / "m.jgcm")]) == 2
  assert not (tmp_path / "m.jgcm").exists()
