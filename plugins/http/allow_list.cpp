#include "http/allow_list.hpp"

#include <algorithm>
#include <cctype>
#include <stdexcept>

namespace charla::plugins::http {
namespace {

std::vector<std::string> patterns(const nlohmann::json& list, const std::string& where) {
  if (!list.is_array()) throw std::invalid_argument(where + ": must be an array of host names");
  std::vector<std::string> out;
  for (const auto& item : list) {
    if (!item.is_string()) throw std::invalid_argument(where + ": must be an array of host names");
    std::string p = normalize_host(item.get<std::string>());
    bool wildcard = p.starts_with("*.");
    std::string_view name = wildcard ? std::string_view(p).substr(2) : std::string_view(p);
    if (name.empty() || name.find('*') != std::string_view::npos || name.find('/') != std::string_view::npos ||
        (name.find(':') != std::string_view::npos && name.find('.') != std::string_view::npos))
      throw std::invalid_argument(where + ": '" + item.get<std::string>() +
                                  "' is not a host name or *.domain pattern (no scheme, port or path)");
    out.push_back(std::move(p));
  }
  return out;
}

bool matches(const std::vector<std::string>& list, std::string_view host) {
  return std::any_of(list.begin(), list.end(), [&](const std::string& p) {
    if (p.starts_with("*.")) return host.size() > p.size() - 1 && host.ends_with(std::string_view(p).substr(1));
    return host == p;
  });
}

}  // namespace

std::string normalize_host(std::string_view host) {
  std::string h(host);
  std::transform(h.begin(), h.end(), h.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (h.size() >= 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  if (!h.empty() && h.back() == '.') h.pop_back();
  return h;
}

AllowList AllowList::from_json(const nlohmann::json& allow_hosts) {
  const std::string where = "plugins.http.allow_hosts";
  AllowList out;
  if (allow_hosts.is_null()) return out;
  if (allow_hosts.is_array()) {
    out.every_flow_ = patterns(allow_hosts, where);
  } else if (allow_hosts.is_object()) {
    for (const auto& [flow, list] : allow_hosts.items()) {
      auto p = patterns(list, where + "." + flow);
      if (flow == "*")
        out.every_flow_ = std::move(p);
      else
        out.per_flow_[flow] = std::move(p);
    }
  } else {
    throw std::invalid_argument(where + ": must be an array of host names or an object {flow: [hosts]}");
  }
  return out;
}

bool AllowList::allows(std::string_view flow, std::string_view host) const {
  std::string h = normalize_host(host);
  if (h.empty()) return false;
  if (matches(every_flow_, h)) return true;
  auto it = per_flow_.find(flow);
  return it != per_flow_.end() && matches(it->second, h);
}

}  // namespace charla::plugins::http
