// bench_util.hpp - the timing helpers of the C++ benchmarks (OpenCV peers): a monotonic clock in
// milliseconds and the median / p90 of a set of times.
#ifndef DEJA_BENCH_UTIL_HPP
#define DEJA_BENCH_UTIL_HPP

#include <algorithm>
#include <chrono>
#include <vector>

namespace bench
{

inline double now_ms()
{
    using namespace std::chrono;
    return duration<double, std::milli>(steady_clock::now().time_since_epoch()).count();
}

struct Stats {
    double median, p90;
};

inline Stats stats(std::vector<double> v)
{
    std::sort(v.begin(), v.end());
    if (v.empty()) return {0, 0};
    return {v[v.size() / 2], v[std::min(v.size() - 1, v.size() * 9 / 10)]};
}

} // namespace bench

#endif
