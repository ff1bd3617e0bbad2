"""HiFiC (Mentzer et al. 2020) at full size: E + G + P of about 181M parameters, D of 2.8M.

Command:  python -m jgc.main --config=configs/hific.py:lo,stage1 --workdir=/tmp/hific-lo-1
          python -m jgc.main --config=configs/hific.py:lo --workdir=/tmp/hific-lo \
              --config.init_from=/tmp/hific-lo-1
Variants: `lo`, `mi`, `hi` pick the rate target (0.14 / 0.3 / 0.45 bpp, HiFiC
          Table 1 / TFC `configs.py`); `stage1` is the MSE + LPIPS + rate stage
          with no discriminator (TFC's `mselpips`); `tiny` is a narrow model that
          trains on the CPU in seconds; `pytorch` is the PyTorch HiFiC port's
          architecture (reflection padding, gated last prior layer, images in
          [-1, 1]: its published HIFIC-low and -high), which `jgc import
          hific-pytorch` bundles have and fine-tune from with
          `--config.init_from=MODEL.jgcm` (HIFIC-med: add
          `--config.model.likelihood=logistic --config.model.signed_images=False`);
          `msillm` is NeuralCompression's HiFiCAutoencoder (MS-ILLM, NoGAN-MS: zero
          padding with PyTorch's alignment, CompressAI's factorized prior with
          filters (3, 3, 3, 3)), which `jgc import msillm` bundles have and fine-tune
          from with `--config.init_from=MODEL.jgcm`; `illm` trains the GAN stage against
          MS-ILLM's discriminator (Muckley et al. 2023; NC `projects/illm/conf`): NC's conditional
          U-Net D (`condunet_ch1025_factor8_context220`) with the OASIS loss, whose targets are the
          codes a frozen VQ-VAE gives each 8x8 patch of the real image; set
          `--config.discriminator.labeler=vqvae.jgcl`, written by `jgc import vqvae
          vqvae_xcit_p8_ch64_cb1024_h8.ckpt -o vqvae.jgcl`. D's optimizer is NC's
          (`model_adamw_disc_const`: Adam with betas (0.5, 0.9) for G and D, D at 4e-4); the rate,
          MSE and LPIPS weights stay HiFiC's, and the GAN weight HiFiC's 0.15: NC's repo leaves its
          generator weight at 1.0 against a distortion term (MSE x 255^2, no LPIPS) in other units, and
          its released runs' weights are not in it. With `tiny`, D is narrow and the labeler is
          whatever file is given (tests use a narrow one).
          Combine with commas, e.g. `mi,tiny` or `msillm,illm`.
Hardware: one V100-class GPU at batch 8 of 256x256 crops, 1M steps per stage
          (TFC README), or a TPU slice.
Target:   Kodak at HiFiC-lo 0.183 bpp, PSNR 27.6 dB, LPIPS 0.069; CLIC2020 HiFiC-lo
          0.129 bpp, FID 4.2 (TFC `models/hific/data.csv`).

Loss weights are the official code's effective ones (TFC `configs.py`):
MSE (0..255) 0.075 * 2^-5, LPIPS 1, GAN 0.15, rate 2 above the target and
2^-6 below it. The paper and the PyTorch reimplementations use 2^-4 below
the target; set `--config.loss.lambda_b=0.0625` for that.
"""

import ml_collections
from ml_collections import config_dict

from jgc.training import defaults

TARGET_BPP = {"lo": 0.14, "mi": 0.3, "hi": 0.45}
# JT `default_config.py` / NC `rate_target`: lambda_a per target.
LAMBDA_A = {"lo": 2.0, "mi": 1.0, "hi": 0.5}


def get_config(arg: str = "lo") -> ml_collections.ConfigDict:
  options = defaults.parse(arg, set(TARGET_BPP) | {"stage1", "tiny", "pytorch", "msillm", "illm"}, "hific.py",
                           (set(TARGET_BPP), {"pytorch", "msillm"}, {"stage1", "illm"}))
  rate = next((o for o in options if o in TARGET_BPP), "lo")

  config = defaults.base()
  config.model = ml_collections.ConfigDict(dict(
      name="hific",
      **defaults.TRANSFORMS,
      latent_channels=220,
      hyper_channels=320,
  ))
  config.loss.update(
      target_bpp=TARGET_BPP[rate],
      lambda_a=LAMBDA_A[rate],
      lambda_b=2.0**-6,
      warmup_steps=50_000,
      warmup_target_factor=0.20 / 0.14,
      warmup_rate_factor=0.5,
      mse_weight=0.075 * 2.0**-5,
      lpips_weight=1.0,
  )
  if "pytorch" in options:
    # Justin-Tan/high-fidelity-generative-compression: ReflectionPad2d, its density's gated last
    # layer, and `normalize_input_image` (see `jgc.codec.import_hific_pytorch`).
    config.model.update(padding="REFLECT", prior_gate_last=True, signed_images=True)
  if "msillm" in options:
    # facebookresearch/NeuralCompression's HiFiCAutoencoder: Conv2d(padding=k // 2) zeros and CompressAI's
    # EntropyBottleneck at its default filters; images in [0, 1], Gaussian y, as jgc's defaults
    # (see `jgc.codec.import_msillm`).
    config.model.update(padding="TORCH", prior_filters=(3, 3, 3, 3))
  if "stage1" not in options:
    config.discriminator = ml_collections.ConfigDict(dict(
        name="patch",
        channels=(64, 128, 256, 512),
        condition_channels=12,
    ))
    config.loss.update(gan="non_saturating", gan_weight=0.15)
  if "illm" in options:
    _illm(config)
  if "tiny" in options:
    defaults.tiny(config)
    config.model.update(defaults.TINY_TRANSFORMS, latent_channels=8, hyper_channels=8)
    if "illm" in options:
      config.discriminator.update(channels=(8, 8, 16, 16), context_channels=4, hidden_channels=8)
    elif config.discriminator is not None:
      config.discriminator.update(channels=(8, 8, 16, 16), condition_channels=4)
  return config


def _illm(config: ml_collections.ConfigDict) -> None:
  """MS-ILLM's D, OASIS loss and optimizers (NC `projects/illm/conf`: `discriminator/`, `optimizer/*disc_const`).

  D's classes are the labeler's codes plus "fake": 1025 with NC's VQ-VAE, set from the labeler file.
  """
  config.discriminator = ml_collections.ConfigDict(dict(
      name="illm",
      channels=(128, 128, 256, 256, 512, 512),
      output_factor=8,
      context_channels=16,
      hidden_channels=64,
      labeler=config_dict.placeholder(str),
  ))
  config.loss.update(gan="oasis")
  config.optim.update(lr=1e-4, discriminator_lr=4e-4, b1=0.5, b2=0.9)
