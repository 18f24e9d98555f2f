// dnn_vs_opencv.cpp - deja's ONNX engine (src/onnx/engine.h) against OpenCV's DNN module
// (cv::dnn::readNetFromONNX, default backend and CPU target) on the same .onnx files, in the same
// process, on the same input tensors.
//
// For each model (alike-t, alike-n, mobilenetv1-0.25-gem) and input size (640x480, and 320x256
// for ALIKE or 320x224 for MobileNet, as their READMEs suggest), with 1 and 2 threads (ours:
// engine params; OpenCV: cv::setNumThreads): 3 warm-up inferences each, then REPS timed
// inferences alternating ours / OpenCV; the median and p90 of each. Ours also counts allocator
// calls during the timed runs (the engine allocates only at create). The outputs of both are
// compared (max |ours - OpenCV|), so both do the same work.
//
// Peak memory: each (model, size, runtime) runs once more in a child process of this program
// (--mem), which reads VmHWM (/proc/self/status) after loading its input and again after 5
// inferences with 2 threads: the growth is what loading the model, planning and running cost.
//
// OpenCV 4.6 does not read the models as shipped (opencv_copy below lists why), so it gets a
// copy of each file rewritten to what its importer takes, with the same arithmetic: Clip with
// min/max attributes, the input's H and W fixed, MobileNet's final L2 normalisation before its
// Flatten instead of after. Weights and every other node are kept byte for byte.
//
// Usage: dnn_vs_opencv [--reps N] [--models DIR]     (DIR defaults to <source>/../shared/models)
//        dnn_vs_opencv --mem ours|opencv MODEL.onnx W H     (one memory measurement)
#include "bench_util.hpp"
extern "C" {
#include "engine.h"
#include "pb.h"
}

#include <opencv2/core.hpp>
#include <opencv2/core/utility.hpp>
#include <opencv2/dnn.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

namespace
{

std::string opencv_copy(const std::string &path, int w, int h, bool *cut); // below

using bench::now_ms;
using bench::Stats;
using bench::stats;

// Counting allocator for ours.
struct Counter {
    size_t calls;
};

void *count_alloc(void *user, size_t bytes)
{
    static_cast<Counter *>(user)->calls++;
    return std::malloc(bytes);
}

void count_free(void *, void *p, size_t)
{
    std::free(p);
}

// A deterministic input in [0, 1): the values do not change the work of either runtime.
std::vector<float> make_input(int w, int h)
{
    std::vector<float> x((size_t)3 * (size_t)w * (size_t)h);
    uint64_t s = 12345;
    for (float &v : x) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        v = (float)(s >> 40) / (float)(1 << 24);
    }
    return x;
}

long vm_kb(const char *field)
{
    FILE *f = std::fopen("/proc/self/status", "r");
    if (!f) return -1;
    char line[256];
    long kb = -1;
    size_t n = std::strlen(field);
    while (std::fgets(line, sizeof line, f))
        if (std::strncmp(line, field, n) == 0 && line[n] == ':') kb = std::atol(line + n + 1);
    std::fclose(f);
    return kb;
}

struct Ours {
    Counter counter{0};
    deja__onnx_engine *e = nullptr;
    std::vector<deja__onnx_output> outs;

    bool open(const std::string &path, int w, int h, int threads)
    {
        deja_options o = deja_options_default();
        o.allocator = deja_allocator{count_alloc, count_free, &counter};
        deja__onnx_engine_params p{threads, nullptr, 0};
        const int64_t dims[4] = {1, 3, h, w};
        char err[DEJA_ERROR_BYTES];
        if (deja__onnx_engine_load(&o, path.c_str(), dims, &p, &e, err) != DEJA_OK) {
            std::fprintf(stderr, "deja: %s\n", err);
            return false;
        }
        outs.resize(deja__onnx_engine_n_outputs(e));
        return true;
    }
    bool run(const float *x)
    {
        return deja__onnx_engine_run(e, x, outs.data()) == DEJA_OK;
    }
    ~Ours()
    {
        deja__onnx_engine_destroy(e);
    }
};

struct OpenCV {
    cv::dnn::Net net;
    std::vector<cv::String> names;
    std::vector<cv::Mat> outs;
    cv::Mat blob;

