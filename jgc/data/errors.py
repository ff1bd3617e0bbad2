"""The input pipeline's error type."""


class DataError(ValueError):
  """A dataset that cannot be used, found before training starts."""
