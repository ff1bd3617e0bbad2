import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jgc.codec import CdfTables, TableError, factorized_tables, scale_tables
from jgc.codec.tables import quantize_pmf
from jgc.entropy import DISTRIBUTIONS, SCALE_TABLE, FactorizedPrior


def _assert_valid(t: CdfTables):
  for i in range(t.num_tables):
    row = t.cdf[i, : t.sizes[i] + 1].astype(np.int64)
    assert row[0] == 0 and row[-1] == 1 << t.precision
    assert np.all(np.diff(row) >= 1), f"table {i} has a zero-probability symbol"


@pytest.mark.parametrize("precision", [16, 20])
def test_quantize_pmf_sums_exactly_and_floors_at_one(precision):
  rng = np.random.default_rng(0)
  for k in (2, 3, 17, 1000):
    p = rng.dirichlet(np.full(k, 0.1))
    p[0] = 0.0
    c = quantize_pmf(p, precision)
    assert c.sum() == 1 << precision and c.min() >= 1
    np.testing.assert_allclose(c / c.sum(), p / p.sum(), atol=k / 2**precision)


def test_quantize_pmf_rejects_what_cannot_be_a_table():
  with pytest.raises(ValueError, match="does not fit"):
    quantize_pmf(np.ones(300), 8)
  with pytest.raises(ValueError, match="finite"):
    quantize_pmf(np.array([np.nan, 1.0]), 16)


@pytest.mark.parametrize("distribution", DISTRIBUTIONS)
def test_scale_tables_are_valid_and_match_the_jax_likelihood(distribution):
  t = scale_tables(distribution)
  assert t.num_tables == 64 and t.precision >= 16
  _assert_valid(t)
  for i in (0, 20, 40, 63):
    s = SCALE_TABLE[i]
    values = np.arange(t.offsets[i], t.offsets[i] + t.sizes[i] - 1)
    p_model = np.asarray(DISTRIBUTIONS[distribution](jnp.asarray(values, jnp.float32), 0.0, jnp.float32(s)))
    p_table = t.pmf(i)[:-1] / 2**t.precision
    np.testing.assert_allclose(p_table, p_model, atol=(t.sizes[i] + 1) / 2**t.precision + 1e-6)
  # Tables widen with the scale and stay symmetric.
  assert np.all(np.diff(t.sizes) >= 0)
  np.testing.assert_array_equal(t.offsets, -(t.sizes - 2) // 2)
  with pytest.raises(ValueError, match="unknown distribution 'laplace'"):
    scale_tables("laplace")


def test_tables_survive_a_round_trip_through_arrays():
  t = scale_tables()
  u = CdfTables.from_arrays({k: np.array(v) for k, v in t.to_arrays().items()})
  np.testing.assert_array_equal(t.cdf, u.cdf)
  np.testing.assert_array_equal(t.offsets, u.offsets)
  assert t.precision == u.precision


@pytest.mark.parametrize(
    "corrupt, message",
    [
        (lambda a: a.pop("sizes"), "lack"),
        (lambda a: a.__setitem__("precision", np.array(40)), "precision"),
        (lambda a: a["cdf"].__setitem__((3, 2), a["cdf"][3, 1]), "strictly increasing"),
        (lambda a: a.__setitem__("sizes", a["sizes"][:5]), "shapes disagree"),
        (lambda a: a["sizes"].__setitem__(0, 10**6), "fit"),
    ],
)
def test_corrupt_tables_are_refused_with_a_reason(corrupt, message):
  arrays = {k: np.array(v) for k, v in scale_tables().to_arrays().items()}
  corrupt(arrays)
  with pytest.raises(TableError, match=message):
    CdfTables.from_arrays(arrays)


def test_factorized_tables_follow_the_prior():
  prior = FactorizedPrior(channels=4, init_scale=3.0)
  v = prior.init({"params": jax.random.key(0)}, jnp.zeros((1, 1, 1, 4)), train=False)
  t = factorized_tables(prior, v)
  _assert_valid(t)
  assert t.num_tables == 4
  # Quantiles start at +-init_scale around a zero median.
  np.testing.assert_array_equal(t.offsets, -3)
  c = 1
  values = np.arange(t.offsets[c], t.offsets[c] + t.sizes[c] - 1, dtype=np.float32)
  x = np.zeros((1, 1, len(values), 4), np.float32)
  x[..., c] = values
  lik = np.asarray(prior.apply(v, jnp.asarray(x), method="likelihood"))[0, 0, :, c]
  np.testing.assert_allclose(t.pmf(c)[:-1] / 2**16, lik, atol=len(values) / 2**16)
  assert math.isclose(t.pmf(c).sum(), 2**16)