    bool open(const std::string &path, int w, int h, const float *x)
    {
        try {
            net = cv::dnn::readNetFromONNX(path);
            net.setPreferableBackend(cv::dnn::DNN_BACKEND_OPENCV);
            net.setPreferableTarget(cv::dnn::DNN_TARGET_CPU);
            names = net.getUnconnectedOutLayersNames();
            const int sz[4] = {1, 3, h, w};
            blob = cv::Mat(4, sz, CV_32F, const_cast<float *>(x));
        } catch (const cv::Exception &ex) {
            std::fprintf(stderr, "opencv: %s\n", ex.what());
            return false;
        }
        return true;
    }
    bool run()
    {
        try {
            net.setInput(blob);
            net.forward(outs, names);
        } catch (const cv::Exception &ex) {
            std::fprintf(stderr, "opencv: %s\n", ex.what());
            return false;
        }
        return true;
    }
};

// Largest |ours - OpenCV| over the outputs, matched by name; -1 if shapes differ. normalise:
// OpenCV's one output still needs the L2 normalisation (see rewrite_nodes).
double compare(const Ours &a, OpenCV &b, bool normalise)
{
    if (normalise && b.outs.size() == 1) {
        cv::Mat &o = b.outs[0];
        double n = std::max(cv::norm(o), 1e-12);
        o = o / n;
    }
    double m = 0.0;
    for (const deja__onnx_output &o : a.outs) {
        const cv::Mat *mat = nullptr;
        for (size_t i = 0; i < b.names.size(); i++)
            if (b.names[i] == o.name) mat = &b.outs[i];
        if (!mat && a.outs.size() == 1 && b.outs.size() == 1) mat = &b.outs[0];
        if (!mat || mat->total() != o.count || mat->type() != CV_32F) return -1.0;
        const float *p = mat->ptr<float>();
        for (size_t i = 0; i < o.count; i++)
            m = std::max(m, (double)std::fabs(o.data[i] - p[i]));
    }
    return m;
}

// Child process: the VmHWM growth (kB) of loading, planning and 5 inferences.
int mem_main(const char *which, const char *path, int w, int h)
{
    std::vector<float> x = make_input(w, h);
    long before = vm_kb("VmHWM"), rss0 = vm_kb("VmRSS");
    bool ok = true;
    if (std::strcmp(which, "ours") == 0) {
        Ours o;
        ok = o.open(path, w, h, 2);
        for (int i = 0; ok && i < 5; i++)
            ok = o.run(x.data());
    } else {
        cv::setNumThreads(2);
        OpenCV o;
        bool cut;
        std::string cv_path = opencv_copy(path, w, h, &cut);
        ok = !cv_path.empty() && o.open(cv_path, w, h, x.data());
        if (!cv_path.empty()) unlink(cv_path.c_str());
        for (int i = 0; ok && i < 5; i++)
            ok = o.run();
    }
    long after = vm_kb("VmHWM");
    std::printf("%ld %ld %ld\n", before, rss0, after);
    return ok ? 0 : 1;
}

// Runs this program with --mem in a child; the peak growth in kB, or -1.
long child_mem(const char *self, const char *which, const std::string &path, int w, int h)
{
    char cmd[2048];
    std::snprintf(cmd, sizeof cmd, "'%s' --mem %s '%s' %d %d", self, which, path.c_str(), w, h);
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    long before = -1, rss0 = -1, after = -1;
    int n = std::fscanf(p, "%ld %ld %ld", &before, &rss0, &after);
    int st = pclose(p);
    if (n != 3 || st != 0) return -1;
    return after - std::max(before, rss0);
}

// ---- the Clip rewrite for OpenCV ----------------------------------------------------------------

void put_varint(std::string &o, uint64_t v)
{
    do {
        uint8_t b = (uint8_t)(v & 0x7f);
        v >>= 7;
        if (v) b |= 0x80;
        o.push_back((char)b);
    } while (v);
}

void put_len(std::string &o, uint32_t field, const std::string &payload)
{
    put_varint(o, (uint64_t)field << 3 | 2);
    put_varint(o, payload.size());
    o += payload;
}

