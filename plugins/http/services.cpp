#include "http/services.hpp"

#include "http/allow_list.hpp"

#include <boost/url/parse.hpp>

#include <algorithm>
#include <cctype>
#include <stdexcept>

namespace charla::plugins::http {

namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

bool header_name_ok(const std::string& s) {
  static constexpr std::string_view extra = "!#$%&'*+-.^_`|~";
  return !s.empty() && std::all_of(s.begin(), s.end(), [](unsigned char c) {
    return std::isalnum(c) || extra.find(static_cast<char>(c)) != std::string_view::npos;
  });
}

struct HostPort {
  std::string host;
  std::uint16_t port = 0;
};

std::optional<HostPort> host_port(const std::string& url) {
  auto parsed = boost::urls::parse_uri(url);
  if (!parsed) return std::nullopt;
  const auto scheme = lower(std::string(parsed->scheme()));
  if (scheme != "http" && scheme != "https") return std::nullopt;
  if (parsed->has_userinfo()) return std::nullopt;
  HostPort out{normalize_host(parsed->host_address()), 0};
  if (out.host.empty()) return std::nullopt;
  out.port = parsed->has_port() && parsed->port_number() != 0 ? parsed->port_number() : scheme == "https" ? 443 : 80;
  return out;
}

}  // namespace

std::map<std::string, HttpService> read_services(const nlohmann::json& services, const EnvLookup& env) {
  std::map<std::string, HttpService> out;
  if (!services.is_array()) throw std::invalid_argument("plugins.http.services: must be a list of {name, base_url, headers_env}");
  for (std::size_t i = 0; i < services.size(); ++i) {
    const auto& s = services[i];
    const std::string where = "plugins.http.services[" + std::to_string(i) + "]";
    if (!s.is_object()) throw std::invalid_argument(where + ": must be an object {name, base_url, headers_env}");
    for (const auto& [key, _] : s.items())
      if (key != "name" && key != "base_url" && key != "headers_env")
        throw std::invalid_argument(where + ": unknown key '" + key + "' (use name, base_url, headers_env)");
    HttpService svc;
    if (!s.contains("name") || !s["name"].is_string() || s["name"].get<std::string>().empty())
      throw std::invalid_argument(where + ".name: a non-empty string is required");
    svc.name = s["name"];
    const std::string named = where + " (" + svc.name + ")";
    if (out.count(svc.name)) throw std::invalid_argument(named + ": the name is used twice");
    if (!s.contains("base_url") || !s["base_url"].is_string())
      throw std::invalid_argument(named + ".base_url: an http(s) URL is required");
    svc.base_url = s["base_url"];
    while (!svc.base_url.empty() && svc.base_url.back() == '/') svc.base_url.pop_back();
    auto hp = host_port(svc.base_url);
    if (!hp || svc.base_url.find_first_of("?#") != std::string::npos)
      throw std::invalid_argument(named + ".base_url: '" + svc.base_url +
                                  "' is not an http(s) URL with a host (no user:password@, query or fragment)");
    svc.host = hp->host;
    svc.port = hp->port;
    if (s.contains("headers_env")) {
      if (!s["headers_env"].is_object())
        throw std::invalid_argument(named + ".headers_env: must be an object {\"Header-Name\": \"ENV_VAR\"}");
      for (const auto& [header, var] : s["headers_env"].items()) {
        if (!header_name_ok(header) || lower(header) == "host")
          throw std::invalid_argument(named + ".headers_env: '" + header + "' is not a header a service can set");
        if (!var.is_string() || var.get<std::string>().empty())
          throw std::invalid_argument(named + ".headers_env." + header + ": must name an environment variable");
        auto value = env(var.get<std::string>());
        if (!value || value->empty())
          throw std::invalid_argument(named + ": environment variable " + var.get<std::string>() + " (header " + header +
                                      ") is not set");
        if (value->find_first_of("\r\n") != std::string::npos || value->find('\0') != std::string::npos)
          throw std::invalid_argument(named + ": environment variable " + var.get<std::string>() +
                                      " contains a line break, which cannot be sent in a header");
        svc.headers.emplace_back(header, *value);
        svc.header_names_lower.push_back(lower(header));
      }
    }
    out.emplace(svc.name, std::move(svc));
  }
  return out;
}

std::optional<std::string> service_url(const HttpService& service, const nlohmann::json& path, std::string& why) {
  if (!path.is_string()) {
    why = "'path' (a string starting with \"/\") is required with service=";
    return std::nullopt;
  }
  const std::string p = path;
  if (p.empty() || p.front() != '/' || p.starts_with("//") ||
      p.find_first_of(" \t\r\n\\") != std::string::npos || p.find('\0') != std::string::npos) {
    why = "'path' must start with a single \"/\" and hold no spaces or backslashes (got '" + p + "')";
    return std::nullopt;
  }
  std::string url = service.base_url + p;
  auto hp = host_port(url);
  if (!hp || hp->host != service.host || hp->port != service.port) {
    why = "'path' '" + p + "' leads away from service " + service.name;
    return std::nullopt;
  }
  return url;
}

}  // namespace charla::plugins::http
