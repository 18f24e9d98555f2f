// orb_vs_opencv.cpp - our ORB (deja_orb_detect) against OpenCV's cv::ORB on real frames.
//
// Both get the same parameters (1000 features, 8 levels, scale 1.2, FAST 20, edge 19, Harris
// ranking, patch 31) and the same decoded frames (cv::imread for both, outside the timing).
// Timing: ours and OpenCV alternate frame by frame, single-threaded OpenCV
// (cv::setNumThreads(1)); then OpenCV again with its default threads. Reports median and p90
// ms/frame. Quality: the same metric code for both on the same synthetic warps of real frames
// (rotation 20 degrees + scale 0.8 about the centre, cv::warpAffine bilinear):
// - repeatability: keypoints of A whose mapped position has a keypoint of B within 2.5 px (and
//   the same from B to A; the smaller count), over min(#A, #B) in the common area (Mikolajczyk
//   et al. 2005);
// - matching: keypoints of A (common area) whose nearest Hamming neighbour in B lies within
//   2.5 px of the mapped position, over #A.
//
// Usage: orb_vs_opencv [--frames N] [--warps N] [--dir DIR]   or   orb_vs_opencv DIR [FRAMES]
//   DIR defaults to <source>/../shared/data/tum-fr1-xyz/images, FRAMES to 200.
#include "bench_util.hpp"
#include "deja.h"

#include <opencv2/core.hpp>
#include <opencv2/core/utility.hpp>
#include <opencv2/features2d.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace
{

struct Kp {
    float x, y;
};

struct Feats {
    std::vector<Kp> kps;
    std::vector<uint8_t> desc; // 32 bytes each
};

using bench::now_ms;
using bench::Stats;
using bench::stats;

cv::Ptr<cv::ORB> make_cv_orb()
{
    return cv::ORB::create(1000, 1.2f, 8, 19, 0, 2, cv::ORB::HARRIS_SCORE, 31, 20);
}

bool run_deja(deja_orb *orb, const cv::Mat &im, Feats *out)
{
    deja_image v{im.cols, im.rows, (int)im.step, im.data};
    deja_features f;
    if (deja_orb_detect(orb, &v, &f) != DEJA_OK) {
        std::fprintf(stderr, "deja: %s\n", deja_orb_error(orb));
        return false;
    }
    if (out) {
        out->kps.resize(f.n);
        for (size_t i = 0; i < f.n; i++)
            out->kps[i] = {f.keypoints[i].x, f.keypoints[i].y};
        const uint8_t *d = (const uint8_t *)f.descriptors;
        out->desc.assign(d, d + f.n * 32);
    }
    return true;
}

size_t run_cv(cv::ORB &orb, const cv::Mat &im, Feats *out)
{
    std::vector<cv::KeyPoint> kp;
    cv::Mat d;
    orb.detectAndCompute(im, cv::noArray(), kp, d);
    if (out) {
        out->kps.resize(kp.size());
        for (size_t i = 0; i < kp.size(); i++)
            out->kps[i] = {kp[i].pt.x, kp[i].pt.y};
        out->desc.resize(kp.size() * 32);
        for (int i = 0; i < d.rows; i++)
            std::memcpy(&out->desc[(size_t)i * 32], d.ptr(i), 32);
    }
    return kp.size();
}

int hamming(const uint8_t *a, const uint8_t *b)
{
    int s = 0;
    for (int i = 0; i < 32; i++)
        s += __builtin_popcount((unsigned)(a[i] ^ b[i]));
    return s;
}

// A maps a point of image 1 to image 2 (2x3, row-major). Common area: a point of 1 whose image
// lies inside 2 with a margin, and a point of 2 whose preimage lies inside 1 likewise.
struct Quality {
    double rep, match;
};

Quality quality(const Feats &a, const Feats &b, const double A[6], int w, int h)
{
    const double margin = 20, tol2 = 2.5 * 2.5;
    double det = A[0] * A[4] - A[1] * A[3];
    double Ai[6] = {A[4] / det, -A[1] / det, 0, -A[3] / det, A[0] / det, 0};
    Ai[2] = -(Ai[0] * A[2] + Ai[1] * A[5]);
    Ai[5] = -(Ai[3] * A[2] + Ai[4] * A[5]);
    auto inside = [&](double x, double y) {
        return x >= margin && y >= margin && x < w - margin && y < h - margin;
    };
    std::vector<int> ia, ib;
    std::vector<Kp> ma;
    for (size_t i = 0; i < a.kps.size(); i++) {
        double x = A[0] * a.kps[i].x + A[1] * a.kps[i].y + A[2];
        double y = A[3] * a.kps[i].x + A[4] * a.kps[i].y + A[5];
        if (inside(x, y)) ia.push_back((int)i), ma.push_back({(float)x, (float)y});
    }
    for (size_t i = 0; i < b.kps.size(); i++) {
        double x = Ai[0] * b.kps[i].x + Ai[1] * b.kps[i].y + Ai[2];
        double y = Ai[3] * b.kps[i].x + Ai[4] * b.kps[i].y + Ai[5];
        if (inside(x, y)) ib.push_back((int)i);
    }
    if (ia.empty() || ib.empty()) return {0, 0};
    // Repeated in both directions; the smaller count, so that duplicates (one corner kept at
    // several octaves) are not counted twice.
    size_t rep = 0, rep_b = 0, match = 0;
    for (int j : ib) {
        bool near = false;
        for (size_t k = 0; k < ia.size() && !near; k++) {
            double dx = b.kps[j].x - ma[k].x, dy = b.kps[j].y - ma[k].y;
            near = dx * dx + dy * dy <= tol2;
        }
        rep_b += near;
    }
    for (size_t k = 0; k < ia.size(); k++) {
        bool near = false;
        int best = -1, bestd = 1 << 30;
        for (int j : ib) {
            double dx = b.kps[j].x - ma[k].x, dy = b.kps[j].y - ma[k].y;
            near = near || dx * dx + dy * dy <= tol2;
            int d = hamming(&a.desc[(size_t)ia[k] * 32], &b.desc[(size_t)j * 32]);
            if (d < bestd) bestd = d, best = j;
        }
        rep += near;
        double dx = b.kps[best].x - ma[k].x, dy = b.kps[best].y - ma[k].y;
        match += dx * dx + dy * dy <= tol2;
    }
    return {(double)std::min(rep, rep_b) / (double)std::min(ia.size(), ib.size()),
            (double)match / (double)ia.size()};
}

} // namespace

