#include "whatsapp/outbox_sender.hpp"

#include "log/log.hpp"
#include "log/thread_name.hpp"
#include "net/http_client.hpp"
#include "whatsapp/protocol/graph_errors.hpp"
#include "whatsapp/protocol/message_builder.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <unordered_map>

namespace charla::whatsapp {

namespace asio = boost::asio;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

// Status ranks: webhooks can arrive out of order, a row only moves forward.
int status_rank(const std::string& s) {
  if (s == "pending") return 0;
  if (s == "accepted") return 1;
  if (s == "sent") return 2;
  if (s == "delivered") return 3;
  if (s == "read" || s == "played") return 4;
  if (s == "failed" || s == "dead" || s == "sink") return 5;  // terminal
  return -1;
}

bool is_bsuid(const std::string& user) {
  return user.find_first_not_of("0123456789+") != std::string::npos;
}

struct Pending {
  runtime::OutboundRow row;
  std::vector<json> parts;  // Graph request bodies; a long text has several
  std::size_t next_part = 0;
  std::vector<std::string> wamids;
  bool window_fallback_done = false;
  std::string sent_with_token;  // the bearer token of the request in flight
  // The last request of this part failed after it may have reached the Graph API (a
  // timeout, a connection lost mid-request): sending it again may deliver it twice.
  bool maybe_delivered = false;
  // "dispatched_ms" is in the row (or on its way to the store): a restart will count
  // this row's next send as a possible duplicate.
  bool dispatch_recorded = false;
};

struct Recipient {
  std::deque<Pending> queue;
  bool in_flight = false;
  bool waiting_for_slot = false;  // listed in its number's `blocked` FIFO
  Clock::time_point not_before{};
  std::unique_ptr<asio::steady_timer> timer;
};

struct Number {
  config::WhatsAppNumber config;
  bool paused = false;
  Clock::time_point not_before{};  // app/WABA/number rate limits hold the whole number
  double tokens = 1;
  Clock::time_point refilled = Clock::now();
  std::deque<std::string> waiting;  // recipients blocked by the throughput cap
  std::unique_ptr<asio::steady_timer> timer;
  int in_flight = 0;                // requests of this number in flight
  std::deque<std::string> blocked;  // recipients ready to send, waiting for a slot (FIFO)
};

}  // namespace

struct OutboxSender::Impl : std::enable_shared_from_this<OutboxSender::Impl> {
  config::WhatsAppConfig config;
  store::Store& store;
  const runtime::Engine& engine;
  double scale;
  SenderMetrics metrics;
  asio::io_context io;
  std::unique_ptr<net::HttpClient> http;
  std::map<std::string, Number> numbers;
  std::unordered_map<std::string, Recipient> recipients;
  std::thread thread;
  mutable std::mutex paused_mutex;
  std::set<std::string> paused_numbers;  // mirror of Number::paused readable from any thread

  void set_paused(Number& n, bool paused) {
    n.paused = paused;
    std::lock_guard lock(paused_mutex);
    if (paused)
      paused_numbers.insert(n.config.phone_number_id);
    else
      paused_numbers.erase(n.config.phone_number_id);
  }

  Impl(const config::WhatsAppConfig& c, store::Store& s, const runtime::Engine& e, double sc)
      : config(c), store(s), engine(e), scale(sc) {
    for (auto& n : config.numbers) numbers[n.phone_number_id].config = n;
  }

  Number& number(const std::string& id) {
    auto& n = numbers[id];
    if (n.config.phone_number_id.empty()) {  // not configured: no token, its rows fail (retryable)
      n.config.phone_number_id = id;
    }
    return n;
  }

  int max_in_flight() const { return std::max(1, config.max_in_flight); }

  // Every number shares the Graph API host: curl may open as many connections as all
  // numbers together may have requests in flight, so its queue (whose wait would count
  // against the request timeout) stays empty and the sender's cap is the one that holds.
  long host_connection_limit() const {
    long sending = 0;
    for (auto& [id, n] : numbers)
      if (!n.config.token.empty()) ++sending;
    return std::max(1L, sending) * max_in_flight();
  }

