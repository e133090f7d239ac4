#include "llm/llm_plugin.hpp"

#include "llm/chat_completion.hpp"
#include "log/log.hpp"
#include "net/http_client.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <algorithm>
#include <deque>
#include <map>
#include <optional>
#include <random>

namespace charla::plugins::llm {
namespace {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// One ctx:llm call from admission to its reply.
struct PendingCall {
  explicit PendingCall(asio::io_context& io) : timer(io) {}
  std::uint64_t id = 0;
  PluginDone done;
  std::shared_ptr<const std::string> body;  // the request JSON, sent as is by every attempt
  bool json_mode = false;
  std::string conversation;
  Clock::time_point started;
  Clock::time_point deadline;
  int attempts = 0;
  std::optional<std::uint64_t> http_id;
  asio::steady_timer timer;  // the deadline while queued; the backoff between attempts
  bool queued = false;
  bool holds_slot = false;
  bool finished = false;
};
using CallPtr = std::shared_ptr<PendingCall>;

// HTTP/2 to an http:// URL only with "h2c": without TLS there is no ALPN to ask the
// provider, and waiting to learn whether a connection multiplexes would hold the first
// burst of calls behind one HTTP/1.1 response.
net::HttpVersion wire_version(const LlmConfig& config) {
  switch (config.http_version) {
    case LlmHttpVersion::http1_1:
      return net::HttpVersion::http1_1;
    case LlmHttpVersion::h2c:
      return net::HttpVersion::h2c;
    case LlmHttpVersion::http2:
      break;
  }
  return config.base_url.starts_with("https://") ? net::HttpVersion::http2_tls : net::HttpVersion::http1_1;
}

// curl allocates a receive buffer for every request in flight, and over HTTP/2 a send
// buffer too (the body goes through it), so while turns wait on the LLM these are memory
// per suspended turn. Completions are a few KiB and arrive in pieces of whatever size;
// curl's defaults (16 and 64 KiB) only save a few reads. Measured (bench/README.md,
// "Memory per suspended LLM turn"): 4 KiB costs no more resident memory than 16 KiB with
// jemalloc (charla's allocator) or glibc, and 12 KiB less allocated; 1 KiB (curl's
// smallest) costs more with jemalloc, and libcurl 7.88's HTTP/2 stalls on a reply of
// several frames with it. 16 KiB is curl's smallest send buffer. (h2c calls to http://
// URLs do not go through curl and have neither buffer: net/h2_client.hpp.)
constexpr std::size_t kReceiveBufferBytes = 4096;
constexpr std::size_t kUploadBufferBytes = 16384;

// Every call in flight fits one HTTP/2 connection (if the provider allows that many
// streams), so a burst of calls opens one connection, not several.
net::HttpClientOptions client_options(const LlmConfig& config) {
  net::HttpClientOptions o;
  o.max_concurrent_streams = std::max<long>(o.max_concurrent_streams, static_cast<long>(config.max_concurrency));
  o.ca_file = config.ca_file;
  return o;
}

milliseconds remaining(Clock::time_point deadline) {
  auto left = std::chrono::ceil<milliseconds>(deadline - Clock::now());
  return std::max(left, milliseconds(1));
}

}  // namespace

struct LlmPlugin::State : std::enable_shared_from_this<State> {
  State(asio::io_context& io, LlmConfig config)
      : io(io), config(std::move(config)), version(wire_version(this->config)),
        client(io, client_options(this->config)), rng(std::random_device{}()) {}

  void begin(PluginCall call, PluginDone done);
  void shutdown();

  asio::io_context& io;
  LlmConfig config;
  net::HttpVersion version;
  net::HttpClient client;
  LlmMetrics metrics;

 private:
  template <class F>
  void record(F&& update) {
    update(metrics);
    update(process_llm_metrics());
  }
  void post_reply(PluginDone done, PluginReply reply);
  void reject(PluginDone done, LlmError code, std::string message);
  void admit(const CallPtr& c);
  void take_slot(const CallPtr& c);
  void pump();
  void send(const CallPtr& c);
  void on_response(const CallPtr& c, net::HttpResponse r);
  void retry_or_fail(const CallPtr& c, LlmError code, std::string message, std::optional<milliseconds> retry_after);
  milliseconds backoff(int retry);
  void succeed(const CallPtr& c, nlohmann::json value);
  void fail(const CallPtr& c, LlmError code, std::string message);
  void finish(const CallPtr& c, PluginReply reply);

