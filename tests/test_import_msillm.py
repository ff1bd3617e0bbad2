"""An imported NeuralCompression HiFiCAutoencoder (MS-ILLM, NoGAN-MS) reproduces NC's own outputs
(recorded by tests/msillm_reference.py), and its bundle codes files of the size its model estimates."""

import functools
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import skimage.data
from msillm_reference import BLOCKS, DATA, ENCODER, GENERATOR, HYPER, LATENT, image
from PIL import Image

from jgc import cli
from jgc.codec import bundle as bundles
from jgc.codec import container
from jgc.codec import import_msillm as im
from jgc.codec.compressor import Codec
from jgc.codec.import_compressai import ROUND_UP_BOUNDARIES
from jgc.entropy import DISTRIBUTIONS
from jgc.io import torch_files
from jgc.models import build_model

CHECKPOINT = os.path.join(DATA, "msillm.pt")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def relative(a, b) -> float:
  return float(np.abs(np.asarray(a, np.float64) - b).max() / np.abs(b).max())


@functools.cache
def imported() -> tuple[dict, dict]:
  return im.load(CHECKPOINT)


def forward(config: dict, params: dict, x: np.ndarray) -> tuple:
  return build_model(config).apply({"params": params}, jnp.asarray(x, jnp.float32)[None] / 255.0, train=False)


def test_widths_latents_reconstruction_and_rates_equal_ncs():
  config, params = imported()
  assert (config["encoder_channels"], config["generator_channels"]) == (list(ENCODER), list(GENERATOR))
  assert (config["latent_channels"], config["hyper_channels"], config["num_residual_blocks"]) == (LATENT, HYPER, BLOCKS)
  assert (config["padding"], config["prior_filters"]) == ("TORCH", [3, 3, 3, 3])
  ref = dict(np.load(os.path.join(DATA, "msillm.npz")))
  x_hat, aux = forward(config, params, image())
  for key, got in (("y", aux["latents"]["y"]), ("z", aux["latents"]["z"]), ("z_hat", aux["quantized"]["z"]),
                   ("mean", aux["mean"]), ("y_hat", aux["quantized"]["y"]), ("x_hat", x_hat)):
    assert relative(got, ref[key]) < 1e-5, key
  # Both bound the scales' net output at 0.11 before the likelihood.
  assert relative(np.maximum(aux["scale"], 0.11), np.maximum(ref["scale"], 0.11)) < 1e-5
  likelihoods = {"y": DISTRIBUTIONS["gaussian"](aux["quantized"]["y"], aux["mean"], aux["scale"]),
                 "z": build_model(config).apply({"params": params}, aux["quantized"]["z"],
                                                method=lambda m, z: m.hyperprior.z_prior.likelihood(z))}
  for k in ("y", "z"):
    np.testing.assert_allclose(likelihoods[k], ref[f"{k}_likelihoods"], rtol=1e-4, atol=1e-9)
    np.testing.assert_allclose(aux["bits_rounded"][k][0], ref[f"{k}_bits"], rtol=1e-4)


def test_cli_imports_and_files_are_the_estimated_size_and_decode_to_the_models_reconstruction(tmp_path):
  model = tmp_path / "msillm.jgcm"
  assert cli.main(["import", "msillm", CHECKPOINT, "-o", str(model)]) == 0
  bundle = bundles.load(str(model))
  np.testing.assert_array_equal(bundle.boundaries, ROUND_UP_BOUNDARIES)  # CompressAI's scale snapping
  codec = Codec(bundle)
  config, params = imported()
  net = build_model(config)
  # The whole 512x512 photo: at these narrow widths the coder's few bytes of flush per stream are
  # 1% of the 128x192 crop's 700 bytes, 0.1% of this one's 7500.
  photo = skimage.data.astronaut()
  _, aux = forward(config, params, photo)
  estimated = float(aux["bits_rounded"]["y"][0] + aux["bits_rounded"]["z"][0])
  data = codec.compress(photo)
  payload_bits = 8 * (len(data) - container.header_size(data, 2))
  assert abs(payload_bits - estimated) < 0.005 * estimated, (payload_bits, estimated)
  # NC's own coder (CompressAI's rANS) wrote strings of about the same size for the crop; not
  # comparable byte for byte.
  data = codec.compress(image())
  nc_bits = 8 * int(np.load(os.path.join(DATA, "msillm.npz"))["nc_bytes"])
  payload_bits = 8 * (len(data) - container.header_size(data, 2))
  assert abs(payload_bits - nc_bits) < 0.05 * nc_bits, (payload_bits, nc_bits)
  x = jnp.asarray(image(), jnp.float32)[None] / 255.0
  _, aux = net.apply({"params": params}, x, train=False)
  # The file holds y rounded around the coder's exact fixed-point means; decoded, it is the
  # model's reconstruction from those symbols.
  y, z_symbols = codec._encode(codec._variables, x)
  mean, _ = codec._side_info(np.asarray(z_symbols), y.shape[1:3])
  symbols = np.round(np.asarray(y) - mean).astype(np.int32)
  assert (symbols != np.round(np.asarray(y) - aux["mean"])).mean() < 0.01
  want = net.apply({"params": params}, symbols, mean, image().shape[:2], method="decode_latents")
  decoded = codec.decompress(data)
  assert np.abs(decoded.astype(np.int32) - np.round(np.asarray(want[0]) * 255)).max() <= 1
  Image.fromarray(image()).save(tmp_path / "in.png")
  assert cli.main(["compress", str(tmp_path / "in.png"), "-m", str(model), "-o", str(tmp_path / "in.jgc")]) == 0
  assert cli.main(["decompress", str(tmp_path / "in.jgc"), "-m", str(model), "-o", str(tmp_path / "out.png")]) == 0
  np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "out.png")), decoded)


