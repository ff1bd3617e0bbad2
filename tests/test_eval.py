"""Evaluation: metrics with known answers, BD-rate on a worked example, the
rate bisection, and the report end to end."""

import json
import os

import numpy as np
import pytest
from codec_helpers import bundle_bytes
from PIL import Image
from skimage import data as skdata
from skimage.metrics import structural_similarity

from jgc.eval import bdrate, classical, evaluate, metrics

PHOTO = skdata.astronaut()[100:356, 120:376]  # 256 x 256
NOISY = np.clip(PHOTO.astype(int) + np.random.default_rng(0).integers(-12, 13, PHOTO.shape), 0, 255).astype(np.uint8)


def test_psnr_of_a_known_error():
  shifted = np.clip(PHOTO.astype(int) + 5, 0, 255).astype(np.uint8)
  expected = 10 * np.log10(255**2 / np.mean((shifted.astype(float) - PHOTO) ** 2))
  assert metrics.psnr(PHOTO, shifted) == pytest.approx(expected)
  assert metrics.psnr(np.zeros((4, 4, 3), np.uint8), np.full((4, 4, 3), 5, np.uint8)) == pytest.approx(
      20 * np.log10(255 / 5))
  assert metrics.psnr(PHOTO, PHOTO) == float("inf")


def test_ms_ssim_and_lpips_on_identical_and_degraded_images():
  assert metrics.ms_ssim(PHOTO, PHOTO) == pytest.approx(1.0, abs=1e-6)
  assert metrics.lpips(PHOTO, PHOTO) < 1e-6
  assert 0.5 < metrics.ms_ssim(PHOTO, NOISY) < 0.999
  assert metrics.lpips(PHOTO, NOISY) > 0.01
  with pytest.raises(ValueError, match="at least 11x11"):
    metrics.ms_ssim(PHOTO[:8, :8], PHOTO[:8, :8])


def test_single_scale_agrees_with_scikit_image_ssim():
  small = PHOTO[:20, :40], NOISY[:20, :40]  # one scale only
  reference = np.mean([structural_similarity(small[0][..., c], small[1][..., c], gaussian_weights=True, sigma=1.5,
                                             use_sample_covariance=False, data_range=255) for c in range(3)])
  assert metrics.ms_ssim(*small) == pytest.approx(reference, abs=1e-4)


def test_bd_rate_worked_example():
  rate = np.array([0.1, 0.2, 0.4, 0.8])
  psnr = np.array([28.0, 31.0, 34.0, 37.0])
  assert bdrate.bd_rate(rate, psnr, 0.9 * rate, psnr) == pytest.approx(-10.0, abs=1e-6)
  assert bdrate.bd_rate(rate, psnr, 1.25 * rate, psnr) == pytest.approx(25.0, abs=1e-6)
  assert bdrate.rate_difference(rate, psnr, 0.18, 31.0) == pytest.approx(-10.0, abs=1e-6)
  with pytest.raises(ValueError, match="at least 4"):
    bdrate.bd_rate(rate[:3], psnr[:3], rate, psnr)
  with pytest.raises(ValueError, match="no common metric range"):
    bdrate.bd_rate(rate, psnr, rate, psnr + 20)
  with pytest.raises(ValueError, match="outside the reference"):
    bdrate.rate_difference(rate, psnr, 0.1, 50.0)


@pytest.mark.parametrize("method", bdrate.METHODS)
def test_bd_rate_methods_agree_where_both_are_exact(method):
  # log-rate linear in the metric: both the cubic fit and the pchip interpolant reproduce it, so the
  # mean log-rate difference over [28, 37] is (-0.7) + (0.12 - 0.1) * 32.5 = -0.05.
  psnr = np.array([28.0, 31.0, 34.0, 37.0])
  ref, test = np.exp(0.1 * psnr), np.exp(0.12 * psnr - 0.7)
  assert bdrate.bd_rate(ref, psnr, test, psnr, method) == pytest.approx((np.exp(-0.05) - 1) * 100, abs=1e-9)
  assert bdrate.bd_rate(ref, psnr, 0.9 * ref, psnr, method) == pytest.approx(-10.0, abs=1e-9)