  std::minstd_rand rng;
  std::uint64_t next_id = 1;
  std::size_t running = 0;
  bool pumping = false;
  bool shut_down = false;
  std::deque<CallPtr> queue;
  std::map<std::uint64_t, CallPtr> calls;  // every unfinished call
};

void LlmPlugin::State::post_reply(PluginDone done, PluginReply reply) {
  // Never call done from inside call(): the Lua host must yield first. Dropped once
  // the plugin is gone.
  asio::post(io, [weak = weak_from_this(), done = std::move(done), reply = std::move(reply)]() mutable {
    if (weak.expired()) return;
    done(std::move(reply));
  });
}

void LlmPlugin::State::reject(PluginDone done, LlmError code, std::string message) {
  record([&](LlmMetrics& m) { m.add_error(code); });
  post_reply(std::move(done), PluginReply::fail(std::string(to_string(code)), std::move(message)));
}

void LlmPlugin::State::begin(PluginCall call, PluginDone done) {
  auto now = Clock::now();
  record([](LlmMetrics& m) { m.calls++; });
  std::string why;
  std::optional<ChatArgs> args;
  if (call.method != "llm")
    why = "llm plugin: unknown method '" + call.method + "'";
  else
    args = parse_chat_args(call.args, why);
  if (!args) {
    record([](LlmMetrics& m) { m.argument_errors++; });
    return post_reply(std::move(done), PluginReply::bad_argument(why));
  }
  if (shut_down) return reject(std::move(done), LlmError::cancelled, "the llm plugin is shutting down");
  if (config.base_url.empty())
    return reject(std::move(done), LlmError::not_configured, "no LLM endpoint: set LLM_BASE_URL or plugins.llm.base_url");

  auto c = std::make_shared<PendingCall>(io);
  c->id = next_id++;
  c->done = std::move(done);
  c->body = std::make_shared<const std::string>(chat_request_body(*args, config).dump());
  c->json_mode = args->json;
  c->conversation = call.conversation;
  c->started = now;
  c->deadline = now + args->timeout.value_or(config.timeout);
  // A default-constructed deadline means the caller set no turn budget.
  if (call.deadline != Clock::time_point{}) c->deadline = std::min(c->deadline, call.deadline);
  calls.emplace(c->id, c);
  if (now >= c->deadline) return fail(c, LlmError::budget_exceeded, "the turn's time budget is already spent");
  admit(c);
}

void LlmPlugin::State::admit(const CallPtr& c) {
  if (running < config.max_concurrency && queue.empty()) {
    take_slot(c);
    return send(c);
  }
  c->queued = true;
  queue.push_back(c);
  record([](LlmMetrics& m) { m.queued++; });
  c->timer.expires_at(c->deadline);
  c->timer.async_wait([weak = weak_from_this(), wc = std::weak_ptr(c)](boost::system::error_code ec) {
    auto self = weak.lock();
    auto c = wc.lock();
    if (ec || !self || !c || !c->queued) return;
    self->fail(c, LlmError::budget_exceeded,
               "the deadline passed while waiting for a free slot (max_concurrency " +
                   std::to_string(self->config.max_concurrency) + ")");
  });
}

void LlmPlugin::State::take_slot(const CallPtr& c) {
  c->holds_slot = true;
  ++running;
  record([](LlmMetrics& m) { m.in_flight++; });
}

// Starts queued calls while slots are free. Not re-entrant: a call that fails at once
// inside send() frees its slot and this loop carries on.
void LlmPlugin::State::pump() {
  if (pumping) return;
  pumping = true;
  while (running < config.max_concurrency && !queue.empty()) {
    CallPtr c = queue.front();
    queue.pop_front();
    c->queued = false;
    c->timer.cancel();
    record([](LlmMetrics& m) { m.queued--; });
    take_slot(c);
    send(c);
  }
  pumping = false;
}

void LlmPlugin::State::send(const CallPtr& c) {
  if (Clock::now() >= c->deadline) return fail(c, LlmError::budget_exceeded, "the call's deadline passed before it could be sent");
  net::HttpRequest req;
  req.method = "POST";
  req.url = config.base_url + "/chat/completions";
  req.headers = {{"Content-Type", "application/json"}, {"Accept", "application/json"}};
  if (!config.api_key.empty()) req.headers.emplace_back("Authorization", "Bearer " + config.api_key);
  req.shared_body = c->body;
  req.timeout = remaining(c->deadline);
  req.max_response_bytes = config.max_response_bytes;
  req.version = version;
  req.receive_buffer_bytes = kReceiveBufferBytes;
  req.upload_buffer_bytes = kUploadBufferBytes;
  c->attempts++;
  record([](LlmMetrics& m) { m.http_requests++; });
  c->http_id = client.request(std::move(req), [weak = weak_from_this(), c](net::HttpResponse r) {
    if (auto self = weak.lock()) self->on_response(c, std::move(r));
  });
}

void LlmPlugin::State::on_response(const CallPtr& c, net::HttpResponse r) {
  c->http_id.reset();
  if (c->finished) return;
  if (r.error == "cancelled") return fail(c, LlmError::cancelled, "the llm plugin is shutting down");
  if (r.error == "timeout") return fail(c, LlmError::timeout, "no answer from the LLM before the call's deadline");
  if (r.error == "response_too_large")
    return fail(c, LlmError::bad_response, "the LLM's response exceeds max_response_bytes");
  if (r.error == "connect") return retry_or_fail(c, LlmError::network, "cannot connect to " + config.base_url, std::nullopt);
  if (!r.error.empty()) return retry_or_fail(c, LlmError::network, r.error, std::nullopt);
  if (r.status == 429) return retry_or_fail(c, LlmError::http_429, describe_http_error(r.status, r.body), parse_retry_after(r.headers));
  if (r.status >= 500) return retry_or_fail(c, LlmError::http_5xx, describe_http_error(r.status, r.body), parse_retry_after(r.headers));
  if (r.status < 200 || r.status >= 300) return fail(c, LlmError::http_4xx, describe_http_error(r.status, r.body));

  ChatOutcome outcome = parse_chat_response(r.body, c->json_mode);
  record([&](LlmMetrics& m) {
    m.prompt_tokens += outcome.prompt_tokens;
    m.completion_tokens += outcome.completion_tokens;
  });
  if (!outcome.ok) return fail(c, outcome.code, std::move(outcome.message));
  succeed(c, std::move(outcome.value));
}

milliseconds LlmPlugin::State::backoff(int retry) {
  auto full = config.retry_backoff * (1LL << std::min(retry, 20));
  std::uniform_real_distribution<double> jitter(0.5, 1.0);  // spread clients that failed together
  return milliseconds(static_cast<std::int64_t>(static_cast<double>(full.count()) * jitter(rng)));
}

void LlmPlugin::State::retry_or_fail(const CallPtr& c, LlmError code, std::string message,
                                     std::optional<milliseconds> retry_after) {
  int retries_done = c->attempts - 1;
  if (retries_done >= config.max_retries)
    return fail(c, code, message + " (after " + std::to_string(c->attempts) + " attempts)");
  milliseconds wait = retry_after ? *retry_after : backoff(retries_done);
  if (Clock::now() + wait >= c->deadline)
    return fail(c, code, message + " (no time left to retry within the call's deadline)");
  record([](LlmMetrics& m) { m.retries++; });
  c->timer.expires_after(wait);
  c->timer.async_wait([weak = weak_from_this(), wc = std::weak_ptr(c)](boost::system::error_code ec) {
    auto self = weak.lock();
    auto c = wc.lock();
    if (ec || !self || !c || c->finished) return;
    self->send(c);
  });
}

void LlmPlugin::State::succeed(const CallPtr& c, nlohmann::json value) {
  record([](LlmMetrics& m) { m.successes++; });
  finish(c, PluginReply::ok(std::move(value)));
}

void LlmPlugin::State::fail(const CallPtr& c, LlmError code, std::string message) {
  if (c->finished) return;
  record([&](LlmMetrics& m) { m.add_error(code); });
  if (code != LlmError::cancelled)
    log::warn("llm.call_failed", {{"conversation", c->conversation}, {"code", to_string(code)}, {"message", message},
                                  {"attempts", c->attempts}});
  finish(c, PluginReply::fail(std::string(to_string(code)), std::move(message)));
}

void LlmPlugin::State::finish(const CallPtr& c, PluginReply reply) {
  if (c->finished) return;
  c->finished = true;
  c->timer.cancel();
  if (c->queued) {
    c->queued = false;
    queue.erase(std::find(queue.begin(), queue.end(), c));
    record([](LlmMetrics& m) { m.queued--; });
  }
  if (c->http_id) client.cancel(*std::exchange(c->http_id, std::nullopt));
  auto latency = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - c->started);
  record([&](LlmMetrics& m) { m.add_latency(latency); });
  calls.erase(c->id);
  post_reply(std::move(c->done), std::move(reply));
  if (c->holds_slot) {
    c->holds_slot = false;
    --running;
    record([](LlmMetrics& m) { m.in_flight--; });
    pump();
  }
}

