#pragma once
// Measurement helpers the benchmarks share: RSS, latency percentiles, process CPU,
// load average (the machine is shared, so every result records it).
#include <sys/resource.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

namespace charla::bench {

using nlohmann::json;

struct Rss {
  long total_kb = 0, anon_kb = 0, file_kb = 0;
};

inline Rss read_rss() {
  Rss r;
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    auto value = [&] { return std::atol(line.c_str() + line.find(':') + 1); };
    if (line.rfind("VmRSS:", 0) == 0) r.total_kb = value();
    if (line.rfind("RssAnon:", 0) == 0) r.anon_kb = value();
    if (line.rfind("RssFile:", 0) == 0) r.file_kb = value();
  }
  return r;
}

inline json rss_json(const Rss& r) { return {{"rss_kb", r.total_kb}, {"anon_kb", r.anon_kb}, {"file_kb", r.file_kb}}; }

inline json latency_json(std::vector<std::uint32_t> us) {
  if (us.empty()) return json{{"count", 0}};
  std::sort(us.begin(), us.end());
  auto at = [&](double q) {
    auto i = static_cast<std::size_t>(q * static_cast<double>(us.size() - 1));
    return us[i] / 1000.0;
  };
  double sum = 0;
  for (auto v : us) sum += v;
  return {{"count", us.size()}, {"p50_ms", at(0.50)}, {"p90_ms", at(0.90)}, {"p99_ms", at(0.99)},
          {"max_ms", us.back() / 1000.0}, {"mean_ms", sum / static_cast<double>(us.size()) / 1000.0}};
}

inline double process_cpu_s() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

inline std::string loadavg() {
  std::ifstream in("/proc/loadavg");
  std::string a, b, c;
  in >> a >> b >> c;
  return a + " " + b + " " + c;
}

}  // namespace charla::bench