  // --- durable row updates -------------------------------------------------------
  // `events`: rows for the `events` db (message.failed), committed with the update.
  void update_row(std::uint64_t seq, json fields, std::vector<std::string> wamids = {},
                  std::vector<std::string> events = {}) {
    store.submit(
        [seq, fields = std::move(fields), wamids = std::move(wamids), events = std::move(events)](store::WriteTxn& txn) {
          auto raw = txn.get(store::Db::outbox, store::be64(seq));
          if (!raw) return;
          auto row = json::parse(*raw, nullptr, false);
          // An unreadable row is left as it is (never overwritten with a partial one).
          if (!row.is_object()) throw std::runtime_error("outbox row " + std::to_string(seq) + " is unreadable");
          for (auto& [k, v] : fields.items()) row[k] = v;
          txn.put(store::Db::outbox, store::be64(seq), row.dump());
          for (auto& w : wamids) txn.put(store::Db::outbox_by_wamid, w, store::be64(seq));
          runtime::EventLog::put(txn, events);
        },
        [seq](const std::string& error) {
          if (!error.empty()) log::error("outbox_update_failed", {{"seq", seq}, {"error", error}});
        },
        // Until "accepted" is durable, a crash makes the row go out again: these updates
        // go ahead of queued turn results, or that window grows with the writer's
        // backlog (seconds after a restart under load). One priority for all of them
        // keeps their order.
        store::Store::Priority::intake);
  }

  // --- queueing ------------------------------------------------------------------
  void enqueue(runtime::OutboundRow row) {
    Pending p;
    p.parts = build_requests(row.message, row.to, is_bsuid(row.to));
    p.row = std::move(row);
    // Recovered after a stop in the middle of a send: the customer may already have it.
    p.maybe_delivered = p.row.dispatched;
    p.dispatch_recorded = p.row.dispatched;
    auto key = p.row.account + ":" + p.row.to;
    if (p.parts.empty()) {
      finish_failed(p, "message could not be built for the Graph API");
      return;
    }
    recipients[key].queue.push_back(std::move(p));
    pump(key);
  }

  void pump(const std::string& key) {
    auto it = recipients.find(key);
    if (it == recipients.end()) return;
    auto& r = it->second;
    while (!r.in_flight && !r.queue.empty()) {
      auto now = Clock::now();
      if (now < r.not_before) return arm_recipient(key, r);
      auto& p = r.queue.front();
      auto& n = number(p.row.account);
      if (config.sink_mode()) {
        sink(p);
        r.queue.pop_front();
        continue;
      }
      if (n.config.token.empty()) {
        // Not a configured number (every configured one has a token, or serve refuses
        // to start): failed, visible and retryable, never silently sunk.
        finish_failed(p, "phone_number_id " + p.row.account + " is not a configured number: no Graph API token to send with");
        r.queue.pop_front();
        continue;
      }
      if (n.paused) return;
      if (now < n.not_before) {
        n.waiting.push_back(key);
        return arm_number(n);
      }
      // The in-flight cap comes before the token bucket: a token is only taken by a
      // request that goes out now.
      if (n.in_flight >= max_in_flight()) {
        if (!r.waiting_for_slot) {
          r.waiting_for_slot = true;
          n.blocked.push_back(key);
        }
        return;
      }
      if (!take_token(n)) {
        n.waiting.push_back(key);
        return arm_number(n);
      }
      return send(key, r, n);
    }
    if (!r.in_flight && r.queue.empty() && !r.waiting_for_slot) recipients.erase(it);  // idle recipients keep no heap
  }

  // Gives free slots of a number to the recipients waiting for one, oldest first. A
  // recipient that cannot send now for another reason (its own backoff, the token
  // bucket, a pause) leaves the FIFO and is woken by that reason's own timer or event.
  void pump_blocked(const std::string& id) {
    auto& n = number(id);
    while (n.in_flight < max_in_flight() && !n.blocked.empty()) {
      auto key = std::move(n.blocked.front());
      n.blocked.pop_front();
      auto it = recipients.find(key);
      if (it == recipients.end()) continue;
      it->second.waiting_for_slot = false;
      pump(key);
    }
  }

