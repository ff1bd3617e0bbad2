"""A training workdir's latest checkpoint as an inference bundle (`jgc export`).

It lives with the checkpoints, so that loading a bundle to code images never imports orbax or grain.
"""

import json

from jgc import errors
from jgc.codec import bundle as bundles
from jgc.io import paths
from jgc.training import checkpoints


def export(workdir: str, path: str, *, overwrite: bool = False) -> bundles.Bundle:
  """Writes the bundle of a training workdir's latest checkpoint to `path`; returns it loaded.

  Either may be a local path or a gs:// URL. An existing bundle is kept unless `overwrite`:
  the files made with it would no longer decode.
  """
  if not overwrite and paths.resolve(path).exists():
    raise errors.Exists(f"{path} exists; not overwriting it without --force")
  config_path = paths.resolve(workdir) / "config.json"
  if not config_path.exists():
    raise bundles.BundleError(f"{workdir} is not a training workdir: it has no config.json")
  text = paths.read_bytes(config_path)
  try:
    model_config = json.loads(text)["model"]
  except (ValueError, KeyError, TypeError) as e:  # not JSON, or JSON without a model block
    raise bundles.BundleError(f"{config_path} is not a jgc config: {type(e).__name__}: {e}") from None
  latest = checkpoints.latest_params(workdir)
  if latest is None:
    raise bundles.BundleError(f"{workdir} has no checkpoint to export")
  data = bundles.build(model_config, latest[1])
  paths.write_bytes(path, data, overwrite=overwrite)
  return bundles.parse(data, path)
