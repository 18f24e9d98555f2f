// opencv_bow.cpp - OpenCV's bag-of-words (cv::BOWKMeansTrainer + cv::BOWImgDescriptorExtractor)
// against deja's vocabulary tree: training time and transform time per frame, same run, same
// descriptors.
//
// Descriptors: OpenCV's ORB (1000 features, 8 levels, scale 1.2) of the training images and of
// the frames, extracted once outside the timing; both libraries get the same ones (OpenCV as
// float32 rows, as its k-means needs; deja as the 32-byte binary strings).
// - OpenCV: flat k-means vocabulary (k-means++ seeding, at most --iters iterations, 1 attempt,
//   OpenCV's default threads) of each size in --words; transform = BOWImgDescriptorExtractor
//   with a FLANN matcher (OpenCV's defaults: 4 kd-trees, 32 checks) and with a brute-force L2
//   matcher, including the uint8 -> float conversion of the frame's descriptors.
// - deja: hierarchical k-means, k=10 and L=3, 4, 6 (the default; as many words as the training
//   set fills), same iteration cap; transform = deja_bow_transform (direct index at level 2).
// Transforms are timed single-threaded (cv::setNumThreads(1)), the methods alternating frame by
// frame; 5 warm-up frames each (FLANN builds its index there: timed apart).
//
// Usage: opencv_bow [--train DIR] [--dir DIR] [--frames N] [--words 1000,10000] [--iters N]
//   --train defaults to <source>/../shared/data/vocab-train/images, --dir to
//   <source>/../shared/data/tum-fr1-xyz/images, --frames to 200. Prints Markdown tables.
#include "bench_util.hpp"
#include "deja.h"

#include <opencv2/core.hpp>
#include <opencv2/core/utility.hpp>
#include <opencv2/features2d.hpp>
#include <opencv2/imgcodecs.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace
{

using bench::now_ms;
using bench::Stats;
using bench::stats;

// ORB descriptors (CV_8U, n x 32) of the images matching pattern in dir, n_max spread over them.
bool load_descriptors(const std::string &dir, size_t n_max, std::vector<cv::Mat> *out)
{
    std::vector<cv::String> files, more;
    for (const char *ext : {"*.png", "*.jpg", "*.pgm"}) {
        cv::glob(dir + "/" + ext, more, false);
        files.insert(files.end(), more.begin(), more.end());
    }
    std::sort(files.begin(), files.end());
    if (files.empty()) {
        std::fprintf(stderr, "opencv_bow: no .png/.jpg/.pgm images in %s\n", dir.c_str());
        return false;
    }
    cv::Ptr<cv::ORB> orb = cv::ORB::create(1000, 1.2f, 8);
    size_t n = std::min(files.size(), n_max);
    for (size_t i = 0; i < n; i++) {
        const cv::String &f = files[i * files.size() / n];
        cv::Mat im = cv::imread(f, cv::IMREAD_GRAYSCALE), d;
        if (im.empty()) {
            std::fprintf(stderr, "opencv_bow: cannot read %s\n", f.c_str());
            return false;
        }
        std::vector<cv::KeyPoint> kp;
        orb->detectAndCompute(im, cv::noArray(), kp, d);
        if (d.rows > 0) out->push_back(d);
    }
    return !out->empty();
}

deja_features as_deja(const cv::Mat &d)
{
    deja_features f{};
    f.n = (size_t)d.rows;
    f.descriptors = d.data;
    f.kind = DEJA_DESC_BINARY;
    f.desc_bytes = 32;
    return f;
}

// One way of turning a frame's descriptors into a BoW vector, timed per frame.
struct Method {
    std::string vocabulary, transform;
    uint32_t words = 0;
    double train_s = 0, first_ms = 0;
    std::vector<double> ms;
    double overlap = -1; // histogram overlap with the BF matcher on the same vocabulary
    cv::Ptr<cv::BOWImgDescriptorExtractor> cv_bow;
    deja_bow *bow = nullptr;
    cv::Mat last; // last histogram (OpenCV)
};

bool run(Method &m, const cv::Mat &d)
{
    if (m.cv_bow) {
        cv::Mat f;
        d.convertTo(f, CV_32F);
        m.cv_bow->compute(f, m.last);
        return !m.last.empty();
    }
    deja_features f = as_deja(d);
    deja_bow_result r;
    if (deja_bow_transform(m.bow, &f, 2, &r) != DEJA_OK) {
        std::fprintf(stderr, "deja_bow_transform: %s\n", deja_bow_error(m.bow));
        return false;
    }
    return true;
}

std::vector<int> parse_list(const char *s)
{
    std::vector<int> v;
    for (const char *p = s; *p;) {
        char *e;
        long x = std::strtol(p, &e, 10);
        if (e == p || x < 2 || x > 1000000) return {};
        v.push_back((int)x);
        p = *e == ',' ? e + 1 : e;
        if (*e && *e != ',') return {};
    }
    return v;
}

} // namespace

