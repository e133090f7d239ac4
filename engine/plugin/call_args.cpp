#include "plugin/call_args.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <vector>

namespace charla::plugin_args {
namespace {

constexpr double kMaxMs = 86'400'000;  // a day: anything longer is a typo, and the turn budget is far shorter

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Optimal string alignment distance: a swapped pair of letters ("timoeut") is one edit.
std::size_t distance(const std::string& a, const std::string& b) {
  std::vector<std::vector<std::size_t>> d(a.size() + 1, std::vector<std::size_t>(b.size() + 1));
  for (std::size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (std::size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i)
    for (std::size_t j = 1; j <= b.size(); ++j) {
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  return d[a.size()][b.size()];
}

std::optional<double> duration_ms(const std::string& text) {
  std::size_t digits = 0;
  while (digits < text.size() && (std::isdigit(static_cast<unsigned char>(text[digits])) || text[digits] == '.')) ++digits;
  if (digits == 0 || digits == text.size()) return std::nullopt;
  const std::string number = text.substr(0, digits);
  char* end = nullptr;
  const double value = std::strtod(number.c_str(), &end);
  if (end != number.c_str() + number.size()) return std::nullopt;
  const std::string unit = text.substr(digits);
  if (unit == "ms") return value;
  if (unit == "s") return value * 1000;
  if (unit == "m") return value * 60'000;
  return std::nullopt;
}

}  // namespace

std::string nearest(const std::string& key, const std::set<std::string>& known) {
  std::string best;
  std::size_t best_distance = 3;  // more than two edits away is another word
  for (const auto& k : known) {
    const std::size_t d = distance(lower(key), lower(k));
    if (d < best_distance) {
      best = k;
      best_distance = d;
    }
  }
  return best;
}

std::string unknown_argument(const nlohmann::json& args, const std::set<std::string>& known) {
  if (!args.is_object()) return {};
  for (const auto& [key, _] : args.items()) {
    if (known.contains(key)) continue;
    std::string expected;
    for (const auto& k : known) expected += (expected.empty() ? "" : ", ") + k;
    const std::string guess = nearest(key, known);
    return "unknown argument '" + key + "' (" + (guess.empty() ? "" : "did you mean '" + guess + "'?; ") + "expected " +
           expected + ")";
  }
  return {};
}

std::optional<std::chrono::milliseconds> call_timeout(const nlohmann::json& value, std::string& why) {
  std::optional<double> ms;
  if (value.is_number()) ms = value.get<double>();
  else if (value.is_string()) ms = duration_ms(value.get<std::string>());
  if (!ms || !std::isfinite(*ms) || *ms < 1 || *ms > kMaxMs) {
    why = "'timeout' must be milliseconds (a number, e.g. 3000) or a duration string (\"300ms\", \"3s\", \"2m\"), "
          "at most a day";
    return std::nullopt;
  }
  return std::chrono::milliseconds(static_cast<std::int64_t>(std::ceil(*ms)));
}

}  // namespace charla::plugin_args
