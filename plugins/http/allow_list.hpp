#pragma once
// Which hosts and ports a flow may reach through ctx:http. Configured as
// plugins.http.allow_hosts:
//   ["api.example.com", "*.crm.example:8443"]                 every flow
//   {"insurance": ["api.example.com"], "*": ["status.example"]}  per flow; "*" = every flow
// A pattern is a host name (exact, case-insensitive) or "*.suffix", which matches any
// host below suffix but not suffix itself, optionally followed by ":port" or ":*" (any
// port). A bare pattern allows only ports 80 and 443, so an allowed host's other
// services (admin ports, databases) stay out of reach. IPv6 literals with a port are
// written in brackets: "[::1]:8080". Nothing listed: nothing allowed.
#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace charla::plugins::http {

class AllowList {
 public:
  // Throws std::invalid_argument on a malformed value.
  static AllowList from_json(const nlohmann::json& allow_hosts);

  bool allows(std::string_view flow, std::string_view host, std::uint16_t port) const;

  struct Pattern {
    std::string host;     // normalized; "*.suffix" for a wildcard
    int port = -1;        // -1: 80 and 443 only; 0: any port; else that port
  };

 private:
  std::vector<Pattern> every_flow_;
  std::map<std::string, std::vector<Pattern>, std::less<>> per_flow_;
};

// Lower-cased, without a trailing dot or IPv6 brackets: how hosts are compared.
std::string normalize_host(std::string_view host);

}  // namespace charla::plugins::http