// AttributeProto {name 1, f 2, type 20 = FLOAT}.
std::string float_attr(const char *name, float v)
{
    std::string a;
    put_len(a, 1, name);
    put_varint(a, 2 << 3 | 5);
    a.append(reinterpret_cast<const char *>(&v), 4);
    put_varint(a, 20 << 3);
    put_varint(a, 1);
    return a;
}

// A NodeProto split into inputs (field 1), outputs (field 2), op_type (4, also kept in `rest`)
// and every other field verbatim.
struct Node {
    std::vector<std::string> in, out;
    std::string op, rest;
};

Node parse_node(const uint8_t *buf, size_t b, size_t e)
{
    deja__pb_reader r;
    deja__pb_init(&r, buf, e);
    r.pos = b;
    deja__pb_field f;
    Node n;
    while (deja__pb_next(&r, &f) == DEJA__PB_FIELD) {
        size_t end = f.wire == DEJA__PB_LEN ? f.data + f.len : r.pos;
        std::string payload(reinterpret_cast<const char *>(buf + f.data),
                            f.wire == DEJA__PB_LEN ? f.len : 0);
        if (f.number == 1 && f.wire == DEJA__PB_LEN)
            n.in.push_back(payload);
        else if (f.number == 2 && f.wire == DEJA__PB_LEN)
            n.out.push_back(payload);
        else
            n.rest.append(reinterpret_cast<const char *>(buf + f.offset), end - f.offset);
        if (f.number == 4 && f.wire == DEJA__PB_LEN) n.op = payload;
    }
    return n;
}

std::string node_bytes(const Node &n)
{
    std::string o;
    for (const std::string &s : n.in)
        put_len(o, 1, s);
    for (const std::string &s : n.out)
        put_len(o, 2, s);
    return o + n.rest;
}

int producer(const std::vector<Node> &nodes, const std::string &value)
{
    for (size_t i = 0; i < nodes.size(); i++)
        for (const std::string &o : nodes[i].out)
            if (o == value) return (int)i;
    return -1;
}

// What OpenCV 4.6 cannot import, rewritten:
// - Clip(x, min, max) -> Clip(x) with min/max attributes (the opset-6 form; same arithmetic);
// - MobileNet's tail Flatten -> ReduceL2 -> Clip -> Div: OpenCV rejects a Div of 1x256 by 1x1
//   (also of 1x256x1x1 by 1x1x1x1: "axis != outShape.size()" in parseMul), so the last three
//   nodes go and the Flatten output takes the graph output's name; the bench L2-normalises
//   OpenCV's 256 values itself, outside the timing (a few hundred flops: OpenCV's timing is
//   favoured by that much). Returns whether the tail was cut.
bool rewrite_nodes(const deja__onnx_model *m, std::vector<Node> &nodes)
{
    const char *names[2] = {"min", "max"};
    for (Node &n : nodes) {
        if (n.op != "Clip" || n.in.size() < 2) continue;
        for (size_t i = 1; i < 3 && i < n.in.size(); i++) {
            if (n.in[i].empty()) continue;
            int32_t v = deja__onnx_find_value(m, n.in[i].c_str());
            const deja__onnx_tensor *t = v >= 0 ? m->values[v].tensor : nullptr;
            if (t && t->dtype == DEJA__ONNX_FLOAT && t->count == 1)
                put_len(n.rest, 5, float_attr(names[i - 1], deja__onnx_tensor_f32(t)[0]));
        }
        n.in.resize(1);
    }
    for (size_t d = 0; d < nodes.size(); d++) {
        const Node &div = nodes[d];
        if (div.op != "Div" || div.in.size() != 2) continue;
        int f = producer(nodes, div.in[0]), c = producer(nodes, div.in[1]);
        if (f < 0 || c < 0 || nodes[f].op != "Flatten" || nodes[c].op != "Clip") continue;
        int r = producer(nodes, nodes[c].in[0]);
        if (r < 0 || nodes[r].op != "ReduceL2" || nodes[r].in[0] != div.in[0]) continue;
        nodes[f].out[0] = div.out[0];
        int gone[3] = {(int)d, c, r};
        std::sort(gone, gone + 3);
        for (int i = 2; i >= 0; i--)
            nodes.erase(nodes.begin() + gone[i]);
        return true;
    }
    return false;
}

