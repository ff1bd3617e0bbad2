"""HiFiC with a sparsity penalty on the latent: an L1 term that drives small
latent values to zero, where the mean-scale prior codes them almost for free.

Command:  python -m jgc.main --config=configs/hific_sparse.py:lo --workdir=/tmp/hific-sparse
          (stage 1 first, as for HiFiC: `:lo,stage1`, then `--config.init_from`)
Variants: as `hific.py` (`lo`, `mi`, `hi`, `stage1`, `tiny`).
Hardware: as HiFiC: one V100-class GPU at batch 8 of 256x256 crops.
Target:   HiFiC's rate and realism (Kodak HiFiC-lo 0.183 bpp, LPIPS 0.069) with a
          larger share of exactly-zero latent symbols; sweep
          `--config.loss.sparsity_weight` to trade one for the other.
"""

import ml_collections

from jgc.training import defaults


def get_config(arg: str = "lo") -> ml_collections.ConfigDict:
  config = defaults.sibling(__file__, "hific").get_config(arg)
  config.loss.sparsity_weight = 0.05
  return config
