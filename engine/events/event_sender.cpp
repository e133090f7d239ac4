#include "events/event_sender.hpp"

#include "crypto/hmac_sha256.hpp"
#include "log/log.hpp"
#include "log/thread_name.hpp"
#include "net/http_client.hpp"
#include "runtime/event_log.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <algorithm>
#include <charconv>
#include <map>
#include <random>
#include <set>
#include <thread>

namespace charla::events {

namespace asio = boost::asio;
using nlohmann::json;
using runtime::EventRecord;

namespace {

constexpr std::size_t kMaxInFlight = 16;                       // POSTs at once, all webhooks
constexpr std::chrono::milliseconds kPollEvery{500};           // rows from admin ops and dead letters
constexpr std::chrono::milliseconds kMinScanGap{20};           // nudges from a busy engine coalesce
constexpr std::int64_t kMaxBackoffMs = 10 * 60 * 1000;
constexpr std::int64_t kMaxRetryAfterMs = 60 * 60 * 1000;

// Retry-After as delay-seconds; an HTTP date or garbage is ignored (our backoff applies).
std::optional<std::int64_t> retry_after_ms(const net::HttpResponse& resp) {
  auto it = resp.headers.find("retry-after");
  if (it == resp.headers.end()) return std::nullopt;
  std::int64_t seconds = 0;
  const auto& v = it->second;
  auto [end, err] = std::from_chars(v.data(), v.data() + v.size(), seconds);
  if (err != std::errc() || seconds < 0) return std::nullopt;
  return std::min(seconds * 1000, kMaxRetryAfterMs);
}

std::string describe(const net::HttpResponse& resp) {
  if (!resp.error.empty()) return resp.error;
  std::string text = "HTTP " + std::to_string(resp.status);
  if (!resp.body.empty()) text += ": " + resp.body.substr(0, 200);
  return text;
}

}  // namespace

struct EventSender::Impl : std::enable_shared_from_this<EventSender::Impl> {
  config::EventsConfig config;
  store::Store& store;
  const runtime::Engine& engine;
  std::map<std::string, std::string> secrets;  // url -> secret
  EventMetrics metrics;
  asio::io_context io;
  std::unique_ptr<net::HttpClient> http;
  std::unique_ptr<asio::steady_timer> wake;
  std::thread thread;
  std::set<std::uint64_t> busy;  // seqs being sent, or whose outcome is not yet committed
  bool scan_posted = false;
  std::chrono::steady_clock::time_point last_scan{};
  // A scan reads every row: with a large backlog (a receiver down for hours) scans are
  // spaced at least twice their own duration apart, so the sender uses at most a third
  // of a core however often turns nudge it.
  std::chrono::steady_clock::duration scan_gap = kMinScanGap;
  std::mt19937_64 rng{std::random_device{}()};
  std::set<std::string> warned_unknown_webhooks;

  Impl(const config::EventsConfig& c, store::Store& s, const runtime::Engine& e) : config(c), store(s), engine(e) {
    for (const auto& hook : config.webhooks) secrets[hook.url] = hook.secret;
  }

  // --- scheduling -------------------------------------------------------------------
  void request_scan() {
    if (scan_posted) return;
    scan_posted = true;
    const auto since = std::chrono::steady_clock::now() - last_scan;
    const auto delay = since >= scan_gap ? std::chrono::steady_clock::duration::zero() : scan_gap - since;
    arm(std::chrono::duration_cast<std::chrono::milliseconds>(delay), true);
  }

