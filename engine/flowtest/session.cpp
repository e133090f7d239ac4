#include "flowtest/session.hpp"

#include <algorithm>

namespace charla::flowtest {

using nlohmann::json;

// Keeps nothing itself: the TurnReport carries the committed rows. It exists so the
// engine validates replies with the channel's own limits, as it does in serve.
class CapturingChannel final : public runtime::Channel {
 public:
  explicit CapturingChannel(const ChannelProfile& profile) : profile_(profile) {}
  std::string name() const override { return profile_.channel; }
  std::optional<std::string> validate(const json& message) const override {
    return profile_.validate ? profile_.validate(message) : std::nullopt;
  }
  void dispatch(std::vector<runtime::OutboundRow>) override {}

 private:
  const ChannelProfile& profile_;
};

namespace {
constexpr int kMaxTimersPerAdvance = 10'000;  // a timer that re-arms itself at "now" must not spin forever
constexpr const char* kAccount = "test";
}  // namespace

Session::Session(SessionOptions options, ChannelProfile profile)
    : options_(std::move(options)), profile_(std::move(profile)), clock_(options_.now_ms),
      script_(std::make_shared<Script>()) {
  script_id_ = register_script(script_);
  store::Store::Options so;
  so.dir = dir_.path() / "data";
  so.durable = false;  // a test's store dies with it
  so.map_size = 64ull << 20;
  store_ = store::Store::open(so);
  channel_ = std::make_unique<CapturingChannel>(profile_);

  runtime::EngineOptions eo;
  eo.workers = 1;
  eo.flows = {options_.flow};
  eo.timer_tick = std::chrono::milliseconds(0);      // the test fires timers (advance)
  // The "" block is what a flow with no block of its own reads (ctx_settings.cpp); config
  // cannot name it, and a session runs one flow, so it is that flow's settings.
  if (options_.settings.is_object()) eo.host.flow_settings[""] = options_.settings;
  eo.seen_prune_every = std::chrono::milliseconds(0);
  eo.plugins = options_.plugins.is_object() ? options_.plugins : json::object();
  json methods = json::array();
  if (options_.llm) methods.push_back("llm");
  if (options_.http) methods.push_back("http");
  if (!methods.empty()) eo.plugins[scripted_plugin_name()] = {{"script", script_id_}, {"methods", methods}};
  engine_ = std::make_unique<runtime::Engine>(std::move(eo), *store_, clock_);
  engine_->add_channel(*channel_);
  engine_->add_turn_observer([this](const runtime::TurnReport& r) { observe(r); });
  try {
    engine_->start();
  } catch (...) {
    engine_->stop();
    engine_.reset();
    store_->close();
    unregister_script(script_id_);
    throw;
  }
  conversation_ = runtime::conversation_key(profile_.channel, kAccount, options_.phone);
}

Session::~Session() {
  if (engine_) engine_->stop();
  engine_.reset();
  if (store_) store_->close();
  unregister_script(script_id_);
}

void Session::observe(const runtime::TurnReport& report) {
  std::lock_guard lock(mutex_);
  reports_.push_back(report);
  cv_.notify_all();
}

bool Session::wait_reports(const std::function<bool(const std::vector<runtime::TurnReport>&)>& done) {
  std::unique_lock lock(mutex_);
  return cv_.wait_for(lock, options_.turn_wait, [&] { return done(reports_); });
}

Step Session::collect(std::vector<runtime::TurnReport> reports) {
  Step step;
  for (auto& r : reports) {
    if (!r.ok) step.errors.push_back(r.error);
    for (auto& row : r.outbound) step.replies.push_back(row.message);
    for (auto& e : r.emitted) step.emitted.push_back({{"name", e.name}, {"payload", e.payload}});
  }
  step.calls = script_->take_calls();
  return step;
}

Step Session::send(std::vector<json> messages) {
  const auto now = clock_.now_ms();
  // A lone message is taken as the customer having stopped typing (no debounce wait);
  // several sent together arrive inside the flow's debounce window and are merged, as
  // in serve. The window's last half second runs in real time (the debounce timer is
  // the worker's), long enough for the batch to be queued before it ends.
  std::int64_t debounce = 0;
  if (const auto* flow = engine_->flow(record().flow.empty() ? engine_->default_flow() : record().flow))
    debounce = flow->double_text_debounce_ms;
  const std::int64_t received = messages.size() > 1 ? now - std::max<std::int64_t>(0, debounce - 500) : now - debounce;

  std::vector<runtime::InboundEvent> events;
  for (auto& message : messages) {
    InboundIdentity id;
    id.id = "wamid.test." + std::to_string(next_message_++);
    id.user = options_.phone;
    id.profile_name = options_.name;
    id.timestamp = now / 1000;
    if (!message.is_object()) message = json::object();
    message["id"] = id.id;
    message["from"] = options_.phone;
    message["timestamp"] = std::to_string(id.timestamp);
    runtime::InboundEvent e;
    e.conversation = conversation_;
    e.channel = profile_.channel;
    e.account = kAccount;
    e.user = options_.phone;
    e.name = options_.name;
    e.dedup_id = id.id;
    e.payload = profile_.flow_message ? profile_.flow_message(message, id) : message;
    e.received_ms = received;
    e.accepted_at = std::chrono::steady_clock::now();
    events.push_back(std::move(e));
  }

  // Shared with the callback: after a timeout it may still run, and must not write to a dead frame.
  auto accepted = std::make_shared<std::optional<runtime::AcceptResult>>();
  engine_->accept(std::move(events), [this, accepted](const runtime::AcceptResult& r) {
    std::lock_guard lock(mutex_);
    *accepted = r;
    cv_.notify_all();
  });
  {
    std::unique_lock lock(mutex_);
    if (!cv_.wait_for(lock, options_.turn_wait, [&] { return accepted->has_value(); }))
      throw std::runtime_error("the message was not stored within " + std::to_string(options_.turn_wait.count()) + " ms");
  }
  if (!(*accepted)->error.empty()) throw std::runtime_error("the message was not stored: " + (*accepted)->error);
  auto seqs = (*accepted)->seqs;
  auto covered = [&](const std::vector<runtime::TurnReport>& reports) {
    return std::all_of(seqs.begin(), seqs.end(), [&](std::uint64_t seq) {
      return std::any_of(reports.begin(), reports.end(), [&](const runtime::TurnReport& r) {
        return std::find(r.inbox_seqs.begin(), r.inbox_seqs.end(), seq) != r.inbox_seqs.end();
      });
    });
  };
  if (!wait_reports(covered))
    throw std::runtime_error("the flow did not finish the turn within " + std::to_string(options_.turn_wait.count()) +
                             " ms");
  std::vector<runtime::TurnReport> reports;
  {
    std::lock_guard lock(mutex_);
    reports = std::exchange(reports_, {});
  }
  return collect(std::move(reports));
}

std::optional<std::int64_t> Session::next_timer_due() const {
  std::optional<std::int64_t> due;
  auto txn = store_->read();
  txn.scan(store::Db::timers, "", [&](std::string_view key, std::string_view) {
    runtime::TimerKey k;
    if (!runtime::parse_timer_key(key, k)) return true;
    due = k.due_ms;
    return false;  // keys are in due order
  });
  return due;
}

Step Session::advance(std::int64_t ms) {
  const auto target = clock_.now_ms() + std::max<std::int64_t>(0, ms);
  Step step;
  for (int fired = 0;; ++fired) {
    if (fired >= kMaxTimersPerAdvance)
      throw std::runtime_error("more than " + std::to_string(kMaxTimersPerAdvance) +
                               " timers fired in one advance: a timer that re-arms itself with no delay?");
    auto due = next_timer_due();
    if (!due || *due > target) break;
    if (*due > clock_.now_ms()) clock_.set(*due);
    std::vector<std::string> names;
    {
      auto txn = store_->read();
      const auto now = clock_.now_ms();
      txn.scan(store::Db::timers, "", [&](std::string_view key, std::string_view) {
        runtime::TimerKey k;
        if (!runtime::parse_timer_key(key, k)) return true;
        if (k.due_ms > now) return false;
        names.push_back(k.name);
        return true;
      });
    }
    engine_->tick_timers();
    const auto expected = names.size();
    auto enough = [&](const std::vector<runtime::TurnReport>& reports) {
      return static_cast<std::size_t>(std::count_if(reports.begin(), reports.end(),
                                                    [](const runtime::TurnReport& r) { return r.timer; })) >= expected;
    };
    if (!wait_reports(enough))
      throw std::runtime_error("a timer turn did not finish within " + std::to_string(options_.turn_wait.count()) +
                               " ms");
    std::vector<runtime::TurnReport> reports;
    {
      std::lock_guard lock(mutex_);
      reports = std::exchange(reports_, {});
    }
    auto part = collect(std::move(reports));
    for (auto& n : names) step.timers.push_back(n);
    for (auto& r : part.replies) step.replies.push_back(std::move(r));
    for (auto& e : part.errors) step.errors.push_back(std::move(e));
    for (auto& c : part.calls) step.calls.push_back(std::move(c));
    for (auto& e : part.emitted) step.emitted.push_back(std::move(e));
    fired += static_cast<int>(names.size());
  }
  clock_.set(target);
  return step;
}

void Session::reset() {
  auto result = std::make_shared<std::optional<std::pair<unsigned, std::string>>>();
  engine_->reset_conversation(conversation_, [this, result](unsigned status, const std::string& message) {
    std::lock_guard lock(mutex_);
    result->emplace(status, message);
    cv_.notify_all();
  });
  std::unique_lock lock(mutex_);
  if (!cv_.wait_for(lock, options_.turn_wait, [&] { return result->has_value(); }))
    throw std::runtime_error("the conversation reset did not finish in time");
  if ((*result)->first != 200) throw std::runtime_error("the conversation reset failed: " + (*result)->second);
  reports_.clear();
}

runtime::Conversation Session::record() const {
  auto txn = store_->read();
  auto raw = txn.get(store::Db::conv, conversation_);
  if (!raw) return runtime::Conversation{};
  return runtime::Conversation::from_json(conversation_, json::parse(*raw));
}

}  // namespace charla::flowtest
