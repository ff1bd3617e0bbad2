import json
import subprocess
import sys

import pytest

from jgc.models import HiFiC, build_discriminator, build_model


def test_build_model_from_config_blocks():
  m = build_model({"name": "hific", "latent_channels": 8, "encoder_channels": [4, 4, 4, 4, 4]})
  assert isinstance(m, HiFiC) and m.encoder_channels == (4, 4, 4, 4, 4)
  with pytest.raises(ValueError, match="unknown model 'hifi'"):
    build_model({"name": "hifi"})
  with pytest.raises(ValueError, match="bad settings for model 'gc'"):
    build_model({"name": "gc", "hyper_channels": 3})
  with pytest.raises(ValueError, match="unknown discriminator"):
    build_discriminator({"name": None})
  # A config's discriminator block builds as it is: MS-ILLM's labeler file is the trainer's, not D's.
  d = build_discriminator({"name": "illm", "channels": [8] * 6, "labeler": None})
  assert d.channels == (8,) * 6


def test_summary_command_prints_a_table_and_a_json_line():
  out = subprocess.run(
      [sys.executable, "-m", "jgc.models.summary", "--config=configs/hific.py:tiny", "--size_px=64"],
      capture_output=True, text=True, check=True, timeout=300).stdout
  totals = json.loads(out.strip().splitlines()[-1])
  assert "HiFiC" in out and "Total Parameters" in out
  assert totals["params_autoencoder"] == sum(totals[f"params_{k}"] for k in ("encoder", "generator", "hyperprior"))
  assert 0 < totals["params_discriminator"] < totals["params_autoencoder"]
  assert totals["latent_shapes"]["y"] == [1, 4, 4, 8]
