"""MS-ILLM's discriminator, its VQ-VAE labeler (`jgc import vqvae`) and the OASIS losses reproduce
NeuralCompression's own outputs at narrow widths (recorded by tests/illm_reference.py); the importer
refuses what does not fit. Training with them: test_train's fine-tuning of an imported MS-ILLM model."""

import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from illm_reference import CODEBOOK, CONTEXT, DATA, LABELER, UNET, images

from jgc import cli
from jgc.codec import import_vqvae, labeler
from jgc.codec.torch_import import conv_kernel
from jgc.io import torch_files
from jgc.models.illm import ConditionalUnetDiscriminator
from jgc.training import losses

CHECKPOINT = os.path.join(DATA, "vqvae.ckpt")


def relative(a, b) -> float:
  return float(np.abs(np.asarray(a, np.float64) - b).max() / np.abs(b).max())


def reference() -> dict:
  return dict(np.load(os.path.join(DATA, "illm.npz")))


def _disc_params(state: dict) -> dict:
  """NC's ConditionalUnetDiscriminator state_dict in `ConditionalUnetDiscriminator`'s layout: level i of
  NC's nested `_UnetLevel`s is `model.0` followed by i `.child`; its left block's convs are 2 and 5,
  its right block's 3 and 6."""
  conv = lambda key: {"kernel": conv_kernel(state[f"{key}.weight"]), "bias": state[f"{key}.bias"]}  # noqa: E731
  params = {"context": conv("input_sequence.0"), "head": conv("_unet.model.1")}
  for i in range(len(UNET) - 1):
    level = "_unet.model.0" + ".child" * i
    params[f"down_{i}"] = {"conv_0": conv(f"{level}.left_block.2"), "conv_1": conv(f"{level}.left_block.5")}
    if f"{level}.left_shortcut.0.weight" in state:
      params[f"down_{i}"]["shortcut"] = conv(f"{level}.left_shortcut.0")
    if f"{level}.right_block.3.weight" in state:
      params[f"up_{i}"] = {"conv_0": conv(f"{level}.right_block.3"), "conv_1": conv(f"{level}.right_block.6")}
      if f"{level}.right_shortcut.0.weight" in state:
        params[f"up_{i}"]["shortcut"] = conv(f"{level}.right_shortcut.0")
  return params


def test_labels_equal_ncs_but_at_ties():
  config, params = import_vqvae.load(CHECKPOINT)
  assert config == {"channels": LABELER["ch"], "channel_multipliers": LABELER["ch_mult"], "num_res_blocks": 2,
                    "attention_levels": [2, 3], "embed_channels": LABELER["embed_dim"], "code_channels": 4,
                    "codebook_size": CODEBOOK}
  ref = reference()
  real, _ = images()
  got = np.asarray(labeler.module(config).apply({"params": params}, jnp.asarray(real)))
  differ = got != ref["labels"]
  assert differ.mean() <= 0.02, differ.mean()
  # Where the labels differ, NC's distances to both codes are equal to float rounding.
  d = ref["distances"]
  gap = np.take_along_axis(d, got[..., None], -1) - np.take_along_axis(d, ref["labels"][..., None], -1)
  assert np.all(np.abs(gap[differ]) < 1e-5), gap[differ]


def test_discriminator_logits_and_oasis_losses_equal_ncs():
  ref = reference()
  real, fake = images()
  disc = ConditionalUnetDiscriminator(channels=tuple(UNET[1:]), output_channels=CODEBOOK + 1, output_factor=8,
                                      context_channels=CONTEXT)
  variables = {"params": _disc_params(dict(torch_files.load(os.path.join(DATA, "discriminator.pt"))))}
  context = jnp.asarray(ref["context"])
  (real_logits,), _ = disc.apply(variables, jnp.asarray(real), context, train=False)
  (fake_logits,), _ = disc.apply(variables, jnp.asarray(fake), context, train=False)
  assert relative(real_logits, ref["real_logits"]) < 1e-5
  assert relative(fake_logits, ref["fake_logits"]) < 1e-5
  labels = jnp.asarray(ref["labels"], jnp.int32)
  d_loss = losses.discriminator_loss([real_logits], [fake_logits], "oasis", labels)
  g_loss = losses.generator_loss([fake_logits], "oasis", labels)
  assert relative(d_loss, ref["d_loss"]) < 1e-5
  assert relative(g_loss, ref["g_loss"]) < 1e-5


def test_the_oasis_loss_needs_labels():
  logits = [jnp.zeros((1, 2, 2, 3))]
  with pytest.raises(losses.errors.ConfigError, match="needs labels"):
    losses.generator_loss(logits, "oasis")


