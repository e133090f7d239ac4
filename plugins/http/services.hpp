#pragma once
// Named HTTP services (plugins.http.services): a base URL and headers whose values come
// from environment variables, so a flow can call a CRM without ever holding its secret:
//   "plugins": {"http": {"services": [
//     {"name": "crm", "base_url": "https://crm.example/api", "headers_env": {"Authorization": "CRM_TOKEN"}}]}}
//   ctx:http{ service = "crm", path = "/leads", method = "POST", json = {...} }
// Invariants: every named variable is set when the config is read (else
// std::invalid_argument naming the service, header and variable: `charla serve` exits 2);
// the header values are never part of a Lua value, an error message or a log line; a
// service's own host and port are reachable without an allow_hosts entry, and a path can
// never lead elsewhere (it must start with "/" and the joined URL must keep the host).
#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace charla::plugins::http {

struct HttpService {
  std::string name;
  std::string base_url;   // without a trailing slash
  std::string host;       // normalized, for the host check of joined URLs
  std::uint16_t port = 0;
  std::vector<std::pair<std::string, std::string>> headers;  // name, secret value
  std::vector<std::string> header_names_lower;
};

using EnvLookup = std::function<std::optional<std::string>(const std::string& name)>;

// Reads plugins.http.services; throws std::invalid_argument naming what is wrong.
std::map<std::string, HttpService> read_services(const nlohmann::json& services, const EnvLookup& env);

// The service's URL for `path`, or nullopt with `why` set (for the flow's Lua error).
std::optional<std::string> service_url(const HttpService& service, const nlohmann::json& path, std::string& why);

}  // namespace charla::plugins::http
