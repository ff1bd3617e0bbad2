import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jgc import entropy
from jgc.codec import IndexedCoder, StreamError, factorized_tables, scale_tables

GAUSS = IndexedCoder(scale_tables())


def _gaussian_latent(shape, seed=0, sigma_max=20.0):
  rng = np.random.default_rng(seed)
  sigma = np.exp(rng.uniform(np.log(0.11), np.log(sigma_max), shape)).astype(np.float32)
  idx = np.asarray(entropy.scale_index(sigma))
  y = np.round(rng.normal(size=shape) * entropy.SCALE_TABLE[idx]).astype(np.int32)
  return y, idx


def _round_trip(coder, symbols, indices):
  data = coder.encode(symbols, indices)
  out = coder.decode(data, indices)
  np.testing.assert_array_equal(out, symbols)
  assert out.shape == np.shape(indices) and out.dtype == np.int32
  return data


def test_random_latent_round_trips_at_close_to_the_ideal_size():
  y, idx = _gaussian_latent((2, 16, 24, 32))
  data = _round_trip(GAUSS, y, idx)
  ideal_bytes = GAUSS.ideal_bits(y, idx) / 8
  assert len(data) <= ideal_bytes * 1.001 + 8


def test_all_zeros_round_trip_cheaply():
  idx = np.zeros((1, 8, 8, 16), np.int32)
  data = _round_trip(GAUSS, np.zeros_like(idx), idx)
  assert len(data) <= GAUSS.ideal_bits(np.zeros_like(idx), idx) / 8 + 8


def test_outliers_far_beyond_the_tails_are_coded_losslessly():
  y, idx = _gaussian_latent((1, 4, 4, 8), seed=1)
  y = y.reshape(-1)
  y[[0, 5, 17, 60]] = [10**6, -(10**6), np.iinfo(np.int32).max, np.iinfo(np.int32).min]
  _round_trip(GAUSS, y.reshape(1, 4, 4, 8), idx)


def test_every_symbol_escaping_round_trips():
  idx = np.zeros(300, np.int32)
  y = np.arange(-150, 150, dtype=np.int32) * 1000
  _round_trip(GAUSS, y, idx)


@pytest.mark.parametrize("shape", [(1,), (1, 1, 1, 1), (1, 1, 1, 220), (3, 1, 1, 2)])
def test_tiny_shapes_round_trip(shape):
  y, idx = _gaussian_latent(shape, seed=2)
  _round_trip(GAUSS, y, idx)


def test_empty_input_round_trips():
  _round_trip(GAUSS, np.zeros(0, np.int32), np.zeros(0, np.int32))


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(-(2**31), 2**31 - 1), st.integers(0, 63)),
        min_size=1,
        max_size=60,
    )
)
def test_any_int32_values_under_any_tables_round_trip(pairs):
  y = np.array([p[0] for p in pairs], np.int32)
  idx = np.array([p[1] for p in pairs], np.int32)
  _round_trip(GAUSS, y, idx)


def test_factorized_coding_with_tables_from_the_model():
  prior = entropy.FactorizedPrior(channels=6)
  v = prior.init({"params": jax.random.key(0)}, jnp.zeros((1, 1, 1, 6)), train=False)
  coder = IndexedCoder(factorized_tables(prior, v))
  z = jax.random.normal(jax.random.key(1), (2, 5, 7, 6)) * 4
  zq, _ = prior.apply(v, z, train=False)
  medians = prior.apply(v, method="medians")
  sym = np.asarray(entropy.symbols(zq, medians))
  channels = np.broadcast_to(np.arange(6), sym.shape)
  data = _round_trip(coder, sym, channels)
  assert len(data) <= coder.ideal_bits(sym, channels) / 8 * 1.001 + 8
  np.testing.assert_allclose(entropy.dequantize(coder.decode(data, channels), medians), zq, atol=1e-5)


def test_ideal_bits_agree_with_table_probabilities():
  t = scale_tables()
  idx = np.array([0, 10, 63])
  y = np.array([0, 1, -5])
  want = -sum(np.log2(t.pmf(i)[v - t.offsets[i]] / 2**t.precision) for i, v in zip(idx, y, strict=True))
  assert GAUSS.ideal_bits(y, idx) == pytest.approx(want)


def test_bad_streams_and_arguments_raise_clear_errors():
  y, idx = _gaussian_latent((1, 8, 8, 8), seed=3)
  data = GAUSS.encode(y, idx)
  with pytest.raises(StreamError, match="32-bit words"):
    GAUSS.decode(data[:-1], idx)
  with pytest.raises(ValueError, match="table indices"):
    GAUSS.encode(y, idx + 64)
  with pytest.raises(ValueError, match="symbols but"):
    GAUSS.encode(y[..., :4], idx)
  # Garbage either decodes to something (detected by the container's checks) or
  # raises StreamError; it never hangs or escapes as another exception.
  rng = np.random.default_rng(0)
  for _ in range(20):
    junk = rng.integers(0, 256, 4 * int(rng.integers(0, 40)), dtype=np.uint8).tobytes()
    try:
      out = GAUSS.decode(junk, idx)
      assert out.shape == idx.shape
    except StreamError:
      pass