int main(int argc, char **argv)
{
    std::string src = DEJA_SOURCE_DIR;
    std::string train_dir = src + "/../shared/data/vocab-train/images";
    std::string dir = src + "/../shared/data/tum-fr1-xyz/images";
    int n_frames = 200, iters = 10;
    std::vector<int> sizes = {1000, 10000};
    for (int i = 1; i < argc; i++) {
        bool more = i + 1 < argc;
        if (!std::strcmp(argv[i], "--train") && more)
            train_dir = argv[++i];
        else if (!std::strcmp(argv[i], "--dir") && more)
            dir = argv[++i];
        else if (!std::strcmp(argv[i], "--frames") && more)
            n_frames = std::atoi(argv[++i]);
        else if (!std::strcmp(argv[i], "--iters") && more)
            iters = std::atoi(argv[++i]);
        else if (!std::strcmp(argv[i], "--words") && more)
            sizes = parse_list(argv[++i]);
        else {
            std::fprintf(stderr, "usage: opencv_bow [--train DIR] [--dir DIR] [--frames N] "
                                 "[--words 1000,10000] [--iters N]\n");
            return 2;
        }
    }
    if (n_frames < 1 || iters < 1 || sizes.empty()) {
        std::fprintf(stderr,
                     "opencv_bow: --frames >= 1, --iters >= 1, --words a list of 2..10^6\n");
        return 2;
    }

    std::vector<cv::Mat> train, frames;
    if (!load_descriptors(train_dir, 100000, &train) ||
        !load_descriptors(dir, (size_t)n_frames, &frames))
        return 1;
    size_t n_train = 0;
    for (const cv::Mat &d : train)
        n_train += (size_t)d.rows;
    double frame_desc = 0;
    for (const cv::Mat &d : frames)
        frame_desc += d.rows;
    frame_desc /= (double)frames.size();
    const int default_threads = cv::getNumThreads();

    std::vector<std::unique_ptr<Method>> methods;
    // OpenCV: flat k-means vocabularies, FLANN and BF transforms.
    for (int k : sizes) {
        if ((size_t)k > n_train) {
            std::fprintf(stderr, "opencv_bow: %d words > %zu training descriptors\n", k, n_train);
            return 1;
        }
        cv::setNumThreads(default_threads);
        cv::setRNGSeed(1);
        cv::BOWKMeansTrainer trainer(
            k, cv::TermCriteria(cv::TermCriteria::COUNT | cv::TermCriteria::EPS, iters, 1e-3), 1,
            cv::KMEANS_PP_CENTERS);
        double t0 = now_ms();
        for (const cv::Mat &d : train) {
            cv::Mat f;
            d.convertTo(f, CV_32F);
            trainer.add(f);
        }
        cv::Mat vocab = trainer.cluster();
        double train_s = (now_ms() - t0) / 1e3;
        std::fprintf(stderr, "opencv_bow: OpenCV k-means, %d words: %.1f s\n", k, train_s);
        for (int bf = 0; bf < 2; bf++) {
            auto m = std::make_unique<Method>();
            m->vocabulary = "OpenCV BOWKMeansTrainer, flat k-means";
            m->transform = bf ? "BOWImgDescriptorExtractor + BFMatcher (L2)"
                              : "BOWImgDescriptorExtractor + FlannBasedMatcher";
            m->words = (uint32_t)k;
            m->train_s = train_s;
            cv::Ptr<cv::DescriptorMatcher> matcher;
            if (bf)
                matcher = cv::makePtr<cv::BFMatcher>(cv::NORM_L2);
            else
                matcher = cv::makePtr<cv::FlannBasedMatcher>();
            m->cv_bow = cv::makePtr<cv::BOWImgDescriptorExtractor>(matcher);
            m->cv_bow->setVocabulary(vocab);
            methods.push_back(std::move(m));
        }
    }
    // deja: vocabulary trees on the same descriptors.
    std::vector<deja_features> sets;
    for (const cv::Mat &d : train)
        sets.push_back(as_deja(d));
    deja_options o = deja_options_default();
    std::vector<deja_vocab *> vocabs;
    for (uint32_t depth : {3u, 4u, 6u}) {
        deja_vocab_params p = deja_vocab_params_default();
        p.k = 10;
        p.depth = depth;
        p.max_iterations = (uint32_t)iters;
        deja_vocab *v;
        double t0 = now_ms();
        if (deja_vocab_train(&o, &p, sets.data(), sets.size(), &v) != DEJA_OK) {
            std::fprintf(stderr, "deja_vocab_train: %s\n", deja_last_error());
            return 1;
        }
        double train_s = (now_ms() - t0) / 1e3;
        vocabs.push_back(v);
        deja_vocab_info info;
        deja_vocab_get_info(v, &info);
        auto m = std::make_unique<Method>();
        m->vocabulary = "deja vocabulary tree, k=10 L=" + std::to_string(depth) +
                        (depth == 6 ? " (default)" : "");
        m->transform =
            std::string("deja_bow_transform (") + deja_simd_name(deja_simd_detect()) + ")";
        m->words = info.n_words;
        m->train_s = train_s;
        if (deja_bow_create(&o, v, &m->bow) != DEJA_OK) {
            std::fprintf(stderr, "deja_bow_create: %s\n", deja_last_error());
            return 1;
        }
        methods.push_back(std::move(m));
    }

    // Transforms: single-threaded, alternating frame by frame; warm-up first.
    cv::setNumThreads(1);
    for (auto &m : methods) {
        double t0 = now_ms();
        if (!run(*m, frames[0])) return 1;
        m->first_ms = now_ms() - t0;
        for (int w = 0; w < 4; w++)
            if (!run(*m, frames[(size_t)w % frames.size()])) return 1;
    }
    std::vector<double> overlap(methods.size(), 0);
    for (const cv::Mat &d : frames) {
        for (auto &m : methods) {
            double t0 = now_ms();
            if (!run(*m, d)) return 1;
            m->ms.push_back(now_ms() - t0);
        }
        // FLANN (even index) against BF (the next) on the same vocabulary: shared histogram mass.
        for (size_t i = 0; i + 1 < methods.size(); i += 2) {
            if (!methods[i]->cv_bow || !methods[i + 1]->cv_bow) break;
            cv::Mat lo = cv::min(methods[i]->last, methods[i + 1]->last);
            overlap[i] += cv::sum(lo)[0];
        }
    }
    for (size_t i = 0; i < methods.size(); i++)
        if (methods[i]->cv_bow && i % 2 == 0)
            methods[i]->overlap = overlap[i] / (double)frames.size();

    const Method &ref = *methods.back(); // deja's default tree
    double ref_med = stats(ref.ms).median;
    std::printf("training: %zu ORB descriptors (OpenCV ORB, 1000 features) of %zu images in %s; "
                "k-means++ seeding, at most %d iterations, 1 attempt; OpenCV %s with %d threads, "
                "deja with %d\n\n",
                n_train, train.size(), train_dir.c_str(), iters, CV_VERSION, default_threads,
                o.n_threads ? o.n_threads : (int)std::min(8u, std::thread::hardware_concurrency()));
    std::printf("transform: %zu frames of %s, %.0f descriptors per frame (OpenCV ORB), "
                "1 thread, median of %zu\n\n",
                frames.size(), dir.c_str(), frame_desc, frames.size());
    std::printf("| vocabulary | words | training s | transform | first call ms | median ms/frame "
                "| p90 ms/frame | median / deja default |\n|---|---|---|---|---|---|---|---|\n");
    for (const auto &m : methods) {
        Stats s = stats(m->ms);
        std::printf("| %s | %u | %.2f | %s | %.2f | %.3f | %.3f | %.1fx |\n", m->vocabulary.c_str(),
                    m->words, m->train_s, m->transform.c_str(), m->first_ms, s.median, s.p90,
                    s.median / ref_med);
    }
    // Each OpenCV transform against the deja tree with the nearest word count.
    std::printf("\nsame-size ratios (median OpenCV / median deja, nearest word count):");
    for (const auto &m : methods) {
        if (!m->cv_bow) continue;
        const Method *best = nullptr;
        for (const auto &d : methods)
            if (!d->cv_bow && (!best || std::abs((double)d->words - m->words) <
                                            std::abs((double)best->words - m->words)))
                best = d.get();
        if (best)
            std::printf(" %u words %s: %.0fx;", m->words,
                        m->transform.find("BF") != std::string::npos ? "BF" : "FLANN",
                        stats(m->ms).median / stats(best->ms).median);
    }
    std::printf("\n");
    std::printf("\nFLANN against BF on the same vocabulary (histogram mass in common, 1 = same "
                "words):");
    for (const auto &m : methods)
        if (m->overlap >= 0) std::printf(" %u words %.3f;", m->words, m->overlap);
    std::printf("\n");
    for (auto &m : methods)
        deja_bow_destroy(m->bow);
    for (deja_vocab *v : vocabs)
        deja_vocab_destroy(v);
    return 0;
}
