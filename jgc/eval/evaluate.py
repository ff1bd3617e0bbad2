"""Rate-distortion evaluation of model bundles against classical codecs and published results.

    python -m jgc.evaluate --model q1.jgcm --model q2.jgcm ... --images ../shared/data/kodak --out /tmp/eval

Bundles of one family (the same model and prior: hific, bmshj2018, mbt2018-mean,
mbt2018, gc, vaegan; or `--model LABEL=PATH`) form one curve, a point per
bundle. Each image is compressed to a real file with each bundle; the
classical codecs that can run here (JPEG 4:2:0 and 4:4:4, WebP, AVIF, JPEG XL,
HEVC intra; `jgc.eval.classical`) run at every model point's rate (quality by
bisection) and at a sweep of qualities for their curves. FID/256 and KID/256
(HiFiC's patch method, `jgc.eval.fid`) are computed over the whole set when
the Inception weights are installed (`--no-fid` skips them). BD-rate
(`jgc.eval.bdrate`, cubic and pchip) compares every learned curve with JPEG,
WebP, AVIF and HEVC and with the other learned curves, for PSNR, MS-SSIM and
LPIPS. `--reference` draws published curves (`jgc/eval/references.json`:
HiFiC's, CompressAI's zoo's, MS-ILLM's) on the same panels.

Classical codecs' files and metrics are kept across runs (`--cache-dir`).
Writes `rows.jsonl` and, for FID, `features/IMAGE.npz` after every image (a
rerun with the same bundles and qualities skips the images they hold), then `per_image.csv`,
`summary.json`, `compressai/*.json` (one file per curve in CompressAI's
results format), `rd.png`, `crops.png` and `report.md`.
"""

import argparse
import csv
import hashlib
import io
import json
import sys
import time
from collections.abc import Callable

import numpy as np
import PIL
from etils import epath

from jgc import errors
from jgc.codec import bundle as bundles
from jgc.codec.compressor import Codec
from jgc.eval import bdrate, classical, fid, inception, metrics
from jgc.io import image_files, paths

QUALITIES = (5, 15, 30, 50, 70, 90)
METRICS = ("psnr", "ms_ssim", "lpips")
CROP_PX = 256
BD_REFERENCES = ("jpeg420", "webp", "avif", "hevc")
REFERENCES = json.loads((epath.Path(__file__).parent / "references.json").read_text())
# The usual names of the hyperprior models, by how their side information gives y's means and scales.
_FAMILIES = {"scale": "bmshj2018", "split": "mbt2018-mean", "autoregressive": "mbt2018"}


def family(bundle: bundles.Bundle) -> str:
  """The curve a bundle belongs to: the usual name of its kind of hyperprior model, else its model's name."""
  return _FAMILIES.get(bundle.coding.side_info, bundle.name)


def _models(specs: list[str]) -> dict[tuple[str, str], Codec]:
  """`{(curve, point): codec}` from `PATH` or `LABEL=PATH` arguments; a bundle given twice counts once."""
  models = {}
  for spec in specs:
    label, _, path = spec.rpartition("=") if "=" in spec.split("/")[0] else ("", "", spec)
    codec = Codec(bundles.load(path))
    models.setdefault((label or family(codec.bundle), codec.bundle.model_id.hex()[:8]), codec)
  return models


def _images(folder: str) -> tuple[list[tuple[str, np.ndarray]], list[str]]:
  root = paths.resolve(folder)
  if not root.is_dir():
    raise errors.NotFound(f"{folder}: no such folder")
  images, skipped = [], []
  for name in sorted(p.name for p in root.iterdir()):
    if name.lower().endswith(image_files.EXTENSIONS):
      try:
        images.append((name, image_files.read(root / name)[0]))
      except errors.Error as e:  # not an image, or not readable
        skipped.append(str(e))
        print(f"skipping {e}", file=sys.stderr)
  if not images:
    raise errors.NotFound(f"{folder}: no readable images" + (f" ({len(skipped)} skipped)" if skipped else ""))
  return images, skipped


def _quality(image: np.ndarray, decoded: np.ndarray) -> dict[str, float]:
  return {"psnr": metrics.psnr(image, decoded), "ms_ssim": metrics.ms_ssim(image, decoded),
          "lpips": metrics.lpips(image, decoded)}


