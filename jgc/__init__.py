"""jgc: GAN-based learned image compression in JAX/Flax, with real bitstreams.

`jgc.load(path)` opens a model bundle as a codec (`jgc.codec.model.Model`); `jgc.Error` is every
failure jgc expects (`jgc.errors`).
"""

import os
from typing import TYPE_CHECKING

from jgc.errors import Error

if TYPE_CHECKING:
  from jgc.codec.model import Model

__all__ = ["Error", "load"]
__version__ = "0.1.0"


def load(path: str | os.PathLike) -> "Model":
  """The model bundle at `path` as a codec: `compress(image) -> bytes`, `decompress(data) -> image`,
  `estimate_bpp(image)`."""
  # Imported here: `import jgc` stays light for the modules that only need its submodules.
  from jgc.codec.model import Model  # noqa: PLC0415

  return Model.load(path)