def test_pchip_needs_distinct_metrics_and_methods_are_named():
  psnr = np.array([30.0, 31.0, 32.0, 33.0])
  rate = np.exp(0.1 * psnr)
  with pytest.raises(ValueError, match="distinct metric values"):
    bdrate.bd_rate(rate, np.array([30.0, 31.0, 31.0, 33.0]), rate, psnr, "pchip")
  with pytest.raises(ValueError, match="unknown BD-rate method"):
    bdrate.bd_rate(rate, psnr, rate, psnr, "linear")


@pytest.mark.parametrize("codec", [c for c, ok in classical.available().items() if ok])
def test_bisection_hits_the_target_rate(codec):
  data, quality = classical.at_bpp(codec, PHOTO, 1.0)
  assert 1 <= quality <= 100
  assert classical.bpp(data, PHOTO) == pytest.approx(1.0, rel=0.05)
  assert classical.decode(codec, data).shape == PHOTO.shape


def test_evaluate_writes_the_report(tmp_path, monkeypatch):
  # Two codecs and one missing one: every codec's own coding is tested above.
  monkeypatch.setattr(classical, "available", lambda: {"jpeg420": True, "webp": True, "avif": False})
  images = tmp_path / "images"
  images.mkdir()
  Image.fromarray(skdata.astronaut()[:256]).save(images / "a.png")  # two 256-px patches for FID/KID
  Image.fromarray(PHOTO[100:196, 50:178]).save(images / "b.jpg", quality=95)
  (images / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(20))
  model = tmp_path / "narrow.jgcm"
  model.write_bytes(bundle_bytes("mean_scale"))
  out = tmp_path / "out"
  result = evaluate.evaluate([str(model)], str(images), str(out), qualities=(50,))
  assert result["images"] == 2 and result["skipped"] == 1
  for name in ("per_image.csv", "summary.json", "rd.png", "crops.png", "report.md"):
    assert os.path.getsize(out / name) > 100, name
  codecs = [c for c, ok in classical.available().items() if ok]
  with open(out / "per_image.csv") as f:
    assert len(f.readlines()) == 1 + 2 * (1 + len(codecs) * 2)  # model, then each codec matched and at q50
  summary = json.loads((out / "summary.json").read_text())
  assert {m["codec"] for m in summary["summary"]} == {"mbt2018-mean", *codecs}
  assert all(m["bpp"] > 0 and np.isfinite(m["psnr"]) for m in summary["summary"])
  assert summary["fid_kid"] == "computed"
  assert all(m["patches"] == 2 and m["fid"] > 0 and np.isfinite(m["kid"]) for m in summary["summary"])
  report = (out / "report.md").read_text()
  assert "| mbt2018-mean |" in report and "Skipped 1 unreadable" in report and "FID/256" in report
  assert f"avif ({classical.WHY_MISSING['avif']})" in report
  assert "mbt2018-mean: " in report and "by its own estimate" in report
  empty = tmp_path / "empty"
  empty.mkdir()
  assert evaluate.main(["--model", str(model), "--images", str(empty), "--out", str(out)]) == 2


