"""Rate-distortion evaluation of model bundles against classical codecs.

    python -m jgc.evaluate --model hific.jgcm --images ../shared/data/kodak --out /tmp/eval

Each image is compressed to a real file with each model; JPEG (4:2:0 and
4:4:4), WebP and AVIF run at the model's rate (quality by bisection) and at a
sweep of qualities for their curves. Writes `per_image.csv`, `summary.json`,
`rd.png` (bpp against PSNR, MS-SSIM, LPIPS), `crops.png` (original, the first
model, JPEG and WebP at the same rate) and `report.md`.
"""

import argparse
import csv
import json
import os
import sys
import time

import numpy as np

from jgc import image_files
from jgc.codec import bundle as bundles
from jgc.codec.compressor import Codec
from jgc.eval import bdrate, classical, metrics

QUALITIES = (5, 15, 30, 50, 70, 90)
METRICS = ("psnr", "ms_ssim", "lpips")
CROP_PX = 256


def _images(folder: str) -> tuple[list[tuple[str, np.ndarray]], list[str]]:
  if not os.path.isdir(folder):
    raise FileNotFoundError(f"{folder}: no such folder")
  images, skipped = [], []
  for name in sorted(os.listdir(folder)):
    if name.lower().endswith(image_files.EXTENSIONS):
      try:
        images.append((name, image_files.read(os.path.join(folder, name))[0]))
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
  decoded = classical.decode(data)
  return ({"image": name, "codec": codec, "setting": setting, "bpp": classical.bpp(data, image),
           "bpp_estimate": None, **_quality(image, decoded), "encode_s": None, "decode_s": None}, decoded)


def _means(rows: list[dict]) -> list[dict]:
  groups: dict[tuple[str, str], list[dict]] = {}
  for r in rows:
    groups.setdefault((r["codec"], r["setting"]), []).append(r)
  out = []
  for (codec, setting), rs in groups.items():
    mean = {k: float(np.mean([r[k] for r in rs])) for k in ("bpp", *METRICS)}
    out.append({"codec": codec, "setting": setting, "images": len(rs), **mean})
  return out


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


def _plots(out: str, summary: list[dict], crops: list[tuple[str, np.ndarray]]) -> None:
  import matplotlib  # noqa: PLC0415  (headless backend before pyplot)
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # noqa: PLC0415

  fig, axes = plt.subplots(1, len(METRICS), figsize=(5 * len(METRICS), 4))
  for ax, metric in zip(axes, METRICS, strict=True):
    for codec in dict.fromkeys(m["codec"] for m in summary):
      pts = sorted((m for m in summary if m["codec"] == codec and not m["setting"].startswith("matched")),
                   key=lambda m: m["bpp"])
      ax.plot([m["bpp"] for m in pts], [m[metric] for m in pts], "o-" if len(pts) > 1 else "*",
              label=codec, markersize=4 if len(pts) > 1 else 12)
    ax.set_xlabel("bpp (real files)")
    ax.set_ylabel(metric.upper().replace("_", "-"))
    ax.grid(alpha=0.3)
  axes[0].legend()
  fig.tight_layout()
  fig.savefig(os.path.join(out, "rd.png"), dpi=120)
  plt.close(fig)

  fig, axes = plt.subplots(1, len(crops), figsize=(3 * len(crops), 3.3))
  for ax, (title, crop) in zip(axes, crops, strict=True):
    ax.imshow(crop)
    ax.set_title(title, fontsize=8)
    ax.axis("off")
  fig.tight_layout()
  fig.savefig(os.path.join(out, "crops.png"), dpi=120)
  plt.close(fig)


