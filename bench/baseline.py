#!/usr/bin/python3
"""baseline.py - the Python baseline: brute-force bag-of-words loop-closure detection.

The approach deja replaces, written as a reasonable Python user would write it with OpenCV and
numpy (Debian's python3-opencv and python3-numpy only):

  once:      ORB descriptors of the training images -> cv2.BOWKMeansTrainer (k-means on the
             descriptors converted to float32) -> a flat vocabulary of K words
  per frame: cv2.imread (grey) -> cv2.ORB (1000 features, 8 levels, scale 1.2)
             -> BoW histogram: nearest word of each descriptor (cv2.BFMatcher, L2), word counts
                over the descriptor count, as cv2.BOWImgDescriptorExtractor computes it
             -> similarity (cosine, or L1) with EVERY earlier histogram but the last --exclude
                frames, one numpy product over a growing matrix
             -> a loop candidate when the best similarity reaches --threshold
             (no geometric verification)

Usage: bench/baseline.py [options] SEQUENCE
  SEQUENCE: a folder of images (file-name order), a folder with images/ (../shared/data,
  deja synth), or a list file (one image path a line, relative to the list's folder).
Prints one summary line; --csv writes per-frame times and memory, --events the best candidate
of every frame in the format `deja eval --events` reads. See docs/baseline.md.
"""

import argparse
import os
import resource
import sys
import time

import cv2
import numpy as np

IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".pgm", ".ppm")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024
HERE = os.path.dirname(os.path.abspath(__file__))