// Whether graph field f (a ValueInfoProto) names m's run-time input.
bool input_named(const std::vector<uint8_t> &bytes, const deja__pb_field &f,
                 const deja__onnx_model *m)
{
    deja__pb_reader r;
    deja__pb_init(&r, bytes.data(), f.data + f.len);
    r.pos = f.data;
    deja__pb_field g;
    while (deja__pb_next(&r, &g) == DEJA__PB_FIELD)
        if (g.number == 1 && g.wire == DEJA__PB_LEN)
            return m->n_inputs == 1 &&
                   std::string(reinterpret_cast<const char *>(bytes.data() + g.data), g.len) ==
                       m->values[m->inputs[0]].name;
    return false;
}

// ValueInfoProto {name 1, type 2 {tensor_type 1 {elem_type 1 = FLOAT, shape 2 {dim 1 {value 1}}}}}.
std::string fixed_input(const char *name, int w, int h)
{
    std::string shape, tt, ty, vi;
    const int64_t dims[4] = {1, 3, h, w};
    for (int64_t d : dims) {
        std::string dim;
        put_varint(dim, 1 << 3);
        put_varint(dim, (uint64_t)d);
        put_len(shape, 1, dim);
    }
    put_varint(tt, 1 << 3);
    put_varint(tt, 1);
    put_len(tt, 2, shape);
    put_len(ty, 1, tt);
    put_len(vi, 1, name);
    put_len(vi, 2, ty);
    return vi;
}

// The model file for OpenCV, written to a temporary file ("" on failure): the rewrites above, and
// the input's symbolic H and W fixed to h and w (OpenCV 4.6 sizes ReduceL2's reshape at import
// time; with symbolic dims it fails, "Copy dim[3] (which has zero size) is out of the source
// shape bounds").
std::string opencv_copy(const std::string &path, int w, int h, bool *cut)
{
    *cut = false;
    deja__onnx_model *m;
    char err[DEJA_ERROR_BYTES];
    if (deja__onnx_model_load(nullptr, path.c_str(), &m, err) != DEJA_OK) {
        std::fprintf(stderr, "deja: %s\n", err);
        return "";
    }
    FILE *f = std::fopen(path.c_str(), "rb");
    std::vector<uint8_t> bytes;
    if (f) {
        uint8_t chunk[65536];
        size_t n;
        while ((n = std::fread(chunk, 1, sizeof chunk, f)) > 0)
            bytes.insert(bytes.end(), chunk, chunk + n);
        std::fclose(f);
    }
    std::string out;
    deja__pb_reader r, g;
    deja__pb_field fm, fg;
    deja__pb_init(&r, bytes.data(), bytes.size());
    while (deja__pb_next(&r, &fm) == DEJA__PB_FIELD) {
        size_t end = fm.wire == DEJA__PB_LEN ? fm.data + fm.len : r.pos;
        if (fm.number != 7 || fm.wire != DEJA__PB_LEN || !deja__pb_enter(&r, &fm, &g)) {
            out.append(reinterpret_cast<const char *>(bytes.data() + fm.offset), end - fm.offset);
            continue;
        }
        std::string graph;
        std::vector<Node> nodes;
        while (deja__pb_next(&g, &fg) == DEJA__PB_FIELD) {
            size_t gend = fg.wire == DEJA__PB_LEN ? fg.data + fg.len : g.pos;
            if (fg.number == 1 && fg.wire == DEJA__PB_LEN)
                nodes.push_back(parse_node(bytes.data(), fg.data, fg.data + fg.len));
            else if (fg.number == 11 && fg.wire == DEJA__PB_LEN && input_named(bytes, fg, m))
                put_len(graph, 11, fixed_input(m->values[m->inputs[0]].name, w, h));
            else
                graph.append(reinterpret_cast<const char *>(bytes.data() + fg.offset),
                             gend - fg.offset);
        }
        *cut = rewrite_nodes(m, nodes);
        std::string all; // repeated nodes first: field order does not matter to a parser
        for (const Node &n : nodes)
            put_len(all, 1, node_bytes(n));
        put_len(out, 7, all + graph);
    }
    deja__onnx_model_destroy(m);
    char tmp[] = "/tmp/dnn_vs_opencv_XXXXXX";
    int fd = mkstemp(tmp);
    if (fd < 0) return "";
    bool ok = write(fd, out.data(), out.size()) == (ssize_t)out.size();
    close(fd);
    return ok && r.fault == DEJA__PB_FAULT_NONE ? std::string(tmp) : "";
}

