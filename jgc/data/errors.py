"""The input pipeline's error type."""

from jgc import errors


class DataError(errors.Error, ValueError):
  """A dataset that cannot be used, found before training starts."""
