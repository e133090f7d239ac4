#include "flowtest/script.hpp"

#include <boost/asio/post.hpp>

#include <atomic>
#include <map>

namespace charla::flowtest {

using nlohmann::json;

void Script::add(ScriptedReply reply) {
  std::lock_guard lock(mutex_);
  replies_.push_back(std::move(reply));
}

std::string match_subject(const std::string& method, const json& args) {
  if (method == "http") return args.is_object() ? args.value("url", "") : std::string();
  if (args.is_string()) return args.get<std::string>();
  std::string text;
  if (!args.is_object()) return text;
  for (auto key : {"system", "prompt"})
    if (auto it = args.find(key); it != args.end() && it->is_string()) text += it->get<std::string>() + "\n";
  if (auto it = args.find("messages"); it != args.end() && it->is_array())
    for (auto& m : *it)
      if (m.is_object() && m.contains("content") && m["content"].is_string())
        text += m["content"].get<std::string>() + "\n";
  return text;
}

namespace {

std::string describe(const PluginReply& reply) {
  if (!reply.error.is_null()) return "error " + reply.error.value("code", std::string("?"));
  auto text = reply.value.dump();
  if (text.size() > 120) text = text.substr(0, 117) + "...";
  return text;
}

}  // namespace

PluginReply Script::answer(const std::string& method, const json& args) {
  std::lock_guard lock(mutex_);
  const auto subject = match_subject(method, args);
  for (auto it = replies_.begin(); it != replies_.end(); ++it) {
    if (it->method != method) continue;
    if (!it->match.empty() && subject.find(it->match) == std::string::npos) continue;
    PluginReply reply = std::move(it->reply);
    replies_.erase(it);
    calls_.push_back({method, args, true, describe(reply)});
    return reply;
  }
  calls_.push_back({method, args, false, "no scripted reply"});
  return PluginReply::fail("unscripted", "charla test: no scripted reply for this ctx:" + method + " call");
}

std::vector<PluginCallRecord> Script::take_calls() {
  std::lock_guard lock(mutex_);
  return std::exchange(calls_, {});
}

std::size_t Script::pending() const {
  std::lock_guard lock(mutex_);
  return replies_.size();
}

std::vector<ScriptedReply> Script::unused() const {
  std::lock_guard lock(mutex_);
  return {replies_.begin(), replies_.end()};
}

namespace {

std::mutex g_scripts_mutex;
std::map<std::uint64_t, std::shared_ptr<Script>> g_scripts;
std::atomic<std::uint64_t> g_next_script{1};

std::shared_ptr<Script> find_script(std::uint64_t id) {
  std::lock_guard lock(g_scripts_mutex);
  auto it = g_scripts.find(id);
  return it == g_scripts.end() ? nullptr : it->second;
}

class ScriptedPlugin final : public Plugin {
 public:
  ScriptedPlugin(boost::asio::io_context& io, std::shared_ptr<Script> script, std::vector<std::string> methods)
      : io_(io), script_(std::move(script)), methods_(std::move(methods)) {}

  std::vector<std::string> methods() const override { return methods_; }

  void call(PluginCall call, PluginDone done) override {
    auto reply = script_->answer(call.method, call.args);
    // Never from inside call(): the Lua host must yield first.
    boost::asio::post(io_, [reply = std::move(reply), done = std::move(done)]() mutable { done(std::move(reply)); });
  }

 private:
  boost::asio::io_context& io_;
  std::shared_ptr<Script> script_;
  std::vector<std::string> methods_;
};

}  // namespace

std::uint64_t register_script(std::shared_ptr<Script> script) {
  const auto id = g_next_script++;
  std::lock_guard lock(g_scripts_mutex);
  g_scripts[id] = std::move(script);
  return id;
}

void unregister_script(std::uint64_t id) {
  std::lock_guard lock(g_scripts_mutex);
  g_scripts.erase(id);
}

std::string scripted_plugin_name() {
  static const std::string name = [] {
    std::string n = "charla-test-script";
    PluginRegistry::instance().add(n, [](boost::asio::io_context& io, const json& config) -> std::unique_ptr<Plugin> {
      auto script = find_script(config.value("script", std::uint64_t{0}));
      if (!script) throw std::runtime_error("charla test: scripted plugin started without its script");
      return std::make_unique<ScriptedPlugin>(io, std::move(script),
                                              config.value("methods", std::vector<std::string>{}));
    });
    return n;
  }();
  return name;
}

}  // namespace charla::flowtest
