#include "http/allow_list.hpp"

#include <algorithm>
#include <cctype>
#include <stdexcept>

namespace charla::plugins::http {
namespace {

// Splits "host", "host:port", "host:*", "[v6]:port" or a bare IPv6 literal.
AllowList::Pattern parse_pattern(const std::string& text, const std::string& where) {
  auto bad = [&](const std::string& why) {
    return std::invalid_argument(where + ": '" + text + "' " + why);
  };
  std::string host = text;
  std::string port;
  if (!host.empty() && host.front() == '[') {
    auto close = host.find(']');
    if (close == std::string::npos) throw bad("has an unclosed '['");
    std::string rest = host.substr(close + 1);
    host = host.substr(0, close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') throw bad("is not a host name or *.domain pattern");
      port = rest.substr(1);
      if (port.empty()) throw bad("has an empty port");
    }
  } else if (std::count(host.begin(), host.end(), ':') == 1) {
    auto colon = host.find(':');
    port = host.substr(colon + 1);
    host.resize(colon);
    if (port.empty()) throw bad("has an empty port");
  }
  AllowList::Pattern p;
  p.host = normalize_host(host);
  bool wildcard = p.host.starts_with("*.");
  std::string_view name = wildcard ? std::string_view(p.host).substr(2) : std::string_view(p.host);
  if (name.empty() || name.find('*') != std::string_view::npos || name.find('/') != std::string_view::npos ||
      (name.find(':') != std::string_view::npos && name.find('.') != std::string_view::npos))
    throw bad("is not a host name or *.domain pattern, with an optional :port (no scheme or path)");
  if (port == "*") {
    p.port = 0;
  } else if (!port.empty()) {
    if (port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos || std::stoi(port) < 1 ||
        std::stoi(port) > 65535)
      throw bad("has a port that is not a number from 1 to 65535 or *");
    p.port = std::stoi(port);
  }
  return p;
}

std::vector<AllowList::Pattern> patterns(const nlohmann::json& list, const std::string& where) {
  if (!list.is_array()) throw std::invalid_argument(where + ": must be an array of host names");
  std::vector<AllowList::Pattern> out;
  for (const auto& item : list) {
    if (!item.is_string()) throw std::invalid_argument(where + ": must be an array of host names");
    out.push_back(parse_pattern(item.get<std::string>(), where));
  }
  return out;
}

bool port_allowed(int pattern_port, std::uint16_t port) {
  if (pattern_port < 0) return port == 80 || port == 443;
  return pattern_port == 0 || pattern_port == port;
}

bool matches(const std::vector<AllowList::Pattern>& list, std::string_view host, std::uint16_t port) {
  return std::any_of(list.begin(), list.end(), [&](const AllowList::Pattern& p) {
    if (!port_allowed(p.port, port)) return false;
    const std::string& h = p.host;
    if (h.starts_with("*.")) return host.size() > h.size() - 1 && host.ends_with(std::string_view(h).substr(1));
    return host == h;
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

bool AllowList::allows(std::string_view flow, std::string_view host, std::uint16_t port) const {
  std::string h = normalize_host(host);
  if (h.empty()) return false;
  if (matches(every_flow_, h, port)) return true;
  auto it = per_flow_.find(flow);
  return it != per_flow_.end() && matches(it->second, h, port);
}

}  // namespace charla::plugins::http
