"""Rate-distortion evaluation of model bundles against classical codecs.

    python -m jgc.evaluate --model hific.jgcm --images ../shared/data/kodak --out /tmp/eval

Each image is compressed to a real file with each model; the classical
codecs that can run here (JPEG 4:2:0 and 4:4:4, WebP, AVIF, JPEG XL, HEVC
intra; `jgc.eval.classical`) run at the model's rate (quality by bisection)
and at a sweep of qualities for their curves. FID/256 and KID/256 (HiFiC's patch
method, `jgc.eval.fid`) are computed over the whole set when the Inception
weights are installed (`--no-fid` skips them). Writes `per_image.csv`,
`summary.json`, `rd.png` (bpp against PSNR, MS-SSIM, LPIPS, FID),
`crops.png` (original, the first model, JPEG and WebP at the same rate) and
`report.md`.
"""

import argparse
import csv
import io
import json
import os
import sys
import time

import numpy as np
from etils import epath

from jgc import image_files, paths
from jgc.codec import bundle as bundles
from jgc.codec.compressor import Codec
from jgc.eval import bdrate, classical, fid, inception, metrics

QUALITIES = (5, 15, 30, 50, 70, 90)
METRICS = ("psnr", "ms_ssim", "lpips")
CROP_PX = 256


def _images(folder: str) -> tuple[list[tuple[str, np.ndarray]], list[str]]:
  root = paths.resolve(folder)
  if not root.is_dir():
    raise FileNotFoundError(f"{folder}: no such folder")
  images, skipped = [], []
  for name in sorted(p.name for p in root.iterdir()):
    if name.lower().endswith(image_files.EXTENSIONS):
      try:
        images.append((name, image_files.read(root / name)[0]))
      except image_files.BadImage as e:
        skipped.append(str(e))
        print(f"skipping {e}", file=sys.stderr)
  if not images:
    raise FileNotFoundError(f"{folder}: no readable images" + (f" ({len(skipped)} skipped)" if skipped else ""))
  return images, skipped


def _quality(image: np.ndarray, decoded: np.ndarray) -> dict[str, float]:
  return {"psnr": metrics.psnr(image, decoded), "ms_ssim": metrics.ms_ssim(image, decoded),
          "lpips": metrics.lpips(image, decoded)}


def _model_row(codec: Codec, label: str, name: str, image: np.ndarray) -> tuple[dict, np.ndarray]:
  t = time.perf_counter()
  data, _ = codec.compress(image)
  encode_s = time.perf_counter() - t
  t = time.perf_counter()
  decoded, _ = codec.decompress(data)
  decode_s = time.perf_counter() - t
  pixels = image.shape[0] * image.shape[1]
  row = {"image": name, "codec": label, "setting": codec.bundle.model_id.hex(), "bpp": 8 * len(data) / pixels,
         "bpp_estimate": codec.estimate_bits(image) / pixels, **_quality(image, decoded),
         "encode_s": encode_s, "decode_s": decode_s}
  return row, decoded


def _classical_row(name: str, codec: str, setting: str, image: np.ndarray, data: bytes) -> tuple[dict, np.ndarray]:
  decoded = classical.decode(codec, data)
  return ({"image": name, "codec": codec, "setting": setting, "bpp": classical.bpp(data, image),
           "bpp_estimate": None, **_quality(image, decoded), "encode_s": None, "decode_s": None}, decoded)


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

  def add(self, image: np.ndarray, decoded: dict[tuple[str, str], np.ndarray]) -> None:
    groups = [fid.patches(image)] + [fid.patches(d) for d in decoded.values()]
    if not len(groups[0]):
      return
    features = np.split(self.net(np.concatenate(groups)), np.cumsum([len(g) for g in groups])[:-1])
    self.real.append(features[0])
    for key, f in zip(decoded, features[1:], strict=True):
      self.fake.setdefault(key, []).append(f)

  def scores(self, summary: list[dict]) -> str | None:
    """Adds fid, kid and patches to each summary row; returns why not, when it cannot."""
    real = np.concatenate(self.real) if self.real else np.zeros((0, inception.FEATURES))
    if len(real) < 2:
      return f"FID/KID need at least 2 patches of {fid.PATCH_PX} px; this set has {len(real)}"
    for m in summary:
      fake = np.concatenate(self.fake[(m["codec"], m["setting"])])
      m.update(fid=fid.fid(real, fake), kid=fid.kid(real, fake), patches=len(fake))
    return None


def _rate_differences(summary: list[dict], models: list[str], references: list[str]) -> list[dict]:
  """Each model's rate against each reference's sweep, at equal quality, per metric."""
  table = []
  for ref in references:
    curve = sorted((m for m in summary if m["codec"] == ref and m["setting"].startswith("q")), key=lambda m: m["bpp"])
    for label in models:
      points = sorted((m for m in summary if m["codec"] == label), key=lambda m: m["bpp"])
      row = {"model": label, "reference": ref}
      for metric in METRICS:
        sign = -1 if metric == "lpips" else 1  # BD-rate wants "higher is better"
        ref_rate, ref_metric = [m["bpp"] for m in curve], [sign * m[metric] for m in curve]
        try:
          if len(points) >= 4:
            row[metric] = bdrate.bd_rate(ref_rate, ref_metric, [m["bpp"] for m in points],
                                         [sign * m[metric] for m in points])
          else:
            row[metric] = float(np.mean([bdrate.rate_difference(ref_rate, ref_metric, m["bpp"], sign * m[metric])
                                         for m in points]))
        except ValueError as e:
          row[metric] = None
          row[f"{metric}_why"] = str(e)
      table.append(row)
  return table


