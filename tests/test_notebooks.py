"""The Colab notebooks run top to bottom (on tiny settings) in CI."""

import os

import nbformat
import pytest
from nbclient import NotebookClient
from PIL import Image
from skimage import data

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def tiny_bundle(readme_bundle):
  return readme_bundle


@pytest.fixture(scope="module")
def small_images(tmp_path_factory):
  folder = tmp_path_factory.mktemp("colab-images")
  for name in ("astronaut", "coffee", "chelsea"):
    Image.fromarray(getattr(data, name)()[:128, :128]).save(folder / f"{name}.png")
  return str(folder)


@pytest.mark.parametrize("name", ["compress", "train", "rd_curves"])
def test_notebook_runs(name, tiny_bundle, small_images, monkeypatch):
  monkeypatch.setenv("JGC_BUNDLE", tiny_bundle)
  monkeypatch.setenv("JGC_IMAGES", small_images)
  monkeypatch.setenv("JGC_STEPS", "4")
  monkeypatch.setenv("JAX_PLATFORMS", "cpu")
  nb = nbformat.read(os.path.join(ROOT, "colab", f"{name}.ipynb"), as_version=4)
  resources = {"metadata": {"path": os.path.join(ROOT, "colab")}}
  NotebookClient(nb, timeout=600, kernel_name="python3", resources=resources).execute()
  outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
  assert not [o for o in outputs if o.get("output_type") == "error"]
  text = "".join(o.get("text", "") for o in outputs)
  assert "jgc from" in text
  if name == "compress":
    assert "bpp (the model estimated" in text and "PSNR" in text
  if name == "train":
    assert "trained to step 4" in text
  if name == "rd_curves":
    assert "images: 3 skipped: 0" in text