def test_bundles_of_a_family_form_one_curve_and_a_rerun_resumes(tmp_path, capsys, monkeypatch):
  # Two classical codecs are enough here; the report test runs them all.
  monkeypatch.setattr(classical, "available", lambda: {"jpeg420": True, "webp": True})
  images = tmp_path / "images"
  images.mkdir()
  for i, crop in enumerate((PHOTO[:64, :96], PHOTO[40:104, 60:156])):
    Image.fromarray(crop).save(images / f"{i}.png")
  specs = []
  for name, kind, seed in (("a", "mean_scale", 0), ("b", "mean_scale", 1), ("c", "scale", 0)):
    (tmp_path / f"{name}.jgcm").write_bytes(bundle_bytes(kind, seed))
    specs.append(str(tmp_path / f"{name}.jgcm"))
  specs[2] = f"mine={specs[2]}"
  out = tmp_path / "out"
  run = lambda: evaluate.evaluate(specs, str(images), str(out), qualities=(20, 60), realism=False,  # noqa: E731
                                  references=("compressai-mbt2018-mean",), cache_dir=str(tmp_path / "cache"))
  result = run()
  points = {(m["codec"], m["setting"]) for m in result["summary"] if not m["setting"].startswith(("q", "matched"))}
  assert {c for c, _ in points} == {"mbt2018-mean", "mine"} and len(points) == 3
  codecs = [c for c, ok in classical.available().items() if ok]
  matched = [m for m in result["summary"] if m["setting"].startswith("matched")]
  assert len(matched) == 3 * len(codecs)  # every classical codec at every model point
  pairs = {(d["model"], d["reference"]) for d in result["rate_differences"]}
  assert ("mbt2018-mean", "mine") in pairs and ("mine", "mbt2018-mean") in pairs
  assert ("mbt2018-mean", "compressai-mbt2018-mean") in pairs
  curve = json.loads((out / "compressai" / "mbt2018-mean.json").read_text())
  assert curve["name"] == "mbt2018-mean" and len(curve["results"]["bpp"]) == 2
  assert set(curve["results"]) >= {"bpp", "psnr-rgb", "ms-ssim-rgb"}
  assert curve["results"]["bpp"] == sorted(curve["results"]["bpp"])
  capsys.readouterr()
  again = run()
  assert capsys.readouterr().out.count("rows.jsonl") == 1  # image 2 reused, image 1 coded again for the crops
  assert again["summary"] == result["summary"]
  # Classical files and metrics are kept per image content, for any output folder.
  monkeypatch.setattr(classical, "encode", lambda *a: pytest.fail("a classical codec ran again"))
  monkeypatch.setattr(classical, "at_bpp", lambda *a: pytest.fail("a classical codec ran again"))
  elsewhere = evaluate.evaluate(specs, str(images), str(tmp_path / "out2"), qualities=(20, 60), realism=False,
                                cache_dir=str(tmp_path / "cache"))
  classical_rows = lambda r: [m for m in r["summary"] if m["codec"] in ("jpeg420", "webp")]  # noqa: E731
  assert classical_rows(elsewhere) == classical_rows(result)
  with pytest.raises(ValueError, match="unknown reference curves"):
    evaluate.evaluate(specs, str(images), str(out), references=("jpeg-2000",))


def test_a_rerun_with_fid_reuses_the_rows_and_inception_features_it_kept(tmp_path, capsys, monkeypatch):
  monkeypatch.setattr(classical, "available", lambda: {})
  calls = []

  class Features:  # a stand-in for Inception: per-patch colour statistics, counted
    def __call__(self, x):
      calls.append(len(x))
      x = np.asarray(x, np.float64)
      return np.concatenate([x.mean((1, 2)), x.std((1, 2)), x[:, ::64, ::64].reshape(len(x), -1)], axis=1)

  monkeypatch.setattr(evaluate.inception, "Inception", Features)
  images = tmp_path / "images"
  images.mkdir()
  for i in range(2):
    Image.fromarray(skdata.astronaut()[i * 256:i * 256 + 256, :256]).save(images / f"{i}.png")
  model = tmp_path / "m.jgcm"
  model.write_bytes(bundle_bytes("mean_scale"))
  run = lambda: evaluate.evaluate([str(model)], str(images), str(tmp_path / "out"), qualities=(50,),  # noqa: E731
                                  cache_dir=None)
  first = run()
  assert first["fid_kid"] == "computed" and len(calls) == 2
  capsys.readouterr()
  again = run()
  assert capsys.readouterr().out.count("rows.jsonl") == 1 and len(calls) == 3  # only image 1 again
  assert [m["fid"] for m in again["summary"]] == pytest.approx([m["fid"] for m in first["summary"]])


def test_msillm_reference_curves_are_accepted_by_name(monkeypatch):
  # NeuralCompression's published MS-ILLM curves (projects/illm/results.csv), on Kodak and CLIC2020.
  names = ("msillm-kodak", "msillm-clic2020")
  curves = evaluate._curves([], list(names))
  for name in names:
    assert len(curves[name]) == 6 and {"bpp", *evaluate.METRICS} <= set(curves[name][0])
    assert [m["bpp"] for m in curves[name]] == sorted(m["bpp"] for m in curves[name])
  assert "fid" in curves["msillm-clic2020"][0]
  given = {}
  monkeypatch.setattr(evaluate, "evaluate", lambda *a, **k: given.update(k))
  argv = ["--model", "m.jgcm", "--images", "imgs", "--out", "out"]
  assert evaluate.main([*argv, "--reference", names[0], "--reference", names[1]]) == 0
  assert given["references"] == names
