"""Ballé et al. 2018 scale hyperprior (bmshj2018-hyperprior), trained for MSE.

Command:  python -m jgc.main --config=configs/bmshj2018.py:q3 --workdir=/tmp/bmshj2018-q3
Variants: `q1`..`q8` pick CompressAI's lambda and widths (q1-5: N=128, M=192;
          q6-8: N=192, M=320; `compressai/zoo/image.py`); default q3. `tiny`
          is a narrow model that trains on the CPU in seconds.
Layers:   CompressAI's (PyTorch-aligned padding, LeakyReLU 0.01, a 4-layer
          factorized prior), so a run here and a zoo model imported with
          `jgc import compressai` are the same architecture.
Hardware: one GPU, batch 16 of 256x256 crops, 1-2M steps (CompressAI `zoo.rst`).
Target:   Kodak, CompressAI's bmshj2018-hyperprior q3: 0.320 bpp at 30.97 dB PSNR
          (`results/image/kodak/compressai-bmshj2018-hyperprior_mse_cuda.json`).
"""

import ml_collections

from jgc.models.hyperprior import COMPRESSAI_LAYERS
from jgc.training import defaults

OPTIONS = defaults.QUALITIES | {"tiny"}


def get_config(arg: str = "q3") -> ml_collections.ConfigDict:
  options = defaults.parse(arg, OPTIONS, "bmshj2018.py", (defaults.QUALITIES,))
  q = defaults.quality(options, 3)
  config = defaults.rate_distortion(defaults.base(), q)
  config.batch_size = 16
  n, m = (128, 192) if q <= 5 else (192, 320)
  config.model = ml_collections.ConfigDict(dict(name="hyperprior", prior="scale", channels=n, latent_channels=m,
                                                **COMPRESSAI_LAYERS))
  if "tiny" in options:
    defaults.tiny(config)
    config.model.update(channels=8, latent_channels=8)
  return config