def _model_row(codec: Codec, label: str, point: str, name: str, image: np.ndarray) -> tuple[dict, np.ndarray]:
  t = time.perf_counter()
  data = codec.compress(image)
  encode_s = time.perf_counter() - t
  t = time.perf_counter()
  decoded = codec.decompress(data)
  decode_s = time.perf_counter() - t
  pixels = image.shape[0] * image.shape[1]
  row = {"image": name, "codec": label, "setting": point, "bpp": 8 * len(data) / pixels,
         "bpp_estimate": codec.estimate_bits(image) / pixels, **_quality(image, decoded),
         "encode_s": encode_s, "decode_s": decode_s}
  return row, decoded


class _ClassicalCache:
  """Classical codecs' files and their metrics, per image content, kept across runs and output folders.

  Keyed by the image's pixels, the codec, and the quality or target rate, under a folder named for the
  Pillow version (whose libraries encode all but HEVC); `root=None` keeps nothing.
  """

  def __init__(self, root: str | None):
    self._root = None if root is None else paths.resolve(root) / f"pillow-{PIL.__version__}"

  def row(self, name: str, codec: str, key: str, setting: Callable[[int], str], image: np.ndarray,
          make: Callable[[], tuple[bytes, int]]) -> tuple[dict, np.ndarray]:
    """The row of `codec` at `key` ("q50", or "@0.312345" for a target rate), named `setting(quality)`;
    `make()` -> `(data, quality)`."""
    stem = None
    if self._root is not None:
      digest = hashlib.sha256(np.ascontiguousarray(image).tobytes() + str(image.shape).encode()).hexdigest()[:32]
      stem = self._root / digest / f"{codec}{key}"
      meta, data = stem.with_suffix(".json"), stem.with_suffix(".bin")
      if meta.exists() and data.exists():
        cached = json.loads(meta.read_text())
        q = cached.pop("q")
        return _classical_row(name, codec, setting(q), image, data.read_bytes(), cached)
    data, q = make()
    row, decoded = _classical_row(name, codec, setting(q), image, data)
    if stem is not None:
      paths.write_bytes(stem.with_suffix(".bin"), data)
      paths.write_bytes(stem.with_suffix(".json"), json.dumps({"q": q, **{m: row[m] for m in METRICS}}).encode())
    return row, decoded


def _classical_row(name: str, codec: str, setting: str, image: np.ndarray, data: bytes,
                   quality: dict | None = None) -> tuple[dict, np.ndarray]:
  decoded = classical.decode(codec, data)
  return ({"image": name, "codec": codec, "setting": setting, "bpp": classical.bpp(data, image),
           "bpp_estimate": None, **(quality or _quality(image, decoded)), "encode_s": None, "decode_s": None},
          decoded)


def _group(row: dict) -> tuple[str, str]:
  """Rows at the same setting on every image: bisected qualities differ per image, so "(q..)" is dropped."""
  return row["codec"], row["setting"].split(" (")[0]


def _means(rows: list[dict]) -> list[dict]:
  groups: dict[tuple[str, str], list[dict]] = {}
  for r in rows:
    groups.setdefault(_group(r), []).append(r)
  out = []
  for (codec, setting), rs in groups.items():
    mean = {k: float(np.mean([r[k] for r in rs])) for k in ("bpp", *METRICS)}
    if rs[0]["bpp_estimate"] is not None:
      mean["bpp_estimate"] = float(np.mean([r["bpp_estimate"] for r in rs]))
    out.append({"codec": codec, "setting": setting, "images": len(rs), **mean})
  return out


