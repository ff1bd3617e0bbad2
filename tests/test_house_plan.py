"""The house plan holds: imports run one way, inference stands alone, functions are short and typed."""

import ast
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "jgc"
SOURCES = sorted(PACKAGE.rglob("*.py"))
# What the training and data packages bring in, and what a codec must not need.
TRAINING_ONLY = ("orbax", "grain", "tensorflow_datasets", "clu", "tensorflow", "tensorboardX", "optax")
MAX_FUNCTION_LINES = 60


def _imports(path: pathlib.Path) -> set[str]:
  """The modules a file imports, at any depth (a function-level import counts too)."""
  found = set()
  for node in ast.walk(ast.parse(path.read_text())):
    if isinstance(node, ast.Import):
      found.update(alias.name for alias in node.names)
    elif isinstance(node, ast.ImportFrom) and node.module:
      found.add(node.module)
      found.update(f"{node.module}.{alias.name}" for alias in node.names)
  return found


def _room(path: pathlib.Path) -> str:
  parts = path.relative_to(PACKAGE).parts
  return parts[0] if len(parts) > 1 else path.stem


@pytest.mark.parametrize("room", ["models", "entropy", "codec", "data", "eval", "io", "training"])
def test_imports_run_one_way(room):
  # models -> entropy; codec -> models, entropy; training -> models, data; nothing imports training
  # but the entry points. Only jgc/data reads TensorFlow's datasets; models, entropy and codec never
  # import TensorFlow.
  allowed = {"models": {"entropy", "models"}, "entropy": {"entropy"}, "io": {"io"},
             "codec": {"codec", "models", "entropy", "io"}, "data": {"data", "io"},
             "eval": {"eval", "models", "codec", "io"},
             "training": {"training", "models", "entropy", "data", "io", "codec"}}[room]
  allowed |= {"errors"}  # the error family, which imports nothing
  for path in SOURCES:
    if _room(path) != room:
      continue
    for name in _imports(path):
      parts = name.split(".")
      if parts[0] == "jgc" and len(parts) > 1:
        assert parts[1] in allowed, f"{path.relative_to(ROOT)} imports {name}"
      if room in ("models", "entropy", "codec"):
        assert parts[0] not in ("tensorflow", "tensorflow_datasets"), f"{path.relative_to(ROOT)} imports {name}"


def test_inference_stands_alone(tmp_path):
  # `import jgc; jgc.load(path).compress(image)` loads no training or input-pipeline library.
  script = ("import sys, numpy as np, jgc\n"
            f"m = jgc.load({str(ROOT / 'tests/data/golden/hific.jgcm')!r})\n"
            "m.decompress(m.compress(np.full((40, 56, 3), 90, np.uint8)))\n"
            f"print(sorted({{k.split('.')[0] for k in sys.modules}} & set({TRAINING_ONLY!r})))\n")
  out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path, check=True)
  assert out.stdout.strip() == "[]", out.stdout


def test_functions_are_short():
  long = []
  for path in SOURCES:
    for node in ast.walk(ast.parse(path.read_text())):
      if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
        lines = node.end_lineno - node.lineno + 1
        if lines > MAX_FUNCTION_LINES:
          long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({lines} lines)")
  assert not long, long


def _public_functions(body: list[ast.stmt], prefix: str = ""):
  for node in body:
    if isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
      yield from _public_functions(node.body, f"{node.name}.")
    elif isinstance(node, ast.FunctionDef) and not node.name.startswith("_"):
      yield prefix + node.name, node


def test_public_functions_have_type_hints():
  untyped = []
  for path in SOURCES:
    for name, node in _public_functions(ast.parse(path.read_text()).body):
      arguments = [a for a in (*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs,
                               node.args.vararg, node.args.kwarg) if a is not None and a.arg not in ("self", "cls")]
      missing = [a.arg for a in arguments if a.annotation is None]
      # Flax's `__call__` and `setup` are dunder or framework hooks; their returns vary by module.
      if node.returns is None and name.split(".")[-1] not in ("setup",):
        missing.append("return")
      if missing:
        untyped.append(f"{path.relative_to(ROOT)}:{node.lineno} {name}: {', '.join(missing)}")
  assert not untyped, untyped