void LlmPlugin::State::shutdown() {
  shut_down = true;
  std::vector<CallPtr> pending;
  for (auto& [id, c] : calls) pending.push_back(c);
  for (auto& c : pending) fail(c, LlmError::cancelled, "the llm plugin is shutting down");
  client.cancel_all();
}

LlmPlugin::LlmPlugin(boost::asio::io_context& io, LlmConfig config)
    : state_(std::make_shared<State>(io, std::move(config))) {}

LlmPlugin::~LlmPlugin() {
  // Pending replies are dropped, not delivered: nothing runs after the plugin is gone.
  state_->shutdown();
  state_.reset();
}

void LlmPlugin::call(PluginCall call, PluginDone done) { state_->begin(std::move(call), std::move(done)); }

void LlmPlugin::shutdown() { state_->shutdown(); }

const LlmMetrics& LlmPlugin::metrics() const { return state_->metrics; }

const LlmConfig& LlmPlugin::config() const { return state_->config; }

namespace {
const PluginRegistrar registrar("llm", [](boost::asio::io_context& io, const nlohmann::json& config) -> std::unique_ptr<Plugin> {
  return std::make_unique<LlmPlugin>(io, LlmConfig::from_json(config));
});
}  // namespace

}  // namespace charla::plugins::llm
