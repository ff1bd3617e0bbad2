"""The error family: `Error` is every failure jgc expects, with a one-line message naming the problem.

The commands report an `Error` in one line per file and go on; anything else is a bug in jgc and
surfaces with its traceback. Each subclass also derives from the built-in exception it refines, so
`except ValueError` keeps working for code written before the family existed. This module imports
nothing, so that any part of jgc can raise its errors and `import jgc` stays light.
"""


class Error(Exception):
  """A failure jgc expects: a bad or hostile file, a wrong model, a refused config, a missing input."""


class ConfigError(Error, ValueError):
  """A config, option or argument jgc refuses: an unknown name, a value out of range, a combination
  it cannot run."""


class NotFound(Error, FileNotFoundError):
  """An input that is not there: a file, a folder with no images, a workdir with no checkpoint."""


class NotInstalled(Error, ModuleNotFoundError):
  """An optional package that what was asked needs (gcsfs for gs:// paths) is not installed."""


class Exists(Error, FileExistsError):
  """An output that is already there and would be lost: written only with --force."""


class CannotRead(Error, OSError):
  """An input that is there but cannot be read (no permission, a folder where a file was given)."""


class CannotWrite(Error, OSError):
  """An output that cannot be written (a read-only folder, a full disk); nothing half-written is kept."""