struct Config {
    const char *model;
    int w, h;
};

} // namespace

int main(int argc, char **argv)
{
    if (argc == 6 && std::strcmp(argv[1], "--mem") == 0)
        return mem_main(argv[2], argv[3], std::atoi(argv[4]), std::atoi(argv[5]));
    int reps = 20;
    std::string dir = DEJA_SOURCE_DIR "/../shared/models";
    for (int i = 1; i < argc; i++) {
        if (std::strcmp(argv[i], "--reps") == 0 && i + 1 < argc)
            reps = std::max(1, std::atoi(argv[++i]));
        else if (std::strcmp(argv[i], "--models") == 0 && i + 1 < argc)
            dir = argv[++i];
        else {
            std::fprintf(stderr, "usage: %s [--reps N] [--models DIR]\n", argv[0]);
            return 2;
        }
    }
    const Config configs[] = {{"alike-t", 640, 480},
                              {"alike-t", 320, 256},
                              {"alike-n", 640, 480},
                              {"alike-n", 320, 256},
                              {"mobilenetv1-0.25-gem", 640, 480},
                              {"mobilenetv1-0.25-gem", 320, 224}};
    std::printf("OpenCV %s, deja kernels %s, %d timed runs per cell (median / p90 ms)\n\n",
                CV_VERSION, deja_simd_name(deja_simd_detect()), reps);
    std::printf("| model | input | threads | deja ms | OpenCV ms | OpenCV / deja | deja p90 | "
                "OpenCV p90 | deja allocs/run | max abs diff |\n");
    std::printf("|---|---|---|---|---|---|---|---|---|---|\n");
    std::fflush(stdout);
    int failures = 0;
    for (const Config &c : configs) {
        std::string path = dir + "/" + c.model + "/model.onnx";
        bool cut;
        std::string cv_path = opencv_copy(path, c.w, c.h, &cut);
        std::vector<float> x = make_input(c.w, c.h);
        for (int threads = 1; threads <= 2; threads++) {
            cv::setNumThreads(threads);
            Ours ours;
            OpenCV cv;
            if (!ours.open(path, c.w, c.h, threads) || cv_path.empty() ||
                !cv.open(cv_path, c.w, c.h, x.data())) {
                failures++;
                continue;
            }
            bool ok = true;
            for (int i = 0; ok && i < 3; i++)
                ok = ours.run(x.data()) && cv.run();
            size_t calls0 = ours.counter.calls;
            std::vector<double> t_ours, t_cv;
            for (int i = 0; ok && i < reps; i++) {
                double t0 = now_ms();
                ok = ours.run(x.data());
                double t1 = now_ms();
                ok = ok && cv.run();
                double t2 = now_ms();
                t_ours.push_back(t1 - t0);
                t_cv.push_back(t2 - t1);
            }
            if (!ok) {
                failures++;
                continue;
            }
            double allocs = (double)(ours.counter.calls - calls0) / reps;
            Stats so = stats(t_ours), sc = stats(t_cv);
            std::printf("| %s | %dx%d | %d | %.2f | %.2f | %.2fx | %.2f | %.2f | %g | %.1e |\n",
                        c.model, c.w, c.h, threads, so.median, sc.median, sc.median / so.median,
                        so.p90, sc.p90, allocs, compare(ours, cv, cut));
            std::fflush(stdout);
        }
        if (!cv_path.empty()) unlink(cv_path.c_str());
    }
    std::printf("\nPeak memory (VmHWM growth of a child process: load, plan, 5 runs, 2 threads), "
                "MiB\n\n| model | input | deja | OpenCV |\n|---|---|---|---|\n");
    for (const Config &c : configs) {
        std::string path = dir + "/" + c.model + "/model.onnx";
        long a = child_mem(argv[0], "ours", path, c.w, c.h);
        long b = child_mem(argv[0], "opencv", path, c.w, c.h);
        std::printf("| %s | %dx%d | %.1f | %.1f |\n", c.model, c.w, c.h, a / 1024.0, b / 1024.0);
        std::fflush(stdout);
    }
    return failures ? 1 : 0;
}
