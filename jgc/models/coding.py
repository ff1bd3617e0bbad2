"""What a model declares about its coding, so that `jgc.codec` needs nothing else.

Each codable model has a `coding()` method returning a `Coding`: its streams
in file order, which entropy model codes each, and, for a stream coded under
Gaussian (or logistic) scale tables, the side-information networks that the
codec runs in exact fixed point on both sides (`jgc.codec.sideinfo`), with
where their parameters sit and how they are built. The codec reads parameters
only at these paths, so a new model plugs in here and in its own class. No
bytes and no coder here: models stay free of the codec.
"""

import dataclasses
from collections.abc import Mapping
from typing import Any

from jgc.models.transforms import FACTOR

# How the side-information networks give the conditional stream's means and scales.
SIDE_INFO = (
    "mean_and_scale",  # two nets, one for the means and one for the scales (HiFiC)
    "scale",  # one net for the scales; the means are zero (Ballé 2018)
    "split",  # one net whose output halves are means and scales (Minnen 2018, mean-scale)
    "autoregressive",  # one net, then a masked context conv and 1x1 nets, position by position (Minnen 2018)
)


@dataclasses.dataclass(frozen=True)
class SideInfoNet:
  """A `jgc.models.hyper.HyperSynthesis` at `path` in the model's parameters, its layers named
  `layers` (the transposed convs in order, then the last conv)."""

  path: tuple[str, ...]
  layers: tuple[str, ...]
  activation: str
  negative_slope: float = 0.2
  padding: str = "SAME"


@dataclasses.dataclass(frozen=True)
class ContextNets:
  """The autoregressive model's masked context conv at `conv` and its 1x1 entropy-parameter net
  at `parameters`, whose layers are named `parameter_layers` in order."""

  conv: tuple[str, ...]
  parameters: tuple[str, ...]
  parameter_layers: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class Factorized:
  """A stream coded under a `FactorizedPrior` at `path`, one table per channel, symbols
  relative to its medians."""

  path: tuple[str, ...]
  filters: tuple[int, ...] = (3, 3, 3)
  gate_last: bool = False


@dataclasses.dataclass(frozen=True)
class Coding:
  """A model's coding.

  Attributes:
    streams: stream names in file order.
    encoded: the names of what `encode_latents` returns, in its order.
    encoding: the methods `encode_latents` chains: the image to the first of `encoded`, then (if
      two) that to the rest. The codec runs the first in a size bucket and the second at the
      latent's own size: a strided "SAME" convolution's padding depends on its input's parity.
    factorized: the streams coded under a factorized prior.
    learned_pmf: a stream coded under per-channel pmfs the model computes, and the
      method that gives their log2 (GC's centres).
    conditional: the stream coded under scale tables, with side information.
    distribution: "gaussian" or "logistic", of the conditional stream.
    side_info: one of `SIDE_INFO`.
    nets: the side-information networks.
    context: for "autoregressive", the masked context conv and the 1x1 entropy-parameter net.
    synthesis_radius: how far, in latent positions, one latent's effect on the
      reconstruction reaches; tiles of a large image overlap by this much.
    analysis_radius: how far, in latent positions, the pixels one latent is computed from
      reach beyond its own; the encoder's tiles overlap by this much.
    latent_stride: pixels per latent position along each side.
    zero_padded: whether the synthesis' convolutions pad with zeros only, so that it can
      run in a size bucket with its input zeroed beyond the image (`jgc.codec.buckets`).
  """

  streams: tuple[str, ...]
  encoded: tuple[str, ...]
  synthesis_radius: int
  analysis_radius: int
  encoding: tuple[str, ...] = ("encode_latents",)
  latent_stride: int = FACTOR
  zero_padded: bool = True
  factorized: dict[str, Factorized] = dataclasses.field(default_factory=dict)
  learned_pmf: tuple[str, str] | None = None
  conditional: str | None = None
  distribution: str = "gaussian"
  side_info: str | None = None
  nets: tuple[SideInfoNet, ...] = ()
  context: ContextNets | None = None

  def __post_init__(self):
    if self.side_info is not None and self.side_info not in SIDE_INFO:
      raise ValueError(f"unknown side_info {self.side_info!r}; expected one of {SIDE_INFO}")


def params_at(params: Mapping[str, Any], path: tuple[str, ...]) -> Mapping[str, Any]:
  """The sub-tree of `params` at `path`."""
  for name in path:
    params = params[name]
  return params
