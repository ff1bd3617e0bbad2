"""Per-module output shapes and parameter counts of a config's models, on shapes only.

    python -m jgc.models.summary --config=configs/hific.py

Nothing is materialized (`jax.eval_shape`), so the full 181M-parameter HiFiC
summarizes in seconds. The last line is one JSON object.
"""

import json
from collections.abc import Mapping, Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
from absl import app, flags
from ml_collections import config_flags

from jgc.models import build_discriminator, build_model

_CONFIG = config_flags.DEFINE_config_file("config", None, "Model config file.", lock_config=True)
_CONSOLE = {"width": 140, "force_terminal": False}
_SIZE = flags.DEFINE_integer("size_px", 256, "Input height and width for the summary.")


def _count(tree: Any) -> int:
  return int(sum(x.size for x in jax.tree.leaves(tree)))


def summarize(config: ml_collections.ConfigDict, size_px: int = 256) -> tuple[str, dict]:
  """Returns the printed table and the totals of `config.model` and `config.discriminator`."""
  model = build_model(config.model)
  x = jnp.zeros((1, size_px, size_px, 3))
  rngs = {"params": jax.random.key(0), "noise": jax.random.key(1)}
  table = nn.tabulate(model, rngs, depth=2, console_kwargs=_CONSOLE)(x, train=False)
  variables = jax.eval_shape(lambda: model.init(rngs, x, train=False))
  _, aux = jax.eval_shape(lambda v: model.apply(v, x, train=False), variables)
  params = variables["params"]
  totals = {f"params_{k}": _count(v) for k, v in params.items() if isinstance(v, Mapping)}
  totals["params_autoencoder"] = _count(params)
  totals["latent_shapes"] = {k: list(v.shape) for k, v in aux["quantized"].items()}
  if config.get("discriminator") is not None:
    disc = build_discriminator(config.discriminator)
    y_hat = jnp.zeros(aux["quantized"][model.MAIN_LATENT].shape)
    d_vars = jax.eval_shape(lambda: disc.init(rngs, x, y_hat, train=False))
    table += "\n" + nn.tabulate(disc, rngs, depth=1, console_kwargs=_CONSOLE)(x, y_hat, train=False)
    totals["params_discriminator"] = _count(d_vars["params"])
  return table, totals


def main(argv: Sequence[str]) -> None:
  del argv
  table, totals = summarize(_CONFIG.value, _SIZE.value)
  print(table)
  print(json.dumps(totals))


if __name__ == "__main__":
  flags.mark_flag_as_required("config")
  app.run(main)
