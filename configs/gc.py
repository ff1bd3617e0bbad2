"""GC (Agustsson et al. 2019, "GANs for Extreme Learned Image Compression"), global compression.

Command:  python -m jgc.main --config=configs/gc.py:c8 --workdir=/tmp/gc-c8
Variants: `c2`, `c4`, `c8`, `c16` pick the bottleneck channels C (GC §5), with
          L=5 centres: at most C log2(5) / 256 bpp, 0.018 / 0.036 / 0.073 / 0.145
          (the learned prior codes below that); default c8. `tiny` trains on
          the CPU in seconds.
Hardware: one GPU, batch 8 of 256x256 crops (GCJT); a few hundred k steps.
Target:   Kodak at C=8, about 0.07 bpp; GC reports user-study preference over BPG
          at up to 2.5x BPG's bits ("savings up to 67%"), not PSNR, which is low
          by design.

Losses (GC §3, pix2pixHD): least-squares GAN over the three-scale D, feature
matching with weight 10, MSE with GC's lambda = 10 on [0, 1] images (10 / 255^2
in 0..255 units). pix2pixHD's VGG loss is replaced by LPIPS (AlexNet, weight 1),
whose weights ship with the package. The rate term only trains the prior over
centre indices (GC codes with a fixed-size upper bound).
"""

import ml_collections

from jgc.training import defaults

CHANNELS = {"c2": 2, "c4": 4, "c8": 8, "c16": 16}


def get_config(arg: str = "c8") -> ml_collections.ConfigDict:
  options = defaults.parse(arg, set(CHANNELS) | {"tiny"}, "gc.py", (set(CHANNELS),))
  c = next((CHANNELS[o] for o in options if o in CHANNELS), 8)
  config = defaults.base()
  config.model = ml_collections.ConfigDict(dict(
      name="gc",
      **defaults.TRANSFORMS,
      latent_channels=c,
      num_centers=5,
  ))
  config.discriminator = ml_collections.ConfigDict(dict(
      name="multiscale", channels=(64, 128, 256, 512), num_scales=3))
  config.loss.update(
      mse_weight=10.0 / 255.0**2,
      lpips_weight=1.0,
      gan="least_squares",
      gan_weight=1.0,
      feature_matching_weight=10.0,
  )
  if "tiny" in options:
    defaults.tiny(config)
    config.model.update(defaults.TINY_TRANSFORMS)
    config.discriminator.update(channels=(8, 8, 16, 16), num_scales=2)
  return config
