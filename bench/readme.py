#!/usr/bin/python3
"""bench/readme.py WORK COMMAND SECONDS BUILD BUDGET - write bench/README.md (to stdout) from the outputs
bench/run left in WORK. Every number in the page comes from those files; the prose around them
says what was run. Standard library only."""
import csv
import json
import os
import re
import statistics
import subprocess
import sys
import time

work, command, seconds, build, budget = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]


def read(name):
    with open(os.path.join(work, name)) as f:
        return f.read()


def rows(name):
    with open(os.path.join(work, name)) as f:
        return [{k: float(v) for k, v in r.items()} for r in csv.DictReader(f)]


def median(v):
    return statistics.median(v) if v else float("nan")


def p99(v):
    s = sorted(v)
    return s[max(0, -(-99 * len(s) // 100) - 1)] if s else float("nan")


def peak_mb(name):
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", read(name))
    return int(m.group(1)) / 1024 if m else float("nan")


def wall(name):
    m = re.search(r"Elapsed \(wall clock\) time.*: ([\d:.]+)", read(name))
    parts = [float(p) for p in m.group(1).split(":")] if m else []
    s = 0.0
    for p in parts:
        s = s * 60 + p
    return s


def growth_kb(r, lo=100):
    """Resident growth per frame from frame lo to the last, KB."""
    rss = [x["rss_kb"] for x in r if x["rss_kb"] > 0]
    if len(rss) <= lo + 1:
        lo = 0
    return (rss[-1] - rss[lo]) / max(1, len(rss) - 1 - lo) if rss else float("nan")


def window(r, end, key, width=500):
    """Median of key over the `width` frames before frame `end`."""
    sel = [x[key] for x in r[max(0, end - width):end]]
    return median(sel)


def slope_per_1e4(r, key, start=0):
    """Least-squares slope of key against frame index, per 10^4 frames, from frame start."""
    pts = [(x["frame"], x[key]) for x in r[start:]]
    if len(pts) < 2:
        return float("nan")
    mx = sum(p[0] for p in pts) / len(pts)
    my = sum(p[1] for p in pts) / len(pts)
    sxx = sum((p[0] - mx) ** 2 for p in pts)
    sxy = sum((p[0] - mx) * (p[1] - my) for p in pts)
    return sxy / sxx * 1e4 if sxx else float("nan")


def f(v, d=2):
    return "-" if v is None or v != v else f"{v:.{d}f}"


def ratio(peer, ours):
    return "-" if not ours or ours != ours or peer != peer else f"**{peer / ours:.1f}x**"


def met(ok):
    return "yes" if ok else "**no**"


# ---- per-sequence figures of both systems --------------------------------------------------
DEJA_STAGES = ["decode_ms", "features_ms", "transform_ms", "query_ms", "verify_ms"]
BASE_STAGES = ["decode_ms", "features_ms", "bow_ms", "compare_ms"]


def system(prefix, name):
    r = rows(f"{prefix}-{name}.csv")
    ev = json.loads(read(f"{prefix}-{name}.json").strip().splitlines()[-1])
    out = {"rows": r, "eval": ev, "peak": peak_mb(f"{prefix}-{name}.time"),
           "total": median([x["total_ms"] for x in r]), "p99": p99([x["total_ms"] for x in r]),
           "growth": growth_kb(r), "frames": len(r)}
    stages = DEJA_STAGES if prefix == "deja" else BASE_STAGES
    out["stages"] = {s: median([x[s] for x in r[51:] or r]) for s in stages}
    out["stages99"] = {s: p99([x[s] for x in r[51:] or r]) for s in stages}
    if prefix == "deja" and len(r) > 101:
        out["allocs"] = (r[-1]["allocs"] - r[100]["allocs"]) / (len(r) - 101)
    return out


tum = {p: system(p, "tum") for p in ("deja", "base")}
s10k = {p: system(p, "synth10k") for p in ("deja", "base")}
dl, bl = rows("deja-long.csv"), rows("base-long.csv")
base_long_txt = read("base-long.txt").strip()

# ---- peers from the C benchmarks ---------------------------------------------------------
orb_md = read("orb.md")
m = re.search(r"over OpenCV 1 thread: ([\d.]+)x \(median\)", orb_md)
orb_ratio = float(m.group(1)) if m else float("nan")
vl = read("vocab_load.txt")
m1 = re.search(r"load plain\s+min\s+[\d.]+ ms\s+median\s+([\d.]+) ms", vl)
m2 = re.search(r"import DBoW2 text: min ([\d.]+) ms", vl)
load_ms, dbow_ms = (float(m1.group(1)) if m1 else float("nan")), (float(m2.group(1)) if m2 else float("nan"))
bow_md = read("opencv_bow.md")
same = dict(re.findall(r"(\d+ words (?:FLANN|BF)): (\d+)x", bow_md))
bow_rows = [l for l in bow_md.splitlines() if l.startswith("| OpenCV") or l.startswith("| deja")]
train_cv = {int(c[2]): float(c[3]) for c in (l.split("|") for l in bow_rows) if "OpenCV" in c[1]}
train_dj = {int(c[2]): float(c[3]) for c in (l.split("|") for l in bow_rows) if "deja" in c[1]}


def first(d, k):
    return d.get(k, float("nan"))


cv_train_1k, dj_train_1k = first(train_cv, 1000), first(train_dj, 1000)
m = re.search(r"features ([\d.]+) s, training ([\d.]+) s", read("deja_train.txt"))
deja_train_s = float(m.group(1)) + float(m.group(2)) if m else float("nan")
m = re.search(r"trained in ([\d.]+) s", read("baseline_train.txt"))
base_train_s = float(m.group(1)) if m else float("nan")

# ---- callgrind: inclusive instructions per frame of deja's stages -------------------------
cg = read("callgrind.txt")
cg_frames = len(read("cg-frames.txt").split())


def ir(fn):
    for line in cg.splitlines():
        if re.search(r"\b" + re.escape(fn) + r"\b", line) and not line.lstrip().startswith("-"):
            mm = re.match(r"\s*([\d,]+)", line)
            if mm:
                return int(mm.group(1).replace(",", "")) / cg_frames
    return float("nan")


cg_rows = [("decode (JPEG)", "deja_decoder_read_file"), ("ORB", "deja_orb_detect"),
           ("BoW transform", "deja_bow_transform"), ("query", "deja__index_query"),
           ("geometric verification", "deja__geom_verify")]

# ---- the long runs ----------------------------------------------------------------------
n_long = len(dl)
marks = [m for m in (1000, 10000, 100000) if m <= n_long]
det_key = "det_ms"
for x in dl:
    x[det_key] = x["transform_ms"] + x["query_ms"] + x["verify_ms"]
base_reached = len(bl)
base_marks = [m for m in (1000, 10000, 100000) if m <= base_reached] + (
    [base_reached] if base_reached not in (1000, 10000, 100000) else [])

# ---- page ----------------------------------------------------------------------------------
cpu = re.search(r"model name\s*:\s*(.*)", open("/proc/cpuinfo").read())
cc = subprocess.run(["cc", "--version"], capture_output=True, text=True).stdout.splitlines()[0]
commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
blas = re.search(r"blas (\S+)", base_long_txt)
out = []
w = out.append
w("# Benchmarks\n")
w("Generated by `bench/run` (do not edit by hand: the text is in bench/readme.py). One command builds "
  "deja and every peer Debian offers, runs them on the same frames, and rewrites this page.\n")
w(f"- date: {time.strftime('%Y-%m-%d', time.gmtime())}, commit {commit}, command `{command}`, "
  f"{seconds // 60} min {seconds % 60} s in all")
w(f"- machine: {os.cpu_count()} cores, {cpu.group(1) if cpu else '?'}; {cc}; shared and noisy, so "
  "medians, and ratios measured in the same run; instruction counts (callgrind) for deja's stages")
w(f"- peers: OpenCV 4.6 (Debian libopencv-dev, python3-opencv), numpy with BLAS "
  f"`{blas.group(1) if blas else '?'}`, Python {sys.version.split()[0]}\n")

w("## Headline: deja against the peers\n")
w("| measure | deja | peer | peer / deja | goal | met |")
w("|---|---:|---:|---:|---|---|")
t_d, t_b = tum["deja"]["total"], tum["base"]["total"]
w(f"| whole frame, tum-fr1-xyz (798 frames, 640x480), median ms | {f(t_d)} | Python baseline {f(t_b)} | "
  f"{ratio(t_b, t_d)} | >= 100x | {met(t_b / t_d >= 100)} |")
d10, b10 = window(s10k['deja']['rows'], 10000, 'total_ms'), window(s10k['base']['rows'], 10000, 'total_ms')
w(f"| whole frame at frames 9,500-10,000 of a generated sequence, median ms | {f(d10)} | Python baseline "
  f"{f(b10)} | {ratio(b10, d10)} | >= 100x | {met(b10 / d10 >= 100)} |")
dq, bc = window(s10k['deja']['rows'], 10000, 'query_ms'), window(s10k['base']['rows'], 10000, 'compare_ms')
w(f"| query / compare with every earlier frame at 10^4 frames, median ms | {f(dq, 3)} | {f(bc, 3)} | "
  f"{ratio(bc, dq)} | | |")
if n_long >= 10000 and base_reached >= 10000:
    sd = slope_per_1e4(dl, det_key, 10000)
    sb = slope_per_1e4(bl, "compare_ms", 1000)
    w(f"| time growth, ms per 10^4 more frames (deja detector from 10^4 to {n_long:,}; baseline compare to "
      f"{base_reached:,}) | {f(sd, 3)} | {f(sb, 3)} | | flat (deja), linear (baseline) | "
      f"{met(abs(sd) < 0.1)} |")
if base_reached > 10000 and n_long >= base_reached:
    dfar, bfar = window(dl, base_reached, "total_ms"), window(bl, base_reached, "total_ms")
    w(f"| whole frame at frame {base_reached:,}, the farthest the baseline got in {budget} s, median ms "
      f"(deja: its generated world) | {f(dfar)} | Python baseline {f(bfar)} | {ratio(bfar, dfar)} | "
      f">= 100x | {met(bfar / dfar >= 100)} |")
w(f"| ORB, 1000 features, 640x480, median ms | see below | OpenCV `cv::ORB` | **{f(orb_ratio)}x** | >= 1.5x | "
  f"{met(orb_ratio >= 1.5)} |")
for key in ("1000 words FLANN", "10000 words FLANN", "1000 words BF", "10000 words BF"):
    if key in same:
        w(f"| BoW transform of ~1000 ORB descriptors, {key.split()[0]} words | tree | OpenCV "
          f"`BOWImgDescriptorExtractor` + {key.split()[-1]} | **{same[key]}x** | >= 3x | "
          f"{met(float(same[key]) >= 3)} |")
w(f"| vocabulary training, 190 vocab-train images, 1000 words, s | {f(dj_train_1k)} | OpenCV "
  f"`BOWKMeansTrainer` {f(cv_train_1k)} | {ratio(cv_train_1k, dj_train_1k)} | | |")
w(f"| vocabulary training as each system runs it (deja: 10^5-word tree; baseline: 1000 words), s | "
  f"{f(deja_train_s)} | Python {f(base_train_s)} | {ratio(base_train_s, deja_train_s)} | | |")
w(f"| vocabulary load, 10^6 words, median ms | {f(load_ms)} | DBoW2 text {f(dbow_ms, 1)} | "
  f"{ratio(dbow_ms, load_ms)} | | |")
w(f"| allocations per frame after frame 100 (tum-fr1-xyz; 10^4 frames) | {f(tum['deja'].get('allocs'), 2)}; "
  f"{f(s10k['deja'].get('allocs'), 2)} | | | 0 | "
  f"{met(tum['deja'].get('allocs', 1) == 0 and s10k['deja'].get('allocs', 1) == 0)} |")
gd, gb = s10k["deja"]["growth"], s10k["base"]["growth"]
w(f"| resident memory growth per frame over 10^4 frames, KB | {f(gd, 1)} | {f(gb, 1)} | | a few KB | "
  f"{met(gd < 10)} |")
w(f"| peak resident memory, tum-fr1-xyz, MB | {f(tum['deja']['peak'], 1)} | {f(tum['base']['peak'], 1)} | "
  f"{ratio(tum['base']['peak'], tum['deja']['peak'])} | | |")
for name, s, judge in (("tum-fr1-xyz", tum, "loops.txt"), ("generated 10^4", s10k, "loose rule")):
    ed, eb = s["deja"]["eval"], s["base"]["eval"]
    w(f"| recall @100% precision, {name} ({judge}) | {f(ed['recall_at_full_precision'], 3)} | "
      f"{f(eb['recall_at_full_precision'], 3)} | | not bought with speed | "
      f"{met((ed['recall_at_full_precision'] or 0) >= (eb['recall_at_full_precision'] or 0))} |")
    w(f"| average precision, {name} | {f(ed['average_precision'], 3)} | {f(eb['average_precision'], 3)} | | | |")
w("")
far = (f" and {bfar / dfar:.1f}x at frame {base_reached:,}" if base_reached > 10000 and n_long >= base_reached
       else "")
w(f"Where a goal is missed: the per-frame goal of 100x over the Python baseline is not met: deja is "
  f"{t_b / t_d:.1f}x faster on tum-fr1-xyz, {b10 / d10:.1f}x at 10^4 frames{far}. The baseline is not "
  "the write-up's Python (0.28 s per frame at best): it spends its time in OpenCV's C++ ORB and in "
  "numpy's BLAS (one matrix product against all earlier histograms), so per frame it is only a small "
  "constant factor slower while sequences are short. The gap widens with the sequence length because "
  "the baseline's compare grows linearly and deja's query is flat; by extrapolating the measured "
  "slope, 100x would take millions of frames. The baseline's AP counts every frame's best match, with "
  "no geometric verification and so no safe operating point; compare recall at 100% precision.\n")

w("## Per stage, same frames\n")
for title, s in (("tum-fr1-xyz (798 frames, 640x480 JPEG)", tum), ("generated sequence, 10^4 frames (640x480 PGM)", s10k)):
    d, b = s["deja"], s["base"]
    w(f"### {title}\n")
    w("| system | decode | features | BoW | query / compare | verify | whole frame median | p99 | peak MB | "
      "growth KB/frame | events | precision | recall | recall @100% P | AP |")
    w("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for label, x, st in (("deja (2 threads)", d, DEJA_STAGES), ("Python baseline", b, BASE_STAGES)):
        e = x["eval"]
        cells = [f"{f(x['stages'][k], 3)} / {f(x['stages99'][k], 2)}" for k in st] + (["-"] if len(st) == 4 else [])
        w(f"| {label} | " + " | ".join(cells) +
          f" | {f(x['total'])} | {f(x['p99'])} | {f(x['peak'], 1)} | {f(x['growth'], 1)} | {e['events']} | "
          f"{f(e['precision'], 3)} | {f(e['recall'], 3)} | {f(e['recall_at_full_precision'], 3)} | "
          f"{f(e['average_precision'], 3)} |")
    w("")
w("Stage times are median / p99 in ms over frames 51 on (the baseline compares nothing before). deja's "
  "decode and ORB of the next frame run on a second thread while the detector works, so its whole "
  "frame is less than the sum when the pipeline is busy. Events and scores: `deja eval` (deja: the "
  "exact curve over the inlier threshold, operating point 40 inliers; baseline: its events file, every "
  "frame's best cosine similarity, operating point 0.8).\n")

w(f"## Scaling: time and memory per frame against frame count\n")
w(f"deja: `deja run --world {n_long} --blocks 8 --seed 7` (a generated sequence rendered in-process, "
  "vocabulary from another generated world). Baseline: the 10^4-frame generated sequence listed "
  f"again and again, for {budget} s (`--time-budget`). Windows are the 500 frames before each count.\n")
w("| frames | deja detector ms (transform + query + verify) | deja whole frame ms | deja resident MB | "
  "baseline compare ms | baseline whole frame ms | baseline resident MB |")
w("|---:|---:|---:|---:|---:|---:|---:|")
for mk in sorted(set(marks + base_marks)):
    dd = (f(window(dl, mk, det_key), 3), f(window(dl, mk, "total_ms")),
          f(dl[mk - 1]["rss_kb"] / 1024, 1)) if mk <= n_long else ("-",) * 3
    bb = (f(window(bl, mk, "compare_ms"), 3), f(window(bl, mk, "total_ms")),
          f(bl[mk - 1]["rss_kb"] / 1024, 1)) if mk <= base_reached else ("-",) * 3
    w(f"| {mk:,} | " + " | ".join(dd + bb) + " |")
w("")
w(f"deja: peak RSS {f(peak_mb('deja-long.time'), 1)} MB, {f(growth_kb(dl, 1000), 1)} KB per frame "
  f"from frame 1,000 (the in-process world renderer's textures, ~300 MB, are the constant part, so "
  f"compare the slopes of the memory chart, not the levels); the whole run took "
  f"{f(wall('deja-long.time') / 60, 1)} min. The baseline's summary line: `{base_long_txt}`\n")
w("![time per frame](scaling-time.png)\n")
w("![deja alone](scaling-time-deja.png)\n")
w("![resident memory](scaling-memory.png)\n")

w("## Instruction counts (callgrind)\n")
w(f"`valgrind --tool=callgrind deja run --threads 1` over the first {cg_frames} frames of "
  "tum-fr1-xyz; inclusive instructions per frame, which do not depend on the machine's load.\n")
w("| stage | instructions per frame |")
w("|---|---:|")
for label, fn in cg_rows:
    v = ir(fn)
    w(f"| {label} (`{fn}`) | {'-' if v != v else f'{v / 1e6:.2f} M'} |")
w("")

w("## Raw outputs of this run\n")
w("### ORB: deja vs OpenCV 4.6 (`bench/orb_vs_opencv`)\n")
w(orb_md.strip() + "\n")
w("### OpenCV BoW vs deja's tree (`bench/opencv_bow`)\n")
w(bow_md.strip() + "\n")
w("### Vocabulary load: .dvoc (mmap) vs DBoW2 text (`bench/vocab_load`)\n")
w("```\n" + vl.strip() + "\n```\n")
w("### BoW transform per frame (`bench/bow_transform`)\n")
w(read("bow.md").strip() + "\n")
w("## How each benchmark works\n")
w("- `bench/orb_vs_opencv.cpp`: our ORB against `cv::ORB` with the same parameters on the same decoded "
  "frames, alternating frame by frame; repeatability and matching on the same warps. See docs/orb.md.")
w("- `bench/vocab_load.c`: a 10^6-word tree saved as `.dvoc` (loaded by mmap + validation) and as "
  "DBoW2 text (parsed by our own importer, faster than DBoW2's, so a conservative peer).")
w("- `bench/bow_transform.c`: the BoW transform of real ORB descriptors per kernel set.")
w("- `bench/opencv_bow.cpp`: OpenCV's `BOWKMeansTrainer` and `BOWImgDescriptorExtractor` (FLANN and "
  "BF) against deja's tree on the same OpenCV ORB descriptors. See docs/baseline.md.")
w("- `bench/baseline.py`: the baseline row, the write-up's approach in Python (OpenCV ORB, a 1000-word "
  "k-means vocabulary built once, a BoW histogram per frame, cosine against every earlier frame). "
  "See docs/baseline.md.")
w("- `bench/plot_scaling.c`: the charts above, drawn with deja's own plotting code.")
w("- `bench/results`: the loop-detection table of docs/results.md; `bench/scaling`: the 10^5-frame run alone.")
print("\n".join(out))