def test_sizes_that_are_not_multiples_of_64_code_in_size_buckets_as_at_their_own_size():
  bundle = bundles.parse(im.bundle_bytes(CHECKPOINT))
  bucketed, own = Codec(bundle), Codec(bundle, bucket_px=1)
  for h, w in ((47, 59), (100, 150)):
    crop = image()[:h, :w]
    data = bucketed.compress(crop)
    assert data == own.compress(crop)
    decoded = bucketed.decompress(data)
    assert decoded.shape == crop.shape
    assert np.abs(decoded.astype(int) - own.decompress(data)).max() <= 1


def _state() -> dict[str, np.ndarray]:
  return dict(torch_files.load(CHECKPOINT))


def test_either_prior_spelling_and_filled_coder_tables_import_alike():
  config, params = imported()
  state = _state()
  assert "hyper_bottleneck._matrix0" in state  # CompressAI 1.2.4's names, as NC pins it
  newer = {k.replace("._matrix", ".matrices.").replace("._bias", ".biases.").replace("._factor", ".factors."): v
           for k, v in state.items()}
  # What `update()` leaves in the buffers (CompressAI's coder tables) is not read.
  newer.update({"hyper_bottleneck._offset": np.zeros(HYPER, np.int32),
                "hyper_bottleneck._quantized_cdf": np.ones((HYPER, 30), np.int32),
                "latent_bottleneck.scale_table": np.linspace(0.11, 256, 64, dtype=np.float32)})
  config2, params2 = im.convert(newer)
  assert config2 == config
  jax.tree.map(np.testing.assert_array_equal, params, params2)


@pytest.mark.parametrize("change, match", [
    (lambda s: s.pop("decoder.blocks.4.bias"), r"no parameter 'decoder.blocks.4.bias'"),
    (lambda s: s.pop("hyper_bottleneck._factor2"), r"no parameter 'hyper_bottleneck.factors.2'"),
    (lambda s: s.update({"decoder.noise.weight": np.zeros(3, np.float32)}), "does not have: decoder.noise.weight"),
    (lambda s: s.update({"hyper_bottleneck._factor4": np.zeros((HYPER, 1, 1), np.float32)}),
     "does not have: hyper_bottleneck.factors.4"),
    (lambda s: s.update({"decoder.blocks.4.weight": np.zeros((3, 5, 7, 7), np.float32)}),
     r"shapes do not fit NeuralCompression's HiFiCAutoencoder.*generator"),
    (lambda s: s.update({"latent_bottleneck.scale_bound": np.array([0.2], np.float32)}),
     r"latent_bottleneck.scale_bound is 0.2.*needs 0.11"),
])
def test_checkpoints_that_do_not_fit_are_refused_by_name(change, match):
  state = _state()
  change(state)
  with pytest.raises(im.CheckpointMismatch, match=match):
    im.convert(state)


def test_a_file_that_is_no_checkpoint_is_refused(tmp_path):
  junk = tmp_path / "junk.ckpt"
  junk.write_bytes(b"not a checkpoint")
  assert cli.main(["import", "msillm", str(junk), "-o", str(tmp_path / "m.jgcm")]) == 2
  assert not (tmp_path / "m.jgcm").exists()


def test_configs_msillm_builds_the_imported_architecture_so_init_from_takes_the_bundle():
  from jgc.training import defaults, loop  # noqa: PLC0415  (training's libraries, only for this test)

  bundle = bundles.parse(im.bundle_bytes(CHECKPOINT))
  widths = dict(encoder_channels=ENCODER, generator_channels=GENERATOR, latent_channels=LATENT, hyper_channels=HYPER,
                num_residual_blocks=BLOCKS)
  configs = defaults.sibling(os.path.join(ROOT, "configs", "hific.py"), "hific")

  def model(arg: str):  # noqa: ANN202
    m = configs.get_config(arg).model
    m.update(widths)
    return m

  assert loop._architecture_difference(bundle.model_config, model("msillm,tiny")) is None
  assert loop._architecture_difference(bundle.model_config, model("tiny")) == \
      "model.padding is 'TORCH' there and 'SAME' here"
  assert loop._architecture_difference(bundle.model_config, model("pytorch,tiny")) == \
      "model.padding is 'TORCH' there and 'REFLECT' here"
  # The parameters fit the config's model leaf for leaf, as `init_from` checks.
  assert bundles.param_mismatches(model("msillm,tiny").to_dict(), bundle.params) == []
