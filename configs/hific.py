"""HiFiC (Mentzer et al. 2020) at full size: E + G + P of about 181M parameters, D of 2.8M.

Command:  python -m jgc.main --config=configs/hific.py:lo --workdir=/tmp/hific-lo
Variants: `lo`, `mi`, `hi` pick the rate target (0.14 / 0.3 / 0.45 bpp, HiFiC
          Table 1 / TFC `configs.py`); `tiny` is a narrow model for tests and CPU runs
          (`--config=configs/hific.py:tiny`); combine with commas, e.g. `mi,tiny`.
Hardware: one V100-class GPU at batch 8 of 256x256 crops (TFC README), or a TPU slice.
Target:   Kodak at HiFiC-lo 0.183 bpp, PSNR 27.6 dB, LPIPS 0.069; CLIC2020 HiFiC-lo
          0.129 bpp, FID 4.2 (TFC `models/hific/data.csv`).
"""

import ml_collections
from ml_collections import config_dict

TARGET_BPP = {"lo": 0.14, "mi": 0.3, "hi": 0.45}


def get_config(arg: str = "lo") -> ml_collections.ConfigDict:
  options = set(filter(None, arg.split(",")))
  unknown = options - set(TARGET_BPP) - {"tiny"}
  if unknown:
    raise ValueError(f"unknown hific.py options {sorted(unknown)}; use lo, mi, hi and/or tiny")
  rate = next((o for o in options if o in TARGET_BPP), "lo")

  config = ml_collections.ConfigDict()
  config.target_bpp = TARGET_BPP[rate]
  config.crop_px = 256
  # No folder and no TFDS name: the embedded sample set (scikit-image's photos).
  config.data = ml_collections.ConfigDict(dict(
      folder=config_dict.placeholder(str),
      tfds_name=config_dict.placeholder(str),
      data_dir=config_dict.placeholder(str),
      cache_dir=config_dict.placeholder(str),
      split="train",
      image_key="image",
      num_threads=2,
      prefetch=64,
  ))
  config.model = ml_collections.ConfigDict(dict(
      name="hific",
      encoder_channels=(60, 120, 240, 480, 960),
      generator_channels=(960, 480, 240, 120, 60),
      latent_channels=220,
      hyper_channels=320,
      num_residual_blocks=9,
  ))
  config.discriminator = ml_collections.ConfigDict(dict(
      name="patch",
      channels=(64, 128, 256, 512),
      condition_channels=12,
  ))
  if "tiny" in options:
    config.crop_px = 64
    config.model.update(
        encoder_channels=(8, 8, 16, 16, 16),
        generator_channels=(16, 16, 16, 8, 8),
        latent_channels=8,
        hyper_channels=8,
        num_residual_blocks=1,
    )
    config.discriminator.update(channels=(8, 8, 16, 16), condition_channels=4)
  return config