def _crop(image: np.ndarray) -> np.ndarray:
  h, w = image.shape[:2]
  top, left = max(0, (h - CROP_PX) // 2), max(0, (w - CROP_PX) // 2)
  return image[top : top + CROP_PX, left : left + CROP_PX]


def _report(out: str, summary: list[dict], differences: list[dict], skipped: list[str], codecs: dict) -> str:
  lines = ["# Rate-distortion report", "",
           "bpp from the real files. Classical codecs: "
           + ", ".join(f"{k} ({'yes' if v else 'not in this Pillow'})" for k, v in codecs.items()) + ".",
           "FID/KID are not computed yet (they need Inception weights that work offline).", "",
           "## Means", "", "| codec | setting | images | bpp | PSNR (dB) | MS-SSIM | LPIPS |", "|---|---|---|---|---|---|---|"]
  for m in summary:
    lines.append(f"| {m['codec']} | {m['setting']} | {m['images']} | {m['bpp']:.4f} | {m['psnr']:.2f} | "
                 f"{m['ms_ssim']:.4f} | {m['lpips']:.4f} |")
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
  with open(os.path.join(out, "report.md"), "w") as f:
    f.write(text)
  return text


def evaluate(model_paths: list[str], folder: str, out: str, qualities=QUALITIES) -> dict:
  """Runs the evaluation and writes its files to `out`; returns the summary."""
  images, skipped = _images(folder)
  codecs = {label: Codec(bundles.load(path)) for label, path in
            ((os.path.splitext(os.path.basename(p))[0], p) for p in model_paths)}
  available = classical.available()
  names = [n for n, ok in available.items() if ok]
  os.makedirs(out, exist_ok=True)
  rows, crops = [], []
  for i, (name, image) in enumerate(images, 1):
    print(f"[{i}/{len(images)}] {name}", flush=True)
    first = None
    for label, codec in codecs.items():
      row, decoded = _model_row(codec, label, name, image)
      rows.append(row)
      first = first or (row, decoded, label)
    matched = {}
    for codec in names:
      data, q = classical.at_bpp(codec, image, first[0]["bpp"])
      row, decoded = _classical_row(name, codec, f"matched {first[2]} (q{q})", image, data)
      rows.append(row)
      matched[codec] = (row["bpp"], decoded)
      for q in qualities:
        rows.append(_classical_row(name, codec, f"q{q}", image, classical.encode(codec, image, q))[0])
    if i == 1:
      crops = [("original", _crop(image)), (f"{first[2]} {first[0]['bpp']:.3f} bpp", _crop(first[1]))]
      crops += [(f"{c} {matched[c][0]:.3f} bpp", _crop(matched[c][1])) for c in ("jpeg420", "webp") if c in matched]
  with open(os.path.join(out, "per_image.csv"), "w", newline="") as f:
    writer = csv.DictWriter(f, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
  summary = _means([{**r, "setting": r["setting"].split(" (")[0]} for r in rows])
  references = [c for c in ("jpeg420", "webp") if c in names]
  differences = _rate_differences(summary, list(codecs), references)
  _plots(out, summary, crops)
  _report(out, summary, differences, skipped, available)
  result = {"images": len(images), "skipped": len(skipped), "summary": summary, "rate_differences": differences}
  with open(os.path.join(out, "summary.json"), "w") as f:
    json.dump(result, f, indent=2)
  return result


def main(argv: list[str] | None = None) -> int:
  p = argparse.ArgumentParser(prog="python -m jgc.evaluate", description=__doc__.split("\n")[0])
  p.add_argument("--model", action="append", required=True, help="model bundle; repeat for a curve")
  p.add_argument("--images", required=True, help="folder of images")
  p.add_argument("--out", required=True, help="folder for the report, tables and plots")
  p.add_argument("--qualities", default=",".join(map(str, QUALITIES)),
                 help="classical codecs' quality sweep, comma-separated (4 or more for rate differences)")
  args = p.parse_args(argv)
  try:
    qualities = tuple(int(q) for q in args.qualities.split(","))
  except ValueError:
    p.error(f"--qualities must be integers separated by commas, got {args.qualities!r}")
  try:
    evaluate(args.model, args.images, args.out, qualities)
  except (FileNotFoundError, bundles.BundleError) as e:
    print(f"jgc.evaluate: error: {e}", file=sys.stderr)
    return 2
  print(f"wrote {os.path.join(args.out, 'report.md')}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