class _Realism:
  """Inception features of every 256-px patch, of the originals and of each group's decoded images."""

  def __init__(self, net: inception.Inception):
    self.net = net
    self.real: list[np.ndarray] = []
    self.fake: dict[tuple[str, str], list[np.ndarray]] = {}

  def add(self, image: np.ndarray, decoded: dict[tuple[str, str], np.ndarray]) -> dict[str, np.ndarray]:
    """Adds one image's features; returns them, keyed "real" and "codec|setting", for `add_features`."""
    groups = [fid.patches(image)] + [fid.patches(d) for d in decoded.values()]
    if not len(groups[0]):
      return {}
    features = np.split(self.net(np.concatenate(groups)), np.cumsum([len(g) for g in groups])[:-1])
    kept = {"real": features[0], **{"|".join(key): f for key, f in zip(decoded, features[1:], strict=True)}}
    self.add_features(kept)
    return kept

  def add_features(self, features: dict[str, np.ndarray]) -> None:
    if "real" not in features:
      return
    self.real.append(features["real"])
    for key, f in features.items():
      if key != "real":
        self.fake.setdefault(tuple(key.split("|", 1)), []).append(f)

  def scores(self, summary: list[dict]) -> str | None:
    """Adds fid, kid and patches to each summary row; returns why not, when it cannot."""
    real = np.concatenate(self.real) if self.real else np.zeros((0, inception.FEATURES))
    if len(real) < 2:
      return f"FID/KID need at least 2 patches of {fid.PATCH_PX} px; this set has {len(real)}"
    for m in summary:
      fake = np.concatenate(self.fake[(m["codec"], m["setting"])])
      m.update(fid=fid.fid(real, fake), kid=fid.kid(real, fake), patches=len(fake))
    return None


def _curves(summary: list[dict], names: list[str]) -> dict[str, list[dict]]:
  """Each named curve's points by rate: a learned family's bundles, a classical sweep, or a published curve."""
  curves = {}
  for name in names:
    if name in REFERENCES:
      results = REFERENCES[name]["results"]
      points = [dict(zip(results, values, strict=True)) for values in zip(*results.values(), strict=True)]
    else:
      points = [m for m in summary if m["codec"] == name and not m["setting"].startswith("matched")]
    curves[name] = sorted(points, key=lambda m: m["bpp"])
  return curves


def _rate_differences(summary: list[dict], learned: list[str], references: list[str]) -> list[dict]:
  """Each learned curve's rate against every other curve at equal quality, per metric: BD-rate (cubic and
  pchip) where both have 4 or more points, else the mean rate difference of its points to the other's fit."""
  curves = _curves(summary, list(dict.fromkeys(learned + references)))
  table = []
  for label in learned:
    points = curves[label]
    for ref in (r for r in dict.fromkeys(references + learned) if r != label):
      row = {"model": label, "reference": ref}
      for metric in METRICS:
        curve = [m for m in curves[ref] if metric in m]
        sign = -1 if metric == "lpips" else 1  # BD-rate wants "higher is better"
        ref_rate, ref_metric = [m["bpp"] for m in curve], [sign * m[metric] for m in curve]
        rate, quality = [m["bpp"] for m in points], [sign * m[metric] for m in points]
        try:
          if len(points) >= 4 and len(curve) >= 4:
            row[metric] = bdrate.bd_rate(ref_rate, ref_metric, rate, quality)
            row[f"{metric}_pchip"] = bdrate.bd_rate(ref_rate, ref_metric, rate, quality, "pchip")
          else:
            row[metric] = float(np.mean([bdrate.rate_difference(ref_rate, ref_metric, r, q)
                                         for r, q in zip(rate, quality, strict=True)]))
        except bdrate.Incomparable as e:
          row[metric] = None
          row[f"{metric}_why"] = str(e)
      table.append(row)
  return table


def _compressai_results(out: epath.Path, summary: list[dict], names: list[str], description: str) -> None:
  """One file per curve in CompressAI's results format (its plot tool reads them)."""
  keys = {"bpp": "bpp", "psnr": "psnr-rgb", "ms_ssim": "ms-ssim-rgb", "lpips": "lpips", "fid": "fid", "kid": "kid"}
  for name, points in _curves(summary, names).items():
    results = {theirs: [m[ours] for m in points] for ours, theirs in keys.items() if points and ours in points[0]}
    data = {"name": name, "description": description, "results": results}
    paths.write_bytes(out / "compressai" / f"{name}.json", json.dumps(data, indent=2).encode())