  void arm_recipient(const std::string& key, Recipient& r) {
    r.timer = std::make_unique<asio::steady_timer>(io, r.not_before);
    r.timer->async_wait([this, key](const boost::system::error_code& ec) {
      if (!ec) pump(key);
    });
  }

  bool take_token(Number& n) {
    const double rate = n.config.max_per_second > 0 ? n.config.max_per_second : 80;
    auto now = Clock::now();
    n.tokens = std::min(std::max(1.0, rate), n.tokens + std::chrono::duration<double>(now - n.refilled).count() * rate);
    n.refilled = now;
    if (n.tokens < 1) return false;
    n.tokens -= 1;
    return true;
  }

  void arm_number(Number& n) {
    if (n.timer) return;
    const double rate = n.config.max_per_second > 0 ? n.config.max_per_second : 80;
    auto wait = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(std::max(0.0, 1 - n.tokens) / rate));
    auto at = std::max(Clock::now() + wait, n.not_before);
    n.timer = std::make_unique<asio::steady_timer>(io, at);
    n.timer->async_wait([this, id = n.config.phone_number_id](const boost::system::error_code& ec) {
      if (ec) return;
      auto& num = number(id);
      num.timer.reset();
      auto waiting = std::move(num.waiting);
      num.waiting.clear();
      for (auto& key : waiting) pump(key);
    });
  }

  // --- sending -------------------------------------------------------------------
  void send(const std::string& key, Recipient& r, Number& n) {
    r.in_flight = true;
    ++n.in_flight;
    ++metrics.in_flight;
    auto& p = r.queue.front();
    if (p.maybe_delivered) {
      p.maybe_delivered = false;
      ++metrics.resends;
      log::warn("whatsapp_ambiguous_resend", {{"seq", p.row.seq}, {"to", p.row.to}, {"attempt", p.row.attempts + 1},
                                              {"part", p.next_part}});
    }
    if (!p.dispatch_recorded) {
      // Marks the row before Graph can answer (same priority lane as "accepted", so it
      // commits first): after a kill -9 between the two, the restarted process knows
      // this send may have gone out and counts its repeat in charla_whatsapp_resends_total.
      // Only the first attempt writes it; it costs one small write per message.
      p.dispatch_recorded = true;
      update_row(p.row.seq, {{"dispatched_ms", engine.clock().now_ms()}});
    }
    net::HttpRequest req;
    req.method = "POST";
    req.url = config.api_base + "/" + config.api_version + "/" + p.row.account + "/messages";
    p.sent_with_token = n.config.token;
    req.headers = {{"Authorization", "Bearer " + n.config.token}, {"Content-Type", "application/json"}};
    req.body = p.parts[p.next_part].dump();
    req.timeout = std::chrono::milliseconds(config.request_timeout_ms);
    std::weak_ptr<Impl> weak = shared_from_this();
    http->request(std::move(req), [weak, key, account = n.config.phone_number_id](net::HttpResponse resp) {
      if (auto self = weak.lock()) self->on_response(key, account, std::move(resp));
    });
  }

  void on_response(const std::string& key, const std::string& account, net::HttpResponse resp) {
    --number(account).in_flight;
    --metrics.in_flight;
    auto it = recipients.find(key);
    if (it == recipients.end() || it->second.queue.empty()) return pump_blocked(account);
    auto& r = it->second;
    r.in_flight = false;
    auto& p = r.queue.front();
    SendOutcome outcome;
    if (!resp.error.empty()) {
      outcome.action = SendAction::retry;
      outcome.error_message = resp.error;
      // Only a failed connect proves that Graph never saw the request.
      p.maybe_delivered = resp.error != "connect";
    } else {
      std::optional<std::string_view> retry_after;
      if (auto h = resp.headers.find("retry-after"); h != resp.headers.end()) retry_after = h->second;
      outcome = classify_send_response(static_cast<int>(resp.status), resp.body, retry_after);
    }
    handle(key, r, p, outcome);
    // Recipients already waiting for a slot go first; this one, if it has more to
    // send, queues behind them.
    pump_blocked(account);
    pump(key);
  }

  void handle(const std::string& key, Recipient& r, Pending& p, const SendOutcome& o) {
    auto& n = number(p.row.account);
    switch (o.action) {
      case SendAction::accepted:
        if (!o.wamid.empty()) p.wamids.push_back(o.wamid);
        if (++p.next_part < p.parts.size()) return;  // next part of a long text, in order
        ++metrics.sent;
        update_row(p.row.seq, {{"status", "accepted"}, {"wamid", p.wamids.empty() ? json() : json(p.wamids.back())},
                               {"wamids", p.wamids}, {"attempts", p.row.attempts + 1}}, p.wamids);
        r.queue.pop_front();
        return;
      case SendAction::retry:
      case SendAction::retry_pair_rate: return schedule_retry(key, r, p, o);
      case SendAction::window_closed:
        if (!p.window_fallback_done && use_window_template(p)) return;
        finish_failed(p, describe(o));
        r.queue.pop_front();
        return;
      case SendAction::pause_token:
        // The token was replaced while this request was in flight: the error is about
        // the old token, so send again (pump() does) with the new one instead of pausing.
        if (p.sent_with_token != n.config.token) return;
        if (!n.paused) {
          set_paused(n, true);
          ++metrics.token_pauses;
          log::error("whatsapp_token_invalid", {{"phone_number_id", n.config.phone_number_id}, {"error", describe(o)},
                                                {"action", "sending paused for this number until the token is replaced"}});
        }
        return;
      case SendAction::fail:
        finish_failed(p, describe(o));
        r.queue.pop_front();
        return;
    }
  }

  static std::string describe(const SendOutcome& o) {
    // Graph's own messages often start with "(#code)" already.
    std::string s = o.error_code && o.error_message.rfind("(#", 0) != 0 ? "(#" + std::to_string(*o.error_code) + ") " : "";
    s += o.error_message;
    if (!o.error_details.empty()) s += ": " + o.error_details;
    return s;
  }

  void schedule_retry(const std::string&, Recipient& r, Pending& p, const SendOutcome& o) {
    ++p.row.attempts;
    if (p.row.attempts >= config.max_attempts) {
      ++metrics.dead;
      log::error("whatsapp_dead_letter", {{"seq", p.row.seq}, {"to", p.row.to}, {"attempts", p.row.attempts},
                                          {"error", describe(o)}});
      update_row(p.row.seq, {{"status", "dead"}, {"attempts", p.row.attempts}, {"last_error", describe(o)}}, {},
                 message_failed(p, "dead", describe(o)));
      r.queue.pop_front();
      return;
    }
    ++metrics.retries;
    auto delay = backoff(p.row.attempts, o.retry_after_s, o.action);
    auto scaled = std::chrono::milliseconds(static_cast<std::int64_t>(static_cast<double>(delay.count()) * scale));
    r.not_before = Clock::now() + scaled;
    // Throughput limits of the app, the WABA or the number (not of this recipient):
    // every recipient of the number waits.
    if (o.error_code && (*o.error_code == 4 || *o.error_code == 80007 || *o.error_code == 130429)) {
      auto& n = number(p.row.account);
      n.not_before = std::max(n.not_before, r.not_before);
    }
    log::warn("whatsapp_send_retry", {{"seq", p.row.seq}, {"to", p.row.to}, {"attempt", p.row.attempts},
                                      {"delay_ms", scaled.count()}, {"error", describe(o)}});
    json fields{{"attempts", p.row.attempts}, {"last_error", describe(o)},
                {"next_attempt_ms", engine.clock().now_ms() + scaled.count()}};
    if (!p.maybe_delivered) {
      // Graph answered with an error: nothing went out, so a restart before the retry
      // is not a possible duplicate.
      fields["dispatched_ms"] = nullptr;
      p.dispatch_recorded = false;
    }
    update_row(p.row.seq, std::move(fields));
  }

  bool use_window_template(Pending& p) {
    p.window_fallback_done = true;
    json tmpl;
    {
      auto txn = store.read();
      auto raw = txn.get(store::Db::conv, p.row.conversation);
      if (!raw) return false;
      auto conv = json::parse(*raw, nullptr, false);
      if (!conv.is_object() || !conv.contains("flow") || !conv["flow"].is_string()) return false;  // unreadable record
      auto* flow = engine.flow(conv["flow"].get<std::string>());
      if (!flow || !flow->window_template.is_object()) return false;
      tmpl = flow->window_template;
    }
    json message{{"type", "template"}, {"name", tmpl.value("name", "")}, {"language", tmpl.value("language", "es")}};
    if (tmpl.contains("parameters")) message["parameters"] = tmpl["parameters"];
    if (tmpl.contains("components")) message["components"] = tmpl["components"];
    auto parts = build_requests(message, p.row.to, is_bsuid(p.row.to));
    if (parts.empty()) return false;
    ++metrics.window_fallbacks;
    log::info("whatsapp_window_template", {{"seq", p.row.seq}, {"to", p.row.to}, {"template", message["name"]}});
    p.row.message = message;
    p.parts = std::move(parts);
    p.next_part = 0;
    update_row(p.row.seq, {{"message", message}, {"window_fallback", true}});
    return true;
  }

  void finish_failed(const Pending& p, const std::string& error) {
    ++metrics.failed;
    log::warn("whatsapp_send_failed", {{"seq", p.row.seq}, {"to", p.row.to}, {"error", error}});
    update_row(p.row.seq, {{"status", "failed"}, {"last_error", error}, {"attempts", p.row.attempts + 1}}, {},
               message_failed(p, "failed", error));
  }

  // The message.failed event of a row given up on (runtime/turn_events.hpp).
  std::vector<std::string> message_failed(const Pending& p, const char* status, const std::string& error) const {
    return engine.events().rows("message.failed", p.row.conversation, p.row.to, engine.clock().now_ms(),
                                {{"outbox_id", p.row.seq},
                                 {"status", status},
                                 {"type", p.row.message.value("type", "text")},
                                 {"error", error}});
  }

  void sink(const Pending& p) {
    ++metrics.sink;
    log::info("whatsapp_sink", {{"seq", p.row.seq}, {"phone_number_id", p.row.account}, {"to", p.row.to},
                                {"message", log::message(p.row.message)}});
    update_row(p.row.seq, {{"status", "sink"}});
  }
};

