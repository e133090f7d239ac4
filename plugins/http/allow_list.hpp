#pragma once
// Which hosts a flow may reach through ctx:http. Configured as plugins.http.allow_hosts:
//   ["api.example.com", "*.crm.example"]                  every flow
//   {"insurance": ["api.example.com"], "*": ["status.example"]}  per flow; "*" = every flow
// A pattern is a host name (exact, case-insensitive) or "*.suffix", which matches any
// host below suffix but not suffix itself. Nothing listed: nothing allowed.
#include <nlohmann/json.hpp>

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace charla::plugins::http {

class AllowList {
 public:
  // Throws std::invalid_argument on a malformed value.
  static AllowList from_json(const nlohmann::json& allow_hosts);

  bool allows(std::string_view flow, std::string_view host) const;

 private:
  std::vector<std::string> every_flow_;
  std::map<std::string, std::vector<std::string>, std::less<>> per_flow_;
};

// Lower-cased, without a trailing dot or IPv6 brackets: how hosts are compared.
std::string normalize_host(std::string_view host);

}  // namespace charla::plugins::http