def _plots(out: epath.Path, summary: list[dict], crops: list[tuple[str, np.ndarray]], panels: tuple[str, ...],
           references: list[str]) -> None:
  import matplotlib  # noqa: PLC0415  (headless backend before pyplot)
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # noqa: PLC0415

  fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 4))
  for ax, metric in zip(axes, panels, strict=True):
    for codec in dict.fromkeys(m["codec"] for m in summary):
      pts = sorted((m for m in summary if m["codec"] == codec and not m["setting"].startswith("matched")),
                   key=lambda m: m["bpp"])
      ax.plot([m["bpp"] for m in pts], [m[metric] for m in pts], "o-" if len(pts) > 1 else "*",
              label=codec, markersize=4 if len(pts) > 1 else 12)
    for name, pts in _curves(summary, references).items():
      if metric in pts[0]:
        ax.plot([m["bpp"] for m in pts], [m[metric] for m in pts], "x--", label=f"{name} (published)", markersize=5)
    ax.set_xlabel("bpp (real files)")
    ax.set_ylabel("FID/256" if metric == "fid" else metric.upper().replace("_", "-"))
    ax.grid(alpha=0.3)
  axes[0].legend()
  fig.tight_layout()
  _save(fig, out / "rd.png")

  fig, axes = plt.subplots(1, len(crops), figsize=(3 * len(crops), 3.3))
  for ax, (title, crop) in zip(axes, crops, strict=True):
    ax.imshow(crop)
    ax.set_title(title, fontsize=8)
    ax.axis("off")
  fig.tight_layout()
  _save(fig, out / "crops.png")


def _save(fig, path: epath.Path) -> None:
  import matplotlib.pyplot as plt  # noqa: PLC0415

  buf = io.BytesIO()
  fig.savefig(buf, format="png", dpi=120)
  plt.close(fig)
  paths.write_bytes(path, buf.getvalue())


