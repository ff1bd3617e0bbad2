"""The deep factorized density ("EntropyBottleneck").

Ballé et al. 2018, "Variational image compression with a scale hyperprior",
appendix 6.1: each channel has its own non-parametric density, the derivative
of a learned monotonic CDF built from 1 -> 3 -> 3 -> 3 -> 1 affine layers with
softplus-positive matrices and tanh "gates". Learned quantiles (the median and
the two tails of mass `tail_mass / 2`) are fitted through an auxiliary loss and
tell the coder where each channel's table starts and ends (TFC
`entropy_models/continuous_batched.py`, CompressAI `EntropyBottleneck`).
"""

from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jgc.entropy.lower_bound import lower_bound
from jgc.entropy.quantize import add_uniform_noise

LIKELIHOOD_BOUND = 1e-9


class FactorizedPrior(nn.Module):
  """Per-channel learned density for the hyper-latent (or any latent).

  Attributes:
    channels: number of channels of the latent (its last axis).
    filters: widths of the hidden layers of each channel's CDF network.
    init_scale: initial spread of the density, in quantization bins.
    tail_mass: probability mass left outside the coder's table range.
  """

  channels: int
  filters: Sequence[int] = (3, 3, 3)
  init_scale: float = 10.0
  tail_mass: float = 1e-9
  # The PyTorch HiFiC port's density also gates its last layer (`HyperpriorDensity.cdf_logits`).
  gate_last: bool = False

  def setup(self):
    dims = (1, *self.filters, 1)
    # Chosen so that the initial CDF is a ramp of width about `init_scale`.
    scale = self.init_scale ** (1.0 / (len(self.filters) + 1))
    matrices, biases, factors = [], [], []
    for i in range(len(dims) - 1):
      init = float(np.log(np.expm1(1.0 / scale / dims[i + 1])))
      matrices.append(
          self.param(f"matrix_{i}", nn.initializers.constant(init), (self.channels, dims[i + 1], dims[i])))
      biases.append(
          self.param(f"bias_{i}", _uniform(-0.5, 0.5), (self.channels, dims[i + 1], 1)))
      if i < len(dims) - 2 or self.gate_last:
        factors.append(
            self.param(f"factor_{i}", nn.initializers.zeros, (self.channels, dims[i + 1], 1)))
    # Flax freezes attributes assigned in setup, so the lists are built first.
    self._matrices, self._biases, self._factors = matrices, biases, factors
    self.quantiles = self.param(
        "quantiles",
        lambda _, shape: jnp.broadcast_to(jnp.array([-self.init_scale, 0.0, self.init_scale]), shape),
        (self.channels, 3))

  def _logits_cumulative(self, x: jax.Array, *, stop_gradient: bool = False) -> jax.Array:
    """Logit of the learned CDF at channel-major points `x` of shape `(C, N)`."""
    x = x[:, None, :]
    sg = jax.lax.stop_gradient if stop_gradient else (lambda a: a)
    for i, (matrix, bias) in enumerate(zip(self._matrices, self._biases, strict=True)):
      x = jnp.matmul(jax.nn.softplus(sg(matrix)), x) + sg(bias)
      if i < len(self._factors):
        x = x + jnp.tanh(sg(self._factors[i])) * jnp.tanh(x)
    return x[:, 0, :]

  def _likelihood_channel_major(self, v: jax.Array) -> jax.Array:
    lower = self._logits_cumulative(v - 0.5)
    upper = self._logits_cumulative(v + 0.5)
    # Subtract in whichever tail the sigmoids are small, to avoid cancellation.
    sign = jax.lax.stop_gradient(-jnp.sign(lower + upper))
    p = jnp.abs(jax.nn.sigmoid(sign * upper) - jax.nn.sigmoid(sign * lower))
    return lower_bound(p, LIKELIHOOD_BOUND)

  def likelihood(self, values: jax.Array) -> jax.Array:
    """P(values) under the density convolved with U(-1/2, 1/2); channels last."""
    shape = values.shape
    cm = jnp.moveaxis(values, -1, 0).reshape(self.channels, -1)
    p = self._likelihood_channel_major(cm)
    return jnp.moveaxis(p.reshape(self.channels, *shape[:-1]), 0, -1)

  def medians(self) -> jax.Array:
    """Per-channel medians, shape `(C,)`; symbols are coded relative to them."""
    return jax.lax.stop_gradient(self.quantiles[:, 1])

  def quantize(self, values: jax.Array, *, train: bool) -> jax.Array:
    """Noisy values in training; values rounded around the medians otherwise."""
    if train:
      return add_uniform_noise(values, self.make_rng("noise"))
    medians = self.medians()
    return jnp.round(values - medians) + medians

  def __call__(self, values: jax.Array, *, train: bool) -> tuple[jax.Array, jax.Array]:
    """Returns `(quantized values, their likelihoods)`.

    In training the values carry uniform noise (rng stream "noise") and the
    quantile loss is sown into the "losses" collection; otherwise they are
    rounded around the medians, exactly what the coder transmits.
    """
    quantized = self.quantize(values, train=train)
    if train:
      # Sown, not returned, so every model's training loss picks it up without
      # plumbing; its gradient reaches only `quantiles` (TFC's aux loss).
      self.sow("losses", "quantiles", self.aux_loss())
    return quantized, self.likelihood(quantized)

  def aux_loss(self) -> jax.Array:
    """Fits the quantiles to the current density; touches only `quantiles`."""
    target = np.log(2.0 / self.tail_mass - 1.0)
    logits = self._logits_cumulative(self.quantiles, stop_gradient=True)
    return jnp.abs(logits - jnp.array([-target, 0.0, target])).sum()

  def pmf_grid(self, offsets: jax.Array) -> jax.Array:
    """Likelihoods at `median + offsets` for channel-major offsets `(C, K)`."""
    return self._likelihood_channel_major(self.medians()[:, None] + offsets)

  def tail_quantiles(self) -> jax.Array:
    """Per-channel `(lower, upper)` tail quantiles relative to the median, `(C, 2)`."""
    q = self.quantiles
    return jnp.stack([q[:, 0] - q[:, 1], q[:, 2] - q[:, 1]], axis=1)


def _uniform(low: float, high: float):
  def init(key, shape, dtype=jnp.float32):
    return jax.random.uniform(key, shape, dtype, low, high)
  return init