def test_cli_writes_a_labeler_file_and_keeps_it_without_force(tmp_path, capsys):
  out = tmp_path / "vqvae.jgcl"
  assert cli.main(["import", "vqvae", CHECKPOINT, "-o", str(out)]) == 0
  loaded = labeler.load(str(out))
  config, params = import_vqvae.load(CHECKPOINT)
  assert loaded.config == config
  jax.tree.map(np.testing.assert_array_equal, loaded.params, params)
  assert cli.main(["import", "vqvae", CHECKPOINT, "-o", str(out)]) == 2
  assert "exists" in capsys.readouterr().err
  assert cli.main(["import", "vqvae", CHECKPOINT, "-o", str(out), "--force"]) == 0


def _state() -> dict[str, np.ndarray]:
  return {k: np.asarray(v) for k, v in torch_files.load(CHECKPOINT).items()}


@pytest.mark.parametrize("change, match", [
    (lambda s: s.pop("encoder.mid.1.xca.qkv.bias"), r"no parameter 'encoder.mid.1.xca.qkv.bias'"),
    (lambda s: s.pop("bottleneck_op.child.child.codebooks.0"), r"no parameter 'bottleneck_op.child.child.codebooks.0'"),
    (lambda s: s.update({"encoder.extra.weight": np.zeros(3, np.float32)}), "does not have: encoder.extra.weight"),
    (lambda s: s.update({"encoder.conv_out.weight": np.zeros((8, 5, 3, 3), np.float32)}),
     r"shapes do not fit NeuralCompression's VqVaeXCiTAutoencoder's encoder.*conv_out"),
    (lambda s: s.update({"encoder.mid.1.xca.temperature": np.ones((2, 1, 1), np.float32)}),
     r"shapes do not fit.*temperature"),
])
def test_checkpoints_that_do_not_fit_are_refused_by_name(change, match):
  state = _state()
  change(state)
  with pytest.raises(import_vqvae.CheckpointMismatch, match=match):
    import_vqvae.convert(state, "vqvae.ckpt")


def test_a_hific_checkpoint_or_a_file_that_is_no_checkpoint_is_refused_naming_it(tmp_path, capsys):
  msillm = os.path.join(os.path.dirname(DATA), "msillm", "msillm.pt")
  assert cli.main(["import", "vqvae", msillm, "-o", str(tmp_path / "a.jgcl")]) == 2
  assert f"{msillm}: no parameter 'encoder.conv_in.weight'" in capsys.readouterr().err
  junk = tmp_path / "junk.ckpt"
  junk.write_bytes(b"not a checkpoint")
  assert cli.main(["import", "vqvae", str(junk), "-o", str(tmp_path / "b.jgcl")]) == 2
  assert str(junk) in capsys.readouterr().err
  assert not (tmp_path / "a.jgcl").exists() and not (tmp_path / "b.jgcl").exists()


def test_damaged_or_foreign_labeler_files_are_refused_naming_the_file(tmp_path):
  good = import_vqvae.labeler_bytes(CHECKPOINT)
  for name, data, match in (("foreign", b"JGCMODEL" + good[8:], "not a jgc labeler file"),
                            ("cut", good[: len(good) // 2], "corrupt labeler file")):
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(labeler.LabelerError, match=f"{path}.*{match}"):
      labeler.load(str(path))
  config, params = import_vqvae.load(CHECKPOINT)
  params["codebook"] = params["codebook"][:3]
  with pytest.raises(labeler.LabelerError, match=r"do not fit its labeler: \['codebook'\] is \(3, 4\)"):
    labeler.parse(labeler.build(config, params), "small")


def _illm_config(tmp_path, **overrides):  # noqa: ANN202
  from jgc.training import defaults  # noqa: PLC0415  (training's libraries, only for these tests)

  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  c = defaults.sibling(os.path.join(root, "configs", "hific.py"), "hific").get_config("illm,tiny")
  c.update(overrides)
  return c


def test_the_illm_config_names_a_missing_or_unfit_labeler(tmp_path):
  from jgc import errors  # noqa: PLC0415
  from jgc.training import loop  # noqa: PLC0415

  c = _illm_config(tmp_path)
  with pytest.raises(errors.ConfigError, match="discriminator.labeler is not set"):
    loop.build_trainer(c)
  c.discriminator.labeler = str(tmp_path / "absent.jgcl")
  with pytest.raises(errors.NotFound, match=r"discriminator.labeler: no file .*absent.jgcl"):
    loop.build_trainer(c)
  c.discriminator.labeler = str(tmp_path / "vqvae.jgcl")
  (tmp_path / "vqvae.jgcl").write_bytes(import_vqvae.labeler_bytes(CHECKPOINT))
  c.discriminator.output_channels = 1025
  with pytest.raises(errors.ConfigError, match=r"classes and output factor are \(1025, 8\).*needs \(17, 8\)"):
    loop.build_trainer(c)
