import flax
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jgc.entropy import FactorizedPrior


def _init(channels=3, **kw):
  prior = FactorizedPrior(channels=channels, **kw)
  x = jnp.zeros((1, 2, 2, channels))
  variables = prior.init({"params": jax.random.key(0)}, x, train=False)
  return prior, variables


def test_parameter_shapes_follow_filters():
  prior, v = _init(channels=5, filters=(3, 3, 3))
  p = v["params"]
  assert p["matrix_0"].shape == (5, 3, 1)
  assert p["matrix_3"].shape == (5, 1, 3)
  assert p["quantiles"].shape == (5, 3)
  assert "factor_3" not in p


def test_pmf_sums_to_one_over_a_wide_grid():
  prior, v = _init()
  grid = jnp.broadcast_to(jnp.arange(-200.0, 201.0), (3, 401))
  pmf = prior.apply(v, grid, method="pmf_grid")
  assert bool(jnp.all(pmf > 0)) and bool(jnp.all(pmf <= 1))
  np.testing.assert_allclose(pmf.sum(axis=1), 1.0, atol=1e-4)


def test_train_adds_keyed_noise_and_eval_rounds_around_the_median():
  prior, v = _init()
  x = jax.random.normal(jax.random.key(3), (2, 4, 4, 3)) * 3
  a, pa = prior.apply(v, x, train=True, rngs={"noise": jax.random.key(1)})
  b, _ = prior.apply(v, x, train=True, rngs={"noise": jax.random.key(1)})
  np.testing.assert_array_equal(a, b)
  assert float(jnp.abs(a - x).max()) <= 0.5 and float(jnp.abs(a - x).max()) > 0
  with pytest.raises(flax.errors.InvalidRngError):
    prior.apply(v, x, train=True)
  v2 = jax.tree.map(lambda t: t, v)
  v2["params"]["quantiles"] = v2["params"]["quantiles"].at[:, 1].set(0.3)
  q, pq = prior.apply(v2, x, train=False)
  np.testing.assert_allclose(q - 0.3, jnp.round(x - 0.3), atol=1e-5)
  assert pq.shape == x.shape and bool(jnp.all(pq > 0))


def test_aux_loss_fits_quantiles_and_trains_only_them():
  prior, v = _init(channels=2, tail_mass=1e-3)
  grads = jax.grad(lambda p: prior.apply({"params": p}, method="aux_loss"))(v["params"])
  for name, g in grads.items():
    assert (float(jnp.abs(g).sum()) > 0) == (name == "quantiles"), name
  opt = optax.adam(0.5)
  params = v["params"]
  state = opt.init(params)

  @jax.jit
  def step(params, state):
    loss, g = jax.value_and_grad(lambda p: prior.apply({"params": p}, method="aux_loss"))(params)
    updates, state = opt.update(g, state)
    return optax.apply_updates(params, updates), state, loss

  first = None
  for _ in range(400):
    params, state, loss = step(params, state)
    first = loss if first is None else first
  assert float(loss) < 0.01 * float(first)
  # The lower quantile must sit where the density's CDF crosses tail_mass / 2:
  # bracketed by the mass of the integer bins just below and just above it.
  q = np.asarray(params["quantiles"])
  offsets = jnp.broadcast_to(jnp.arange(-400.0, 401.0), (2, 801))
  pmf = np.asarray(prior.apply({"params": params}, offsets, method="pmf_grid"))
  for c in range(2):
    k = int(np.floor(q[c, 0] - q[c, 1] - 0.5)) + 400
    assert pmf[c, : k + 1].sum() <= 5e-4 <= pmf[c, : k + 2].sum()
  assert np.all(q[:, 0] < q[:, 1]) and np.all(q[:, 1] < q[:, 2])


def test_gradients_are_finite_for_extreme_inputs():
  prior, v = _init()
  x = jnp.array([0.0, 1e4, -1e4, 3.3]).reshape(1, 1, 4, 1) * jnp.ones((1, 1, 1, 3))
  def loss(p, x):
    _, lik = prior.apply({"params": p}, x, train=True, rngs={"noise": jax.random.key(0)})
    return -jnp.log2(lik).sum()
  gp, gx = jax.grad(loss, argnums=(0, 1))(v["params"], x)
  assert all(bool(jnp.all(jnp.isfinite(g))) for g in jax.tree.leaves(gp))
  assert bool(jnp.all(jnp.isfinite(gx)))
