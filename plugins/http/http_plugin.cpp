#include "http/http_plugin.hpp"

#include "log/log.hpp"
#include "net/http_client.hpp"
#include "plugin/call_args.hpp"

#include <boost/asio/post.hpp>
#include <boost/url/parse.hpp>
#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>

namespace charla::plugins::http {
namespace {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

std::int64_t positive_integer(const std::string& key, const nlohmann::json& v) {
  if (!v.is_number_integer() || v.get<std::int64_t>() < 1)
    throw std::invalid_argument("plugins.http." + key + ": must be a positive integer");
  return v.get<std::int64_t>();
}

bool is_token(std::string_view s) {
  static constexpr std::string_view extra = "!#$%&'*+-.^_`|~";
  return !s.empty() && std::all_of(s.begin(), s.end(), [](unsigned char c) {
    return std::isalnum(c) || extra.find(static_cast<char>(c)) != std::string_view::npos;
  });
}

bool has_line_break(std::string_view s) { return s.find_first_of("\r\n", 0) != std::string_view::npos || s.find('\0') != std::string_view::npos; }

bool is_empty_table(const nlohmann::json& v) { return (v.is_object() || v.is_array()) && v.empty(); }

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

// The host curl will connect to for `url`, or nullopt if curl rejects the URL. The
// allow-list is checked against Boost.URL's reading of the URL; this second reading
// makes sure the two parsers agree, so no URL can look allowed to one and lead the
// other elsewhere (userinfo tricks, numeric hosts like 0x7f.1).
struct Endpoint {
  std::string host;
  std::uint16_t port = 0;
  bool operator==(const Endpoint&) const = default;
};

std::optional<Endpoint> curl_endpoint(const std::string& url) {
  std::unique_ptr<CURLU, decltype(&curl_url_cleanup)> u(curl_url(), &curl_url_cleanup);
  if (!u || curl_url_set(u.get(), CURLUPART_URL, url.c_str(), 0) != CURLUE_OK) return std::nullopt;
  char* host = nullptr;
  if (curl_url_get(u.get(), CURLUPART_HOST, &host, 0) != CURLUE_OK || !host) return std::nullopt;
  Endpoint out{normalize_host(host), 0};
  curl_free(host);
  char* port = nullptr;
  if (curl_url_get(u.get(), CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK || !port) return std::nullopt;
  out.port = static_cast<std::uint16_t>(std::strtoul(port, nullptr, 10));
  curl_free(port);
  return out;
}

// What a validated ctx:http call sends.
struct Outgoing {
  net::HttpRequest request;
  std::optional<milliseconds> timeout;
};

// Validates the arguments; on a programming error returns nullopt and sets `why`.
std::optional<Outgoing> parse_args(const PluginCall& call, const AllowList& allow,
                                   const std::map<std::string, HttpService>& services, std::string& why) {
  static const std::set<std::string> known{"method", "url", "headers", "json", "body", "timeout", "service", "path"};
  auto fail = [&](std::string text) {
    why = "http: " + std::move(text);
    return std::nullopt;
  };
  if (call.method != "http") return fail("unknown method '" + call.method + "'");
  const nlohmann::json& args = call.args;
  if (!args.is_object()) return fail("expects a table of arguments with at least url=");
  if (const std::string unknown = plugin_args::unknown_argument(args, known); !unknown.empty()) return fail(unknown);

  Outgoing out;
  if (args.contains("method")) {
    if (!args["method"].is_string() || !is_token(args["method"].get<std::string>()))
      return fail("'method' must be an HTTP method such as \"GET\" or \"POST\"");
    out.request.method = args["method"].get<std::string>();
    std::transform(out.request.method.begin(), out.request.method.end(), out.request.method.begin(),
                   [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  }

  const HttpService* service = nullptr;
  std::string url;
  if (args.contains("service")) {
    if (args.contains("url")) return fail("give either 'service' (with 'path') or 'url', not both");
    if (!args["service"].is_string()) return fail("'service' must be the name of a service in plugins.http.services");
    auto it = services.find(args["service"].get<std::string>());
    if (it == services.end())
      return fail("no service named '" + args["service"].get<std::string>() + "' in plugins.http.services");
    service = &it->second;
    std::string bad;
    auto joined = service_url(*service, args.contains("path") ? args["path"] : nlohmann::json(), bad);
    if (!joined) return fail(bad);
    url = *joined;
  } else {
    if (args.contains("path")) return fail("'path' goes with 'service'; give a full 'url' otherwise");
    if (!args.contains("url") || !args["url"].is_string()) return fail("'url' (a string) is required");
    url = args["url"].get<std::string>();
  }
  auto parsed = boost::urls::parse_uri(url);
  if (!parsed) return fail("'" + url + "' is not a valid URL");
  std::string scheme = lower(std::string(parsed->scheme()));
  if (scheme != "http" && scheme != "https") return fail("only http and https URLs are allowed, not '" + scheme + "'");
  if (parsed->encoded_host().find('%') != std::string_view::npos) return fail("percent-encoded host names are not supported");
  std::string host = normalize_host(parsed->host_address());
  if (host.empty()) return fail("'" + url + "' has no host");
  std::uint16_t port = parsed->has_port() && parsed->port_number() != 0 ? parsed->port_number()
                       : scheme == "https"                                ? 443
                                                                          : 80;
  auto connect = curl_endpoint(url);
  if (!connect) return fail("'" + url + "' is not a valid URL");
  if (connect->host != host) return fail("'" + url + "' is ambiguous (host " + host + " or " + connect->host + "?)");
  if (connect->port != port)
    return fail("'" + url + "' is ambiguous (port " + std::to_string(port) + " or " + std::to_string(connect->port) + "?)");
  const bool service_host = service && host == service->host && port == service->port;
  if (!service_host && !allow.allows(call.flow, host, port)) {
    bool default_port = port == 80 || port == 443;
    return fail((default_port ? "host " + host : "host " + host + " port " + std::to_string(port)) +
                " is not on the allow-list for flow " + call.flow + " (plugins.http.allow_hosts" +
                (default_port ? ")" : "; a bare host allows only ports 80 and 443: list it as host:port)"));
  }
  out.request.url = url;

  bool has_content_type = false;
  if (args.contains("headers") && !is_empty_table(args["headers"])) {
    if (!args["headers"].is_object()) return fail("'headers' must be a table {name = value}");
    for (const auto& [name, value] : args["headers"].items()) {
      std::string text;
      if (value.is_string())
        text = value.get<std::string>();
      else if (value.is_number() || value.is_boolean())
        text = value.dump();
      else
        return fail("header '" + name + "' must be a string or a number");
      if (!is_token(name)) return fail("'" + name + "' is not a valid header name");
      // The Host header would let a flow reach another virtual host than the URL's.
      if (lower(name) == "host") return fail("flows cannot set the Host header: it is taken from the URL");
      if (has_line_break(text)) return fail("header '" + name + "' contains a line break");
      if (service && std::find(service->header_names_lower.begin(), service->header_names_lower.end(), lower(name)) !=
                         service->header_names_lower.end())
        return fail("header '" + name + "' is set by service " + service->name + " (from its environment variable)");
      if (lower(name) == "content-type") has_content_type = true;
      out.request.headers.emplace_back(name, std::move(text));
    }
  }

  // The service's secret headers go straight into the request, never into a Lua value.
  if (service)
    for (const auto& [name, value] : service->headers) {
      if (lower(name) == "content-type") has_content_type = true;
      out.request.headers.emplace_back(name, value);
    }

  if (args.contains("json") && args.contains("body")) return fail("give either 'json' or 'body', not both");
  if (args.contains("json")) {
    out.request.body = args["json"].dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    if (!has_content_type) out.request.headers.emplace_back("Content-Type", "application/json");
  } else if (args.contains("body")) {
    if (!args["body"].is_string()) return fail("'body' must be a string (use json= for tables)");
    out.request.body = args["body"];
  }

  if (args.contains("timeout")) {
    std::string bad;
    out.timeout = plugin_args::call_timeout(args["timeout"], bad);
    if (!out.timeout) return fail(bad);
  }
  return out;
}

nlohmann::json result_of(const net::HttpResponse& r) {
  nlohmann::json headers = nlohmann::json::object();
  for (const auto& [name, value] : r.headers) headers[name] = value;
  nlohmann::json out{{"status", r.status}, {"headers", headers}, {"body", r.body}};
  auto type = r.headers.find("content-type");
  bool says_json = type != r.headers.end() && type->second.find("json") != std::string::npos;
  if (!r.body.empty()) {
    auto parsed = nlohmann::json::parse(r.body, nullptr, false);
    if (!parsed.is_discarded() && (says_json || parsed.is_object() || parsed.is_array())) out["json"] = std::move(parsed);
  }
  return out;
}

}  // namespace

HttpPluginConfig HttpPluginConfig::from_json(const nlohmann::json& config, const EnvLookup& env) {
  HttpPluginConfig c;
  if (config.is_null()) return c;
  if (!config.is_object()) throw std::invalid_argument("plugins.http: must be an object");
  for (const auto& [key, v] : config.items()) {
    if (key == "allow_hosts")
      c.allow_hosts = AllowList::from_json(v);
    else if (key == "timeout_ms")
      c.timeout = milliseconds(positive_integer(key, v));
    else if (key == "max_response_bytes")
      c.max_response_bytes = static_cast<std::size_t>(positive_integer(key, v));
    else if (key == "services")
      c.services = read_services(v, env ? env : EnvLookup([](const std::string& name) -> std::optional<std::string> {
        const char* value = std::getenv(name.c_str());
        return value ? std::optional<std::string>(value) : std::nullopt;
      }));
    else
      throw std::invalid_argument("plugins.http: unknown key '" + key + "'");
  }
  return c;
}

struct HttpPlugin::State : std::enable_shared_from_this<State> {
  State(asio::io_context& io, HttpPluginConfig config) : io(io), config(std::move(config)), client(io) {}

  void post_reply(PluginDone done, PluginReply reply) {
    asio::post(io, [weak = weak_from_this(), done = std::move(done), reply = std::move(reply)]() mutable {
      if (weak.expired()) return;
      done(std::move(reply));
    });
  }

  void begin(PluginCall call, PluginDone done) {
    std::string why;
    auto outgoing = parse_args(call, config.allow_hosts, config.services, why);
    if (!outgoing) return post_reply(std::move(done), PluginReply::bad_argument(why));
    if (shut_down) return post_reply(std::move(done), PluginReply::fail("cancelled", "the http plugin is shutting down"));

    auto now = Clock::now();
    auto deadline = now + outgoing->timeout.value_or(config.timeout);
    if (call.deadline != Clock::time_point{}) deadline = std::min(deadline, call.deadline);  // unset: no turn budget
    if (now >= deadline) return post_reply(std::move(done), PluginReply::fail("timeout", "the turn's time budget is already spent"));

    net::HttpRequest& req = outgoing->request;
    req.timeout = std::max(std::chrono::ceil<milliseconds>(deadline - now), milliseconds(1));
    req.max_response_bytes = config.max_response_bytes;
    std::string url = req.url;
    // The client's callback already runs from the loop, never inside call(): done can
    // be called directly.
    client.request(std::move(req), [done = std::move(done), url, conversation = call.conversation](net::HttpResponse r) {
      if (r.error.empty()) return done(PluginReply::ok(result_of(r)));
      std::string code = r.error == "timeout" || r.error == "response_too_large" || r.error == "cancelled" ? r.error : "network";
      std::string message = code == "timeout"            ? "no response from " + url + " in time"
                            : code == "response_too_large" ? "the response from " + url + " exceeds max_response_bytes"
                            : code == "cancelled"          ? "the http plugin is shutting down"
                                                           : url + ": " + r.error;
      if (code != "cancelled") log::warn("http.call_failed", {{"conversation", conversation}, {"code", code}, {"message", message}});
      done(PluginReply::fail(std::move(code), std::move(message)));
    });
  }

  asio::io_context& io;
  HttpPluginConfig config;
  net::HttpClient client;
  bool shut_down = false;
};

HttpPlugin::HttpPlugin(boost::asio::io_context& io, HttpPluginConfig config)
    : state_(std::make_shared<State>(io, std::move(config))) {}

HttpPlugin::~HttpPlugin() = default;  // the client drops its callbacks: nothing runs afterwards

void HttpPlugin::call(PluginCall call, PluginDone done) { state_->begin(std::move(call), std::move(done)); }

void HttpPlugin::shutdown() {
  state_->shut_down = true;
  state_->client.cancel_all();  // each pending call completes with "cancelled"
}

namespace {
const PluginRegistrar registrar("http", [](boost::asio::io_context& io, const nlohmann::json& config) -> std::unique_ptr<Plugin> {
  return std::make_unique<HttpPlugin>(io, HttpPluginConfig::from_json(config));
});
}  // namespace

}  // namespace charla::plugins::http
