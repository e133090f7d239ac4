#pragma once
// A fake OpenAI-compatible chat-completions server over real HTTP on 127.0.0.1.
// POST {base_url()}/chat/completions answers in the real wire format:
//   {"id","object":"chat.completion","created","model","choices":[{"index":0,
//    "message":{"role":"assistant","content":...},"finish_reason":"stop"}],"usage":{...}}
// Each request takes the next scripted step (script()), then the default step.
// Steps: a reply (optionally slow), 429 with Retry-After, 5xx, malformed JSON, hang.
// It speaks HTTP/1.1 (server()), or HTTP/2 without TLS (Wire::h2c, h2c()) with the same
// answers.
#include "support/fake_h2c_server.hpp"
#include "support/fake_http_server.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

namespace charla::test {

struct LlmStep {
  enum class Kind { reply, rate_limited, server_error, malformed, hang };
  Kind kind = Kind::reply;
  std::string content;  // reply: the assistant's text; empty: "echo: <last user message>"
  std::chrono::milliseconds latency{0};
  int retry_after_s = -1;  // rate_limited: Retry-After header in seconds; -1: none
  unsigned status = 500;   // server_error

  static LlmStep reply(std::string content = {}, std::chrono::milliseconds latency = {}) {
    return {Kind::reply, std::move(content), latency};
  }
  static LlmStep rate_limited(int retry_after_s = -1) {
    LlmStep s{Kind::rate_limited};
    s.retry_after_s = retry_after_s;
    return s;
  }
  static LlmStep server_error(unsigned status = 500) {
    LlmStep s{Kind::server_error};
    s.status = status;
    return s;
  }
  static LlmStep malformed() { return {Kind::malformed}; }
  static LlmStep hang() { return {Kind::hang}; }
};

class FakeLlm {
 public:
  // tls: HTTP/2 over TLS (or HTTP/1.1 if the client offers no "h2") with the certificate
  // in `tls`, at https://localhost:<port>/v1.
  enum class Wire { http1, h2c, tls };

  explicit FakeLlm(Wire wire = Wire::http1, std::optional<FakeTls> tls = {}) {
    auto handler = [this](const FakeRequest& r) { return answer(r); };
    if (wire == Wire::h2c) h2c_ = std::make_unique<FakeH2cServer>(handler);
    else if (wire == Wire::tls) h2c_ = std::make_unique<FakeH2cServer>(handler, FakeH2cServer::kMaxConcurrentStreams, tls);
    else server_ = std::make_unique<FakeHttpServer>(handler);
    tls_ = wire == Wire::tls;
  }

  std::string base_url() const {
    return server_ ? server_->url("/v1") : tls_ ? h2c_->https_url("/v1") : h2c_->url("/v1");
  }
  FakeHttpServer& server() { return *server_; }  // Wire::http1 only
  FakeH2cServer& h2c() { return *h2c_; }          // Wire::h2c and Wire::tls

  void script(std::vector<LlmStep> steps) {
    std::lock_guard lock(mutex_);
    for (auto& s : steps) script_.push_back(std::move(s));
  }
  void set_default(LlmStep step) {
    std::lock_guard lock(mutex_);
    default_ = std::move(step);
  }
  // Parsed request bodies of /chat/completions calls, in arrival order.
  std::vector<nlohmann::json> bodies() const {
    std::lock_guard lock(mutex_);
    return bodies_;
  }
  std::vector<FakeRequest> requests() const { return server_ ? server_->received() : h2c_->received(); }

  static std::string completion(const std::string& content, std::size_t prompt_tokens, std::size_t completion_tokens,
                                const std::string& model = "fake-model") {
    nlohmann::json j{
        {"id", "chatcmpl-fake"},
        {"object", "chat.completion"},
        {"created", 1700000000},
        {"model", model},
        {"choices", {{{"index", 0}, {"message", {{"role", "assistant"}, {"content", content}}}, {"finish_reason", "stop"}}}},
        {"usage",
         {{"prompt_tokens", prompt_tokens}, {"completion_tokens", completion_tokens}, {"total_tokens", prompt_tokens + completion_tokens}}}};
    return j.dump();
  }

  static std::string error_body(const std::string& message, const std::string& type) {
    return nlohmann::json{{"error", {{"message", message}, {"type", type}, {"param", nullptr}, {"code", nullptr}}}}.dump();
  }

 private:
  static std::size_t words(const std::string& s) {
    std::istringstream in(s);
    std::string w;
    std::size_t n = 0;
    while (in >> w) ++n;
    return n;
  }

  FakeReply answer(const FakeRequest& req) {
    if (req.method() != boost::beast::http::verb::post || !std::string_view(req.target()).ends_with("/chat/completions"))
      return FakeReply::json(error_body("Unknown request URL", "invalid_request_error"), 404);
    auto body = nlohmann::json::parse(req.body(), nullptr, false);
    if (body.is_discarded() || !body.contains("messages") || !body["messages"].is_array())
      return FakeReply::json(error_body("'messages' is a required property", "invalid_request_error"), 400);

    LlmStep step;
    {
      std::lock_guard lock(mutex_);
      bodies_.push_back(body);
      if (!script_.empty()) {
        step = std::move(script_.front());
        script_.pop_front();
      } else {
        step = default_;
      }
    }
    switch (step.kind) {
      case LlmStep::Kind::hang:
        return FakeReply::never();
      case LlmStep::Kind::rate_limited: {
        auto r = FakeReply::json(error_body("Rate limit reached for requests", "requests"), 429);
        if (step.retry_after_s >= 0) r.header("Retry-After", std::to_string(step.retry_after_s));
        return r.after(step.latency);
      }
      case LlmStep::Kind::server_error:
        return FakeReply::json(error_body("The server had an error while processing your request.", "server_error"), step.status)
            .after(step.latency);
      case LlmStep::Kind::malformed:
        return FakeReply::json(R"({"id":"chatcmpl-fake","choices":[{"index":0,"message":{"role":"assi)").after(step.latency);
      case LlmStep::Kind::reply:
        break;
    }
    std::string last_user, all_text;
    for (const auto& m : body["messages"]) {
      if (!m.contains("content") || !m["content"].is_string()) continue;
      all_text += m["content"].get<std::string>() + " ";
      if (m.value("role", "") == "user") last_user = m["content"];
    }
    std::string content = step.content.empty() ? "echo: " + last_user : step.content;
    return FakeReply::json(completion(content, words(all_text), words(content), body.value("model", "fake-model")))
        .after(step.latency);
  }

  mutable std::mutex mutex_;
  std::deque<LlmStep> script_;
  LlmStep default_ = LlmStep::reply();
  std::vector<nlohmann::json> bodies_;
  // Last: stopped first, while the state they use still exists.
  std::unique_ptr<FakeHttpServer> server_;
  std::unique_ptr<FakeH2cServer> h2c_;
  bool tls_ = false;
};

}  // namespace charla::test
