"""Minnen et al. 2018: the mean-scale hyperprior (`mean`) and the joint
autoregressive + hierarchical prior (`ar`), trained for MSE.

Command:  python -m jgc.main --config=configs/mbt2018.py:ar,q3 --workdir=/tmp/mbt2018-q3
Variants: `mean` (mbt2018-mean) or `ar` (mbt2018, with the 5x5 context model;
          default); `q1`..`q8` pick CompressAI's lambda and widths (mean: q1-4
          N=128, M=192, q5-8 N=192, M=320; ar: q1-4 N=M=192, q5-8 N=192, M=320);
          default q3. `tiny` trains on the CPU in seconds.
Layers:   CompressAI's (PyTorch-aligned padding, LeakyReLU 0.01, a 4-layer
          factorized prior), so a run here and a zoo model imported with
          `jgc import compressai` are the same architecture.
Hardware: one GPU, batch 16 of 256x256 crops, 1-2M steps (CompressAI `zoo.rst`).
Target:   Kodak, CompressAI q3: mbt2018-mean 0.307 bpp at 31.13 dB; mbt2018 0.288
          bpp at 31.36 dB (`results/image/kodak/compressai-mbt2018*_mse_cuda.json`).
"""

import ml_collections

from jgc.models.hyperprior import COMPRESSAI_LAYERS
from jgc.training import defaults

OPTIONS = defaults.QUALITIES | {"mean", "ar", "tiny"}


def get_config(arg: str = "ar,q3") -> ml_collections.ConfigDict:
  options = defaults.parse(arg, OPTIONS, "mbt2018.py", (defaults.QUALITIES, {"mean", "ar"}))
  q = defaults.quality(options, 3)
  config = defaults.rate_distortion(defaults.base(), q)
  config.batch_size = 16
  if "mean" in options:
    prior, (n, m) = "mean_scale", ((128, 192) if q <= 4 else (192, 320))
  else:
    prior, (n, m) = "autoregressive", ((192, 192) if q <= 4 else (192, 320))
  config.model = ml_collections.ConfigDict(dict(name="hyperprior", prior=prior, channels=n, latent_channels=m,
                                                **COMPRESSAI_LAYERS))
  if "tiny" in options:
    defaults.tiny(config)
    config.model.update(channels=8, latent_channels=8)
  return config