def rss_kb():
    """Resident set size now, from /proc/self/statm (second field, in pages)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE_KB


def list_images(path):
    """Image paths of a sequence in frame order; exits with a message on bad input."""
    if os.path.isfile(path):
        base = os.path.dirname(os.path.abspath(path))
        out = []
        with open(path) as f:
            for n, line in enumerate(f, 1):
                fields = line.split()
                if not fields or fields[0].startswith("#"):
                    continue
                p = fields[-1]  # "path" or "timestamp path"
                p = p if os.path.isabs(p) else os.path.join(base, p)
                if not os.path.isfile(p):
                    sys.exit(f"baseline: {path} line {n}: no such image {p}")
                out.append(p)
        return out
    if not os.path.isdir(path):
        sys.exit(f"baseline: {path}: not a folder or list file")
    if os.path.isdir(os.path.join(path, "images")):
        path = os.path.join(path, "images")
    names = [n for n in os.listdir(path)
             if n.lower().endswith(IMAGE_EXTS) and not n.startswith(".")]
    names.sort(key=os.fsencode)  # strcmp order, as deja's folder reader
    return [os.path.join(path, n) for n in names]


def make_orb():
    # cv2.ORB_create(1000): 1000 features, 8 levels, scale 1.2, FAST 20, Harris ranking.
    return cv2.ORB_create(1000)


def train_vocabulary(images, words, iterations, orb):
    """k-means vocabulary from the ORB descriptors of the training images, once."""
    trainer = cv2.BOWKMeansTrainer(
        words, (cv2.TERM_CRITERIA_MAX_ITER | cv2.TERM_CRITERIA_EPS, iterations, 1e-3), 1,
        cv2.KMEANS_PP_CENTERS)
    n = 0
    for p in images:
        im = cv2.imread(p, cv2.IMREAD_GRAYSCALE)
        if im is None:
            sys.exit(f"baseline: cannot read training image {p}")
        _, d = orb.detectAndCompute(im, None)
        if d is not None:
            trainer.add(d.astype(np.float32))
            n += len(d)
    if n < words:
        sys.exit(f"baseline: {n} training descriptors for {words} words")
    return trainer.cluster(), n


class Assigner:
    """Nearest vocabulary word of each descriptor (float32 rows)."""

    def __init__(self, vocab, how):
        self.vocab, self.how = vocab, how
        if how == "bf":
            self.matcher = cv2.BFMatcher(cv2.NORM_L2)
        elif how == "flann":  # kd-trees, approximate (OpenCV's defaults: 4 trees, 32 checks)
            self.matcher = cv2.FlannBasedMatcher(dict(algorithm=1, trees=4), dict(checks=32))
        else:
            self.matcher = None
            self.vocab_sq = (vocab * vocab).sum(1)
        if self.matcher is not None:
            self.matcher.add([vocab])
            self.matcher.train()

    def words(self, desc):
        if self.matcher is None:  # argmin |c|^2 - 2 x.c
            return np.argmin(self.vocab_sq[None, :] - 2.0 * (desc @ self.vocab.T), axis=1)
        return np.fromiter((m.trainIdx for m in self.matcher.match(desc)), np.int64, len(desc))


def blas_name():
    """The BLAS numpy's products go through: the libblas.so.3 mapped into this process (Debian
    switches it between the reference BLAS and OpenBLAS with update-alternatives)."""
    try:
        with open("/proc/self/maps") as f:
            libs = {os.path.realpath(l.split()[-1]) for l in f
                    if os.path.basename(l.split()[-1]).startswith("libblas")}
    except OSError:
        return "unknown"
    names = sorted({"reference" if os.path.basename(os.path.dirname(l)) == "blas"
                    else os.path.basename(os.path.dirname(l)) for l in libs})
    return "+".join(names) or "none"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("sequence")
    ap.add_argument("--vocab-images",
                    default=os.path.join(HERE, "../../shared/data/vocab-train/images"),
                    help="training images (folder or list); default "
                    "../shared/data/vocab-train/images")
    ap.add_argument("--words", type=int, default=1000, help="vocabulary size K (default 1000)")
    ap.add_argument("--kmeans-iters", type=int, default=10, help="k-means iterations (default 10)")
    ap.add_argument("--load-vocab", help="use this .npy vocabulary instead of training")
    ap.add_argument("--save-vocab", help="write the trained vocabulary here (.npy)")
    ap.add_argument("--assign", choices=("bf", "flann", "numpy"), default="bf",
                    help="nearest word: cv2.BFMatcher L2 (default, exact), FLANN kd-trees, numpy")
    ap.add_argument("--similarity", choices=("cosine", "l1"), default="cosine",
                    help="cosine of the histograms (default) or DBoW2's L1 score 1 - |a-b|_1/2")
    ap.add_argument("--threshold", type=float, default=0.8, help="loop when best >= this (0.8)")
    ap.add_argument("--exclude", type=int, default=50,
                    help="the frames just before a query that are not compared (default 50)")
    ap.add_argument("--frames", type=int, default=0, help="at most this many frames")
    ap.add_argument("--time-budget", type=float, default=0,
                    help="stop after the frame that passes this many seconds of the loop")
    ap.add_argument("--threads", type=int, default=-1, help="cv2.setNumThreads (default: OpenCV's)")
    ap.add_argument("--csv", help="per-frame times and memory")
    ap.add_argument("--events", help="best candidate of every frame: query match similarity")
    a = ap.parse_args()
    if a.words < 2 or a.kmeans_iters < 1 or a.exclude < 0 or a.frames < 0:
        sys.exit("baseline: --words >= 2, --kmeans-iters >= 1, --exclude >= 0, --frames >= 0")
    if a.threads >= 0:
        cv2.setNumThreads(a.threads)
    cv2.setRNGSeed(1)

    frames = list_images(a.sequence)
    if a.frames:
        frames = frames[:a.frames]
    if not frames:
        sys.exit(f"baseline: no images in {a.sequence}")
    orb = make_orb()

    # The vocabulary is built once, before the loop.
    t0 = time.perf_counter()
    if a.load_vocab:
        vocab, n_train, train_s = np.load(a.load_vocab).astype(np.float32), 0, 0.0
        if vocab.ndim != 2 or vocab.shape[1] != 32 or len(vocab) < 2:
            sys.exit(f"baseline: {a.load_vocab}: shape {vocab.shape}, want (words >= 2, 32)")
    else:
        vocab, n_train = train_vocabulary(list_images(a.vocab_images), a.words, a.kmeans_iters, orb)
        train_s = time.perf_counter() - t0
        if a.save_vocab:
            np.save(a.save_vocab, vocab)
    k = len(vocab)
    assigner = Assigner(vocab, a.assign)

    hist = np.zeros((1024, k), np.float32)  # one row per frame; doubles when full
    csv = open(a.csv, "w") if a.csv else None
    if csv:
        csv.write("frame,decode_ms,features_ms,bow_ms,compare_ms,total_ms,rss_kb\n")
    events = []
    times = []  # (decode, features, bow, compare, total) per frame, ms
    peak_rss = 0
    loop_start = time.perf_counter()
    n_done = 0
    for i, path in enumerate(frames):
        t_start = time.perf_counter()
        im = cv2.imread(path, cv2.IMREAD_GRAYSCALE)
        if im is None:
            sys.exit(f"baseline: frame {i}: cannot read {path}")
        t_dec = time.perf_counter()
        _, desc = orb.detectAndCompute(im, None)
        t_feat = time.perf_counter()
        h = np.zeros(k, np.float32)
        if desc is not None and len(desc):
            h = np.bincount(assigner.words(desc.astype(np.float32)), minlength=k).astype(np.float32)
            h /= len(desc)  # as BOWImgDescriptorExtractor: counts over the descriptor count
        if a.similarity == "cosine":
            norm = float(np.linalg.norm(h))
            if norm > 0:
                h /= norm
        if i == len(hist):
            grown = np.zeros((2 * len(hist), k), np.float32)
            grown[:i] = hist
            hist = grown
        hist[i] = h
        t_bow = time.perf_counter()
        n_cand = i - a.exclude
        if n_cand > 0:
            if a.similarity == "cosine":
                sims = hist[:n_cand] @ h
            else:
                sims = 1.0 - 0.5 * np.abs(hist[:n_cand] - h).sum(axis=1)
            best = int(np.argmax(sims))
            events.append((i, best, float(sims[best])))
        t_end = time.perf_counter()
        ms = [(t_dec - t_start) * 1e3, (t_feat - t_dec) * 1e3, (t_bow - t_feat) * 1e3,
              (t_end - t_bow) * 1e3, (t_end - t_start) * 1e3]
        times.append(ms)
        rss = rss_kb()
        peak_rss = max(peak_rss, rss)
        if csv:
            csv.write(f"{i},{ms[0]:.4f},{ms[1]:.4f},{ms[2]:.4f},{ms[3]:.4f},{ms[4]:.4f},{rss}\n")
        n_done = i + 1
        if a.time_budget and t_end - loop_start > a.time_budget:
            break
    loop_s = time.perf_counter() - loop_start
    if csv:
        csv.close()
    if a.events:
        with open(a.events, "w") as f:
            f.write("# baseline.py events: query match similarity (%s, best earlier frame of every "
                    "query); accepted when value >= threshold\n" % a.similarity)
            f.write(f"# threshold {a.threshold:.9g}\n")
            for q, m, v in events:
                f.write(f"{q} {m} {v:.6f}\n")

    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    trained = (f"loaded from {a.load_vocab}" if a.load_vocab else
               f"trained in {train_s:.1f} s on {n_train} descriptors")
    med = np.median(np.array(times), axis=0)
    if n_done > a.exclude + 1:  # compare: over the frames that had earlier frames to compare
        med[3] = np.median(np.array(times[a.exclude + 1:])[:, 3])
    last = np.median(np.array(times[-100:]), axis=0)
    loops = sum(1 for e in events if e[2] >= a.threshold)
    stopped = "" if n_done == len(frames) else f" (stopped by --time-budget {a.time_budget:g} s)"
    print(f"baseline: {n_done}/{len(frames)} frames{stopped} in {loop_s:.1f} s; median ms/frame: "
          f"decode {med[0]:.2f} orb {med[1]:.2f} bow {med[2]:.2f} compare {med[3]:.3f} "
          f"total {med[4]:.2f}; last 100 frames: compare {last[3]:.3f} total {last[4]:.2f}; "
          f"loops {loops} (>= {a.threshold:g}); peak RSS {peak_rss / 1024:.1f} MB after a frame, "
          f"{maxrss / 1024:.1f} MB process maximum; vocabulary {k} words, {a.assign}, {trained}; "
          f"cv2 {cv2.__version__} threads {cv2.getNumThreads()}, numpy {np.__version__} "
          f"blas {blas_name()}")


if __name__ == "__main__":
    main()