OutboxSender::OutboxSender(const config::WhatsAppConfig& config, store::Store& store, const runtime::Engine& engine,
                           double retry_time_scale)
    : impl_(std::make_shared<Impl>(config, store, engine, retry_time_scale)) {
  net::HttpClientOptions http_options;
  http_options.max_host_connections = impl_->host_connection_limit();
  impl_->http = std::make_unique<net::HttpClient>(impl_->io, http_options);
  impl_->thread = std::thread([impl = impl_.get()] {
    log::name_this_thread("outbox-sender");
    auto guard = asio::make_work_guard(impl->io);
    // An exception that reaches the loop is logged and counted; sending goes on.
    for (;;) {
      try {
        impl->io.run();
        return;
      } catch (const std::exception& e) {
        ++impl->metrics.loop_exceptions;
        log::error("whatsapp_sender_loop_exception", {{"error", e.what()}});
      } catch (...) {
        ++impl->metrics.loop_exceptions;
        log::error("whatsapp_sender_loop_exception", {{"error", "unknown exception"}});
      }
    }
  });
}

OutboxSender::~OutboxSender() { stop(); }

void OutboxSender::stop() {
  if (!impl_->thread.joinable()) return;
  asio::post(impl_->io, [impl = impl_.get()] {
    impl->http->cancel_all();
    impl->io.stop();
  });
  impl_->thread.join();
  impl_->http.reset();
}