int main(int argc, char **argv)
{
    int n_frames = 200, n_warps = 40;
    std::string dir = std::string(DEJA_SOURCE_DIR) + "/../shared/data/tum-fr1-xyz/images";
    for (int i = 1; i < argc; i++) {
        if (!std::strcmp(argv[i], "--frames") && i + 1 < argc)
            n_frames = std::atoi(argv[++i]);
        else if (!std::strcmp(argv[i], "--warps") && i + 1 < argc)
            n_warps = std::atoi(argv[++i]);
        else if (!std::strcmp(argv[i], "--dir") && i + 1 < argc)
            dir = argv[++i];
        else if (argv[i][0] != '-' && i == 1) // bench/run passes DIR FRAMES
            dir = argv[i];
        else if (argv[i][0] != '-' && i == 2)
            n_frames = std::atoi(argv[i]);
        else {
            std::fprintf(stderr, "usage: orb_vs_opencv [--frames N] [--warps N] [--dir DIR] | "
                                 "DIR [FRAMES]\n");
            return 2;
        }
    }
    std::vector<cv::String> files;
    cv::glob(dir + "/*.jpg", files);
    if (files.empty()) {
        std::fprintf(stderr, "no .jpg frames in %s\n", dir.c_str());
        return 1;
    }
    // Frames spread over the sequence.
    std::vector<cv::Mat> frames;
    size_t n = std::min(files.size(), (size_t)n_frames);
    for (size_t i = 0; i < n; i++) {
        cv::Mat im = cv::imread(files[i * files.size() / n], cv::IMREAD_GRAYSCALE);
        if (im.empty()) {
            std::fprintf(stderr, "cannot read %s\n", files[i].c_str());
            return 1;
        }
        frames.push_back(im);
    }

    deja_options o = deja_options_default();
    deja_orb *ours = nullptr, *ours_scalar = nullptr;
    if (deja_orb_create(&o, &ours) != DEJA_OK) {
        std::fprintf(stderr, "deja_orb_create: %s\n", deja_last_error());
        return 1;
    }
    o.simd = DEJA_SIMD_SCALAR;
    if (deja_orb_create(&o, &ours_scalar) != DEJA_OK) return 1;
    cv::Ptr<cv::ORB> cvorb = make_cv_orb();
    const int default_threads = cv::getNumThreads();

    // Warm-up: buffers, caches, OpenCV's thread pool.
    for (int i = 0; i < 3; i++) {
        run_deja(ours, frames[0], nullptr);
        run_deja(ours_scalar, frames[0], nullptr);
        run_cv(*cvorb, frames[0], nullptr);
    }
    std::vector<double> t_deja, t_scalar, t_cv1, t_cvn;
    double kp_deja = 0, kp_cv = 0;
    cv::setNumThreads(1);
    for (const cv::Mat &im : frames) {
        Feats f;
        double a = now_ms();
        if (!run_deja(ours, im, &f)) return 1;
        double b = now_ms();
        size_t k = run_cv(*cvorb, im, nullptr);
        double c = now_ms();
        if (!run_deja(ours_scalar, im, nullptr)) return 1;
        double d = now_ms();
        t_deja.push_back(b - a), t_cv1.push_back(c - b), t_scalar.push_back(d - c);
        kp_deja += (double)f.kps.size(), kp_cv += (double)k;
    }
    cv::setNumThreads(default_threads);
    for (const cv::Mat &im : frames) {
        double a = now_ms();
        run_cv(*cvorb, im, nullptr);
        t_cvn.push_back(now_ms() - a);
    }
    cv::setNumThreads(1);

    // Quality on warps of real frames.
    double rep_deja = 0, rep_cv = 0, match_deja = 0, match_cv = 0;
    int nw = 0;
    for (size_t i = 0; i < frames.size() && nw < n_warps;
         i += std::max<size_t>(1, frames.size() / n_warps), nw++) {
        const cv::Mat &im = frames[i];
        cv::Mat M = cv::getRotationMatrix2D(cv::Point2f(im.cols / 2.0f, im.rows / 2.0f), 20, 0.8);
        cv::Mat warped;
        cv::warpAffine(im, warped, M, im.size(), cv::INTER_LINEAR, cv::BORDER_CONSTANT, 0);
        double A[6];
        for (int k = 0; k < 6; k++)
            A[k] = M.at<double>(k / 3, k % 3);
        Feats a, b, ca, cb;
        run_deja(ours, im, &a);
        run_deja(ours, warped, &b);
        run_cv(*cvorb, im, &ca);
        run_cv(*cvorb, warped, &cb);
        Quality qd = quality(a, b, A, im.cols, im.rows), qc = quality(ca, cb, A, im.cols, im.rows);
        rep_deja += qd.rep, match_deja += qd.match, rep_cv += qc.rep, match_cv += qc.match;
    }

    Stats sd = stats(t_deja), ss = stats(t_scalar), s1 = stats(t_cv1), sn = stats(t_cvn);
    std::printf("frames: %zu of %s (%dx%d); warps: %d; OpenCV %s, default threads %d; deja "
                "kernels %s\n\n",
                frames.size(), dir.c_str(), frames[0].cols, frames[0].rows, nw, CV_VERSION,
                default_threads, deja_simd_name(deja_simd_detect()));
    std::printf("| extractor | median ms/frame | p90 ms/frame | keypoints/frame | repeatability "
                "| matching |\n|---|---|---|---|---|---|\n");
    std::printf("| deja ORB (%s) | %.2f | %.2f | %.0f | %.3f | %.3f |\n",
                deja_simd_name(deja_simd_detect()), sd.median, sd.p90, kp_deja / frames.size(),
                rep_deja / nw, match_deja / nw);
    std::printf("| deja ORB (scalar kernels) | %.2f | %.2f | | | |\n", ss.median, ss.p90);
    std::printf("| OpenCV ORB, 1 thread | %.2f | %.2f | %.0f | %.3f | %.3f |\n", s1.median, s1.p90,
                kp_cv / frames.size(), rep_cv / nw, match_cv / nw);
    std::printf("| OpenCV ORB, %d threads | %.2f | %.2f | | | |\n", default_threads, sn.median,
                sn.p90);
    std::printf("\nspeed-up of deja over OpenCV 1 thread: %.2fx (median), %.2fx (p90); over "
                "OpenCV %d threads: %.2fx (median)\n",
                s1.median / sd.median, s1.p90 / sd.p90, default_threads, sn.median / sd.median);
    deja_orb_destroy(ours);
    deja_orb_destroy(ours_scalar);
    return 0;
}
