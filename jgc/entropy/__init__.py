"""Entropy models in pure JAX: quantization, densities and rates. No bytes here."""

from jgc.entropy.factorized import FactorizedPrior
from jgc.entropy.gaussian import (
    DISTRIBUTIONS,
    SCALE_TABLE,
    gaussian_likelihood,
    logistic_likelihood,
    scale_index,
    table_scale,
)
from jgc.entropy.lower_bound import lower_bound
from jgc.entropy.quantize import (
    add_uniform_noise,
    dequantize,
    quantize_around_mean,
    round_ste,
    symbols,
)
from jgc.entropy.rate import bits

__all__ = [
    "DISTRIBUTIONS",
    "FactorizedPrior",
    "SCALE_TABLE",
    "add_uniform_noise",
    "bits",
    "dequantize",
    "gaussian_likelihood",
    "logistic_likelihood",
    "lower_bound",
    "quantize_around_mean",
    "round_ste",
    "scale_index",
    "symbols",
    "table_scale",
]