  // (Re)arms the single wake timer; `force` replaces a later wake with this one.
  void arm(std::chrono::milliseconds delay, bool force) {
    const auto at = std::chrono::steady_clock::now() + delay;
    if (!force && wake->expiry() > std::chrono::steady_clock::now() && wake->expiry() <= at) return;
    wake->expires_at(at);
    wake->async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
      if (ec) return;
      self->scan_posted = false;
      self->scan();
    });
  }

  // Reads every row in seq order and starts what may go now: per (webhook,
  // conversation) only its first pending row, when due and not already in flight.
  void scan() {
    last_scan = std::chrono::steady_clock::now();
    const std::int64_t now = engine.clock().now_ms();
    std::int64_t next_due = now + kPollEvery.count();
    std::set<std::pair<std::string, std::string>> blocked;
    std::vector<EventRecord> ready;
    std::int64_t pending = 0, dead = 0;
    {
      auto txn = store.read();
      txn.scan(store::Db::events, "", [&](std::string_view k, std::string_view v) {
        if (k.size() < 8) return true;
        auto row = EventRecord::from_json(store::from_be64(k), v);
        if (!row) return true;  // unreadable: listed by the admin API, never sent
        if (row->status == "dead") {
          ++dead;
          return true;
        }
        ++pending;
        if (!secrets.count(row->webhook)) {
          if (warned_unknown_webhooks.insert(row->webhook).second)
            log::warn("event_webhook_not_configured", {{"webhook", row->webhook}, {"seq", row->seq},
                                                       {"action", "its events wait until it is configured again"}});
          return true;
        }
        if (!blocked.insert({row->webhook, row->conversation}).second) return true;
        if (busy.count(row->seq)) return true;
        if (row->next_attempt_ms > now) {
          next_due = std::min(next_due, row->next_attempt_ms);
          return true;
        }
        if (busy.size() + ready.size() < kMaxInFlight) ready.push_back(std::move(*row));
        return true;
      });
    }
    metrics.pending = pending;
    metrics.dead_rows = dead;
    scan_gap = std::max<std::chrono::steady_clock::duration>(kMinScanGap, 2 * (std::chrono::steady_clock::now() - last_scan));
    for (auto& row : ready) send(std::move(row));
    arm(std::chrono::milliseconds(std::max<std::int64_t>(next_due - now, 1)), false);
  }

  // --- sending ----------------------------------------------------------------------
  void send(EventRecord row) {
    busy.insert(row.seq);
    ++metrics.in_flight;
    net::HttpRequest req;
    req.method = "POST";
    req.url = row.webhook;
    req.body = row.body();
    req.timeout = std::chrono::milliseconds(config.request_timeout_ms);
    req.max_response_bytes = 64u << 10;
    req.headers = {{"Content-Type", "application/json"},
                   {"User-Agent", "charla-events"},
                   {"X-Charla-Event", row.name},
                   {"X-Charla-Event-Id", row.id},
                   {"X-Charla-Signature", crypto::hmac_sha256_header(req.body, secrets[row.webhook])}};
    http->request(std::move(req), [self = shared_from_this(), row = std::move(row)](net::HttpResponse resp) mutable {
      --self->metrics.in_flight;
      self->on_response(std::move(row), resp);
    });
  }

  void on_response(EventRecord row, const net::HttpResponse& resp) {
    if (resp.error == "cancelled") {  // shutting down: the row stays pending
      busy.erase(row.seq);
      return;
    }
    if (resp.error.empty() && resp.status >= 200 && resp.status < 300) {
      ++metrics.sent;
      log::debug("event_delivered", {{"seq", row.seq}, {"id", row.id}, {"name", row.name}, {"webhook", row.webhook}});
      return commit(row.seq, [seq = row.seq](store::WriteTxn& txn) { txn.del(store::Db::events, store::be64(seq)); });
    }
    ++metrics.failed;
    ++row.attempts;
    row.last_error = describe(resp);
    if (row.attempts >= static_cast<std::uint32_t>(std::max(1, config.max_attempts))) {
      ++metrics.dead;
      row.status = "dead";
      log::error("event_dead_letter", {{"seq", row.seq}, {"id", row.id}, {"name", row.name}, {"webhook", row.webhook},
                                       {"attempts", row.attempts}, {"error", row.last_error}});
    } else {
      const std::int64_t delay = retry_delay_ms(row.attempts, resp);
      row.next_attempt_ms = engine.clock().now_ms() + delay;
      log::warn("event_retry", {{"seq", row.seq}, {"id", row.id}, {"name", row.name}, {"webhook", row.webhook},
                                {"attempt", row.attempts}, {"delay_ms", delay}, {"error", row.last_error}});
    }
    commit(row.seq, [row](store::WriteTxn& txn) {
      if (!txn.get(store::Db::events, store::be64(row.seq))) return;  // deleted meanwhile
      txn.put(store::Db::events, store::be64(row.seq), row.to_json().dump(-1, ' ', false, json::error_handler_t::replace));
    });
  }

  std::int64_t retry_delay_ms(std::uint32_t attempts, const net::HttpResponse& resp) {
    if (auto after = retry_after_ms(resp)) return std::max<std::int64_t>(*after, 1);
    const std::int64_t base = std::min<std::int64_t>(1000ll << std::min<std::uint32_t>(attempts - 1, 20), kMaxBackoffMs);
    std::uniform_real_distribution<double> jitter(0.8, 1.2);
    const double scaled = static_cast<double>(base) * jitter(rng) * config.retry_time_scale;
    return std::max<std::int64_t>(static_cast<std::int64_t>(scaled), 1);
  }

  // Writes an outcome; the row stays busy until it is durable, so a scan in between
  // cannot send it again.
  void commit(std::uint64_t seq, store::Store::WriteFn write) {
    store.submit(std::move(write), [self = shared_from_this(), seq](const std::string& error) {
      if (!error.empty()) log::error("event_update_failed", {{"seq", seq}, {"error", error}});
      asio::post(self->io, [self, seq] {
        self->busy.erase(seq);
        self->request_scan();
      });
    });
  }
};