std::optional<std::string> OutboxSender::validate(const json& message) const { return whatsapp::validate(message); }

void OutboxSender::dispatch(std::vector<runtime::OutboundRow> rows) {
  asio::post(impl_->io, [impl = impl_.get(), rows = std::move(rows)]() mutable {
    for (auto& row : rows) impl->enqueue(std::move(row));
  });
}

void OutboxSender::apply_status(const std::string& wamid, const std::string& status, std::int64_t timestamp,
                                const json& errors, std::function<void(const std::string&)> done) {
  auto* metrics = &impl_->metrics;
  ++metrics->statuses;
  impl_->store.submit(
      [wamid, status, timestamp, errors, metrics](store::WriteTxn& txn) {
        auto seq = txn.get(store::Db::outbox_by_wamid, wamid);
        auto raw = seq ? txn.get(store::Db::outbox, *seq) : std::nullopt;
        if (!raw) {
          ++metrics->orphan_statuses;  // sent by another system, or pruned
          return;
        }
        auto row = json::parse(*raw, nullptr, false);
        if (!row.is_object()) {  // answered as handled: Meta must not redeliver it for days
          log::error("outbox_row_unreadable", {{"wamid", wamid}});
          return;
        }
        if (status_rank(status) <= status_rank(row.value("status", "pending"))) return;
        row["status"] = status;
        row["status_ms"] = timestamp * 1000;
        if (!errors.is_null()) row["last_error"] = errors;
        txn.put(store::Db::outbox, *seq, row.dump());
      },
      std::move(done));
}