def _crop(image: np.ndarray) -> np.ndarray:
  h, w = image.shape[:2]
  top, left = max(0, (h - CROP_PX) // 2), max(0, (w - CROP_PX) // 2)
  return image[top : top + CROP_PX, left : left + CROP_PX]


def _report(out: epath.Path, summary: list[dict], differences: list[dict], skipped: list[str], codecs: dict,
            no_fid: str | None) -> str:
  realism = no_fid is None
  lines = ["# Rate-distortion report", "",
           "bpp from the real files. Classical codecs: "
           + ", ".join(f"{k} ({'yes' if v else classical.WHY_MISSING[k]})" for k, v in codecs.items()) + ".", ""]
  if realism:
    lines += [f"FID/256 and KID/256 over {summary[0]['patches']} patches of {fid.PATCH_PX} px per setting "
              "(HiFiC's method: the grid, and the grid shifted by half a patch). Few patches bias both upward, "
              "FID much more: compare settings with each other, not with numbers from other sets.", ""]
  else:
    lines += [f"FID/KID not computed: {no_fid}.", ""]
  lines += ["## Means", "", "| codec | setting | images | bpp | PSNR (dB) | MS-SSIM | LPIPS |"
            + (" FID/256 | KID/256 |" if realism else ""),
            "|---|---|---|---|---|---|---|" + ("---|---|" if realism else "")]
  for m in summary:
    realism_cells = f" {m['fid']:.2f} | {m['kid']:.4f} |" if realism else ""
    lines.append(f"| {m['codec']} | {m['setting']} | {m['images']} | {m['bpp']:.4f} | {m['psnr']:.2f} | "
                 f"{m['ms_ssim']:.4f} | {m['lpips']:.4f} |" + realism_cells)
  lines += [""] + [f"{m['codec']}: {m['bpp']:.4f} bpp in its files, {m['bpp_estimate']:.4f} bpp by its own estimate."
                   for m in summary if "bpp_estimate" in m]
  lines += ["", "## Rate difference at equal quality (negative: fewer bits than the reference)", "",
            "BD-rate (Bjontegaard; cubic fit / pchip) where both curves have 4 or more points; otherwise the "
            "rate difference at each model point against the reference's fitted curve, averaged.", "",
            "| model | reference | PSNR | MS-SSIM | LPIPS |", "|---|---|---|---|---|"]

  def cell(d: dict, m: str) -> str:
    if d.get(m) is None:
      return "n/a"
    return f"{d[m]:+.1f}%" + (f" / {d[m + '_pchip']:+.1f}%" if d.get(m + "_pchip") is not None else "")

  for d in differences:
    cells = [cell(d, m) for m in METRICS]
    lines.append(f"| {d['model']} | {d['reference']} | " + " | ".join(cells) + " |")
  lines += ["", "![rate-distortion](rd.png)", "", "![crops](crops.png)", ""]
  if skipped:
    lines += [f"Skipped {len(skipped)} unreadable images: " + "; ".join(skipped), ""]
  text = "\n".join(lines)
  paths.write_bytes(out / "report.md", text.encode())
  return text


def _expected(models: dict[tuple[str, str], Codec], classical_names: list[str],
              qualities: tuple[int, ...]) -> set[tuple[str, str]]:
  """The row groups an image gets: every model point, each classical codec matched to each point, the sweeps."""
  groups = set(models)
  for label, point in models:
    groups |= {(c, f"matched {label} {point}") for c in classical_names}
  return groups | {(c, f"q{q}") for c in classical_names for q in qualities}


def _done_rows(out: epath.Path, expected: set[tuple[str, str]]) -> dict[str, list[dict]]:
  """Rows of `out/rows.jsonl` per image, for the images that have every expected group."""
  path = out / "rows.jsonl"
  if not path.exists():
    return {}
  per_image: dict[str, list[dict]] = {}
  for line in path.read_text().splitlines():
    row = json.loads(line)
    per_image.setdefault(row["image"], []).append(row)
  return {name: [r for r in rows if _group(r) in expected] for name, rows in per_image.items()
          if expected <= {_group(r) for r in rows}}


def evaluate(model_specs: list[str], folder: str, out: str, qualities: tuple[int, ...] = QUALITIES,
             realism: bool = True, references: tuple[str, ...] = (), cache_dir: str | None = None) -> dict:
  """Runs the evaluation and writes its files to `out` (a local folder or gs:// URL); returns the summary.

  `model_specs`: bundle paths, or `LABEL=PATH` to name the curve a bundle belongs to. `cache_dir` keeps
  the classical codecs' files and metrics for the next run (None: nothing kept).
  """
  unknown = [r for r in references if r not in REFERENCES]
  if unknown:
    raise errors.ConfigError(f"unknown reference curves {unknown}; published ones: {', '.join(REFERENCES)}")
  out = paths.resolve(out)
  images, skipped = _images(folder)
  models = _models(model_specs)
  available = classical.available()
  names = [n for n, ok in available.items() if ok]
  tracker, no_fid = None, "skipped (--no-fid)"
  if realism:
    try:
      tracker = _Realism(inception.Inception())
    except inception.WeightsMissing as e:
      no_fid = str(e)
  out.mkdir(parents=True, exist_ok=True)
  rows, crops = _rows(out, images, models, names, qualities, tracker, _ClassicalCache(cache_dir))
  table = io.StringIO()
  writer = csv.DictWriter(table, fieldnames=list(rows[0]))
  writer.writeheader()
  writer.writerows(rows)
  paths.write_bytes(out / "per_image.csv", table.getvalue().encode())
  summary = _means(rows)
  if tracker:
    no_fid = tracker.scores(summary)
  learned = list(dict.fromkeys(label for label, _ in models))
  differences = _rate_differences(summary, learned, [c for c in BD_REFERENCES if c in names] + list(references))
  _compressai_results(out, summary, learned + names, f"jgc.evaluate on {len(images)} images of {folder}")
  _plots(out, summary, crops, METRICS + (("fid",) if no_fid is None else ()), list(references))
  _report(out, summary, differences, skipped, available, no_fid)
  result = {"images": len(images), "skipped": len(skipped), "fid_kid": no_fid or "computed", "summary": summary,
            "rate_differences": differences}
  paths.write_bytes(out / "summary.json", json.dumps(result, indent=2).encode())
  return result


def _rows(out: epath.Path, images: list[tuple[str, np.ndarray]], models: dict[tuple[str, str], Codec],
          names: list[str], qualities: tuple[int, ...], tracker: _Realism | None,
          cache: _ClassicalCache) -> tuple[list[dict], list[tuple[str, np.ndarray]]]:
  """`(rows, crops)` of every image, `out/rows.jsonl` written after each; the rows an earlier run
  left there for an image are reused (with, for FID, its Inception features), but the first image
  is always coded again, for the crops."""
  done = _done_rows(out, _expected(models, names, qualities))
  if tracker:
    done = {n: rows for n, rows in done.items() if (out / "features" / f"{n}.npz").exists()}
  rows, crops, start, coded = [], [], time.perf_counter(), 0
  for i, (name, image) in enumerate(images, 1):
    if i > 1 and name in done:
      rows.extend(done[name])
      if tracker:
        with (out / "features" / f"{name}.npz").open("rb") as f:
          tracker.add_features(dict(np.load(f)))
      print(f"[{i}/{len(images)}] {name}: from {out / 'rows.jsonl'}", flush=True)
      continue
    image_rows, decoded, cropped = _image_rows(name, image, models, names, qualities, cache)
    rows.extend(image_rows)
    if tracker:
      buf = io.BytesIO()
      np.savez(buf, **tracker.add(image, decoded))
      paths.write_bytes(out / "features" / f"{name}.npz", buf.getvalue())
    if i == 1:
      crops = [("original", _crop(image))] + [(f"{r['codec']} {r['bpp']:.3f} bpp", _crop(decoded[_group(r)]))
                                              for r in cropped]
    paths.write_bytes(out / "rows.jsonl", "".join(json.dumps(r) + "\n" for r in rows).encode())
    coded += 1
    elapsed = time.perf_counter() - start
    left = sum(1 for n, _ in images[i:] if n not in done)
    print(f"[{i}/{len(images)}] {name}: {elapsed:.0f} s so far, about {elapsed / coded * left:.0f} s left",
          flush=True)
  return rows, crops


def _image_rows(name: str, image: np.ndarray, models: dict[tuple[str, str], Codec], names: list[str],
                qualities: tuple[int, ...],
                cache: _ClassicalCache) -> tuple[list[dict], dict[tuple[str, str], np.ndarray], list[dict]]:
  """One image's rows (every model point; each classical codec at each point's rate and at each quality),
  its decoded images by row group, and the rows the crops show: the first model point, then JPEG's and
  WebP's at its rate."""
  rows, decoded, matched = [], {}, {}

  def keep(result: tuple[dict, np.ndarray]) -> dict:
    row, image_out = result
    rows.append(row)
    decoded[_group(row)] = image_out
    return row

  points = [keep(_model_row(codec, label, point, name, image)) for (label, point), codec in models.items()]
  for codec in names:
    for p in points:
      row = cache.row(name, codec, f"@{p['bpp']:.6f}", lambda q, p=p: f"matched {p['codec']} {p['setting']} (q{q})",
                      image, lambda p=p, codec=codec: classical.at_bpp(codec, image, p["bpp"]))
      matched.setdefault(codec, keep(row))
    for q in qualities:
      keep(cache.row(name, codec, f"q{q}", lambda _, q=q: f"q{q}", image,
                     lambda q=q, codec=codec: (classical.encode(codec, image, q), q)))
  return rows, decoded, [points[0]] + [matched[c] for c in ("jpeg420", "webp") if c in matched]


def main(argv: list[str] | None = None) -> int:
  p = argparse.ArgumentParser(prog="python -m jgc.evaluate", description=__doc__.split("\n")[0])
  p.add_argument("--model", action="append", required=True,
                 help="model bundle, or LABEL=PATH to name its curve; bundles of one family form a curve")
  p.add_argument("--images", required=True, help="folder of images (a local path or gs:// URL)")
  p.add_argument("--out", required=True, help="folder for the report, tables and plots (a local path or gs:// URL)")
  p.add_argument("--no-fid", action="store_true", help="skip FID/KID (the slowest metrics on a CPU)")
  p.add_argument("--cache-dir", default=paths.user_cache("classical"),
                 help="where classical codecs' files and metrics are kept across runs ('off': nowhere)")
  p.add_argument("--reference", action="append", default=[], choices=list(REFERENCES),
                 help="published curve to draw and compare with (repeatable)")
  p.add_argument("--qualities", default=",".join(map(str, QUALITIES)),
                 help="classical codecs' quality sweep, comma-separated (4 or more for rate differences)")
  args = p.parse_args(argv)
  try:
    qualities = tuple(int(q) for q in args.qualities.split(","))
  except ValueError:
    p.error(f"--qualities must be integers separated by commas, got {args.qualities!r}")
  try:
    evaluate(args.model, args.images, args.out, qualities, realism=not args.no_fid, references=tuple(args.reference),
             cache_dir=None if args.cache_dir == "off" else args.cache_dir)
  except errors.Error as e:
    print(f"jgc.evaluate: error: {e}", file=sys.stderr)
    return 2
  print(f"wrote {paths.resolve(args.out) / 'report.md'}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