EventSender::EventSender(const config::EventsConfig& config, store::Store& store, const runtime::Engine& engine)
    : impl_(std::make_shared<Impl>(config, store, engine)) {
  net::HttpClientOptions options;
  options.max_host_connections = static_cast<long>(kMaxInFlight);
  impl_->http = std::make_unique<net::HttpClient>(impl_->io, options);
  impl_->wake = std::make_unique<asio::steady_timer>(impl_->io);
  asio::post(impl_->io, [impl = impl_.get()] { impl->request_scan(); });
  impl_->thread = std::thread([impl = impl_.get()] {
    log::name_this_thread("event-sender");
    auto guard = asio::make_work_guard(impl->io);
    for (;;) {  // an exception that reaches the loop is logged and counted; sending goes on
      try {
        impl->io.run();
        return;
      } catch (const std::exception& e) {
        ++impl->metrics.loop_exceptions;
        log::error("event_sender_loop_exception", {{"error", e.what()}});
      } catch (...) {
        ++impl->metrics.loop_exceptions;
        log::error("event_sender_loop_exception", {{"error", "unknown exception"}});
      }
    }
  });
}

EventSender::~EventSender() { stop(); }

void EventSender::stop() {
  if (!impl_->thread.joinable()) return;
  asio::post(impl_->io, [impl = impl_.get()] {
    impl->http->cancel_all();
    impl->wake->cancel();
    impl->io.stop();
  });
  impl_->thread.join();
  impl_->http.reset();
}

void EventSender::nudge() {
  asio::post(impl_->io, [impl = impl_->weak_from_this()] {
    if (auto self = impl.lock()) self->request_scan();
  });
}

void EventSender::retry(std::uint64_t seq, std::function<void(unsigned, const std::string&)> done) {
  auto found = std::make_shared<bool>(false);
  impl_->store.submit(
      [seq, found](store::WriteTxn& txn) {
        auto raw = txn.get(store::Db::events, store::be64(seq));
        *found = false;
        if (!raw) return;
        auto row = EventRecord::from_json(seq, *raw);
        if (!row) throw std::runtime_error("event row " + std::to_string(seq) + " is unreadable");
        row->status = "pending";
        row->attempts = 0;
        row->next_attempt_ms = 0;
        txn.put(store::Db::events, store::be64(seq), row->to_json().dump(-1, ' ', false, json::error_handler_t::replace));
        *found = true;
      },
      [impl = impl_, seq, found, done = std::move(done)](const std::string& error) {
        if (!error.empty()) return done(409, error);
        if (!*found) return done(404, "no event with seq " + std::to_string(seq));
        log::info("event_retried", {{"seq", seq}});
        asio::post(impl->io, [impl] { impl->request_scan(); });
        done(200, "pending");
      });
}

const EventMetrics& EventSender::metrics() const { return impl_->metrics; }

}  // namespace charla::events
