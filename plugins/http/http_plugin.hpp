#pragma once
// ctx:http — HTTP requests from flows, limited to allow-listed hosts.
//
// Lua: local res, err = ctx:http{ url=, method= ("GET"), headers= {name=value},
//                                 json= (table) | body= (string), timeout= (ms or "3s") }
//      or ctx:http{ service= "crm", path= "/leads", ... }: a named service (services.hpp)
//         whose secret headers are added by charla; the flow never sees them.
//  - res = {status=, headers= (lower-case names), body=, json= (when the body is JSON)};
//    HTTP error statuses are results (res.status == 500), not errors;
//  - bad arguments, a non-http(s) URL, or a host not on the flow's allow-list raise a
//    Lua error (PluginReply::bad_argument);
//  - nil, {code=, message=} with code timeout, network, response_too_large or cancelled.
//
// Config (plugins.http): allow_hosts (see allow_list.hpp), timeout_ms (10000),
// max_response_bytes (1 MiB), services (see services.hpp). Redirects are not followed, so a response can never
// lead the request to a host that is not allow-listed.
//
// Invariants: done is called exactly once, never from inside call(); the request never
// outlives the call's deadline (the turn's, or `timeout` if sooner); shutdown() fails
// every pending call with "cancelled"; nothing is called after destruction.
#include "http/allow_list.hpp"
#include "http/services.hpp"
#include "plugin/plugin.hpp"

#include <chrono>
#include <memory>

namespace charla::plugins::http {

struct HttpPluginConfig {
  AllowList allow_hosts;
  std::chrono::milliseconds timeout{10'000};
  std::size_t max_response_bytes = 1u << 20;
  std::map<std::string, HttpService> services;
  // Throws std::invalid_argument naming the key on an unknown key or a bad value, or a
  // service header's environment variable that is not set. `env` defaults to getenv.
  static HttpPluginConfig from_json(const nlohmann::json& config, const EnvLookup& env = {});
};

class HttpPlugin final : public Plugin {
 public:
  HttpPlugin(boost::asio::io_context& io, HttpPluginConfig config);
  ~HttpPlugin() override;

  std::vector<std::string> methods() const override { return {"http"}; }
  void call(PluginCall call, PluginDone done) override;
  void shutdown() override;

 private:
  struct State;
  std::shared_ptr<State> state_;
};

}  // namespace charla::plugins::http
