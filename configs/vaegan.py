"""VAE-GAN (Larsen et al. 2016, "Autoencoding beyond pixels using a learned similarity metric") as a codec.

Command:  python -m jgc.main --config=configs/vaegan.py --workdir=/tmp/vaegan
Variants: `tiny` trains on the CPU in seconds; `pretrained` puts LPIPS's frozen
          AlexNet in front of D, so the learned similarity cannot drift.
Hardware: one GPU, batch 8 of 256x256 crops.
Target:   a lineage baseline, not a published codec: Larsen et al. report visual
          quality on CelebA 64x64 only. On Kodak expect far below HiFiC's
          realism at equal bpp.

Losses (§2.2-2.3): KL to N(0, I) (nats per pixel), D's hidden-layer squared
error as the reconstruction likelihood, and the GAN loss. Unlike the paper,
the GAN term also reaches the encoder (as in HiFiC); the rate term only
trains the factorized prior on the stopped-gradient posterior mean.
"""

import ml_collections

from jgc.training import defaults


def get_config(arg: str = "") -> ml_collections.ConfigDict:
  options = defaults.parse(arg, {"tiny", "pretrained"}, "vaegan.py")
  config = defaults.base()
  config.model = ml_collections.ConfigDict(dict(
      name="vaegan",
      **defaults.TRANSFORMS,
      latent_channels=32,
  ))
  config.discriminator = ml_collections.ConfigDict(dict(
      name="feature", channels=(64, 128, 256, 256), feature_layer=2,
      pretrained_features="pretrained" in options))
  config.loss.update(kl_weight=1.0, similarity_weight=1.0, gan="non_saturating", gan_weight=1.0)
  if "tiny" in options:
    defaults.tiny(config)
    config.model.update(defaults.TINY_TRANSFORMS, latent_channels=4)
    config.discriminator.update(channels=(8, 8, 16, 16))
  return config