def _plots(out: epath.Path, summary: list[dict], crops: list[tuple[str, np.ndarray]], panels: tuple[str, ...]) -> None:
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
            "BD-rate (Bjontegaard) where a model has 4 or more points; otherwise the rate difference at "
            "each model point against the reference's fitted curve, averaged.", "",
            "| model | reference | PSNR | MS-SSIM | LPIPS |", "|---|---|---|---|---|"]
  for d in differences:
    cells = [f"{d[m]:+.1f}%" if d.get(m) is not None else "n/a" for m in METRICS]
    lines.append(f"| {d['model']} | {d['reference']} | " + " | ".join(cells) + " |")
  lines += ["", "![rate-distortion](rd.png)", "", "![crops](crops.png)", ""]
  if skipped:
    lines += [f"Skipped {len(skipped)} unreadable images: " + "; ".join(skipped), ""]
  text = "\n".join(lines)
  paths.write_bytes(out / "report.md", text.encode())
  return text


def evaluate(model_paths: list[str], folder: str, out: str, qualities=QUALITIES, realism: bool = True) -> dict:
  """Runs the evaluation and writes its files to `out` (a local folder or gs:// URL); returns the summary."""
  out = paths.resolve(out)
  images, skipped = _images(folder)
  codecs = {label: Codec(bundles.load(path)) for label, path in
            ((os.path.splitext(os.path.basename(p))[0], p) for p in model_paths)}
  available = classical.available()
  names = [n for n, ok in available.items() if ok]
  tracker, no_fid = None, "skipped (--no-fid)"
  if realism:
    try:
      tracker = _Realism(inception.Inception())
    except inception.WeightsMissing as e:
      no_fid = str(e)
  out.mkdir(parents=True, exist_ok=True)
  rows, crops = [], []
  for i, (name, image) in enumerate(images, 1):
    print(f"[{i}/{len(images)}] {name}", flush=True)
    decoded, matched = {}, {}

    def keep(result: tuple[dict, np.ndarray], decoded=decoded) -> dict:
      row, image_out = result
      rows.append(row)
      decoded[_group(row)] = image_out
      return row

    first = [keep(_model_row(codec, label, name, image)) for label, codec in codecs.items()][0]
    for codec in names:
      data, q = classical.at_bpp(codec, image, first["bpp"])
      matched[codec] = keep(_classical_row(name, codec, f"matched {first['codec']} (q{q})", image, data))
      for q in qualities:
        keep(_classical_row(name, codec, f"q{q}", image, classical.encode(codec, image, q)))
    if tracker:
      tracker.add(image, decoded)
    if i == 1:
      crops = [(f"{r['codec']} {r['bpp']:.3f} bpp", _crop(decoded[_group(r)]))
               for r in [first] + [matched[c] for c in ("jpeg420", "webp") if c in matched]]
      crops.insert(0, ("original", _crop(image)))
  table = io.StringIO()
  writer = csv.DictWriter(table, fieldnames=list(rows[0]))
  writer.writeheader()
  writer.writerows(rows)
  paths.write_bytes(out / "per_image.csv", table.getvalue().encode())
  summary = _means(rows)
  if tracker:
    no_fid = tracker.scores(summary)
  references = [c for c in ("jpeg420", "webp") if c in names]
  differences = _rate_differences(summary, list(codecs), references)
  _plots(out, summary, crops, METRICS + (("fid",) if no_fid is None else ()))
  _report(out, summary, differences, skipped, available, no_fid)
  result = {"images": len(images), "skipped": len(skipped), "fid_kid": no_fid or "computed", "summary": summary,
            "rate_differences": differences}
  paths.write_bytes(out / "summary.json", json.dumps(result, indent=2).encode())
  return result


def main(argv: list[str] | None = None) -> int:
  p = argparse.ArgumentParser(prog="python -m jgc.evaluate", description=__doc__.split("\n")[0])
  p.add_argument("--model", action="append", required=True, help="model bundle; repeat for a curve")
  p.add_argument("--images", required=True, help="folder of images (a local path or gs:// URL)")
  p.add_argument("--out", required=True, help="folder for the report, tables and plots (a local path or gs:// URL)")
  p.add_argument("--no-fid", action="store_true", help="skip FID/KID (the slowest metrics on a CPU)")
  p.add_argument("--qualities", default=",".join(map(str, QUALITIES)),
                 help="classical codecs' quality sweep, comma-separated (4 or more for rate differences)")
  args = p.parse_args(argv)
  try:
    qualities = tuple(int(q) for q in args.qualities.split(","))
  except ValueError:
    p.error(f"--qualities must be integers separated by commas, got {args.qualities!r}")
  try:
    evaluate(args.model, args.images, args.out, qualities, realism=not args.no_fid)
  except (FileNotFoundError, bundles.BundleError) as e:
    print(f"jgc.evaluate: error: {e}", file=sys.stderr)
    return 2
  print(f"wrote {paths.resolve(args.out) / 'report.md'}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