bool OutboxSender::replace_token(const std::string& phone_number_id, const std::string& token) {
  asio::post(impl_->io, [impl = impl_.get(), phone_number_id, token] {
    auto& n = impl->number(phone_number_id);
    const bool had_token = !n.config.token.empty();
    n.config.token = token;
    if (!had_token) impl->http->set_max_host_connections(impl->host_connection_limit());
    bool was_paused = n.paused;
    impl->set_paused(n, false);
    log::info("whatsapp_token_replaced", {{"phone_number_id", phone_number_id}, {"resumed", was_paused}});
    std::vector<std::string> keys;
    for (auto& [key, r] : impl->recipients)
      if (key.compare(0, phone_number_id.size() + 1, phone_number_id + ":") == 0) keys.push_back(key);
    for (auto& key : keys) impl->pump(key);
  });
  return true;
}

void OutboxSender::retry_row(std::uint64_t seq, std::function<void(const std::string&)> done) {
  auto row = std::make_shared<std::optional<runtime::OutboundRow>>();
  impl_->store.submit(
      [seq, row](store::WriteTxn& txn) {
        row->reset();
        auto raw = txn.get(store::Db::outbox, store::be64(seq));
        if (!raw) return;
        auto j = json::parse(*raw, nullptr, false);
        if (!j.is_object() || !j.contains("status") || !j["status"].is_string())
          throw std::runtime_error("outbox row " + std::to_string(seq) + " is unreadable");
        auto status = j["status"].get<std::string>();
        if (status != "dead" && status != "failed" && status != "sink") return;
        j["status"] = "pending";
        j["attempts"] = 0;
        txn.put(store::Db::outbox, store::be64(seq), j.dump());
        *row = runtime::OutboundRow::from_json(seq, j);
      },
      [this, row, done = std::move(done)](const std::string& error) {
        if (error.empty() && !*row) return done("no dead, failed or sink message with that id");
        if (error.empty()) dispatch({**row});
        done(error);
      });
}

bool OutboxSender::paused(const std::string& phone_number_id) const {
  std::lock_guard lock(impl_->paused_mutex);
  return impl_->paused_numbers.count(phone_number_id) > 0;
}

const SenderMetrics& OutboxSender::metrics() const { return impl_->metrics; }

}  // namespace charla::whatsapp
