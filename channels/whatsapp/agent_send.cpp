#include "whatsapp/agent_send.hpp"

#include "log/log.hpp"
#include "runtime/conversation.hpp"
#include "runtime/handoff_index.hpp"
#include "runtime/turn_write.hpp"
#include "whatsapp/protocol/webhook_parser.hpp"

namespace charla::whatsapp {

using nlohmann::json;

namespace {

const std::string kIdemPrefix = "idem/";
const std::string kIdemTimePrefix = "idem_t/";
constexpr std::size_t kMaxIdempotencyKey = 200;
constexpr std::size_t kPrunePerSend = 64;

SendOutcome refuse(unsigned status, const std::string& error, const std::string& message) {
  return {status, {{"error", error}, {"message", message}}};
}

// Deletes idempotency keys older than the retention, oldest first, a few per send.
void prune_idempotency(store::WriteTxn& txn, std::int64_t now_ms) {
  std::vector<std::pair<std::string, std::string>> doomed;  // index key, record key
  txn.scan_prefix(store::Db::meta, kIdemTimePrefix, [&](std::string_view k, std::string_view) {
    if (k.size() < kIdemTimePrefix.size() + 8) return true;
    const auto created = static_cast<std::int64_t>(store::from_be64(k.substr(kIdemTimePrefix.size())));
    if (created + AgentSend::kIdempotencyMs > now_ms || doomed.size() >= kPrunePerSend) return false;
    doomed.emplace_back(std::string(k), kIdemPrefix + std::string(k.substr(kIdemTimePrefix.size() + 8)));
    return true;
  });
  for (auto& [index, record] : doomed) {
    txn.del(store::Db::meta, index);
    // The key may have been used again since: only the record this index entry dates goes.
    const auto created = static_cast<std::int64_t>(store::from_be64(std::string_view(index).substr(kIdemTimePrefix.size())));
    if (auto raw = txn.get(store::Db::meta, record)) {
      auto j = json::parse(*raw, nullptr, false);
      if (!j.is_object() || j.value("created_ms", std::int64_t{-1}) == created) txn.del(store::Db::meta, record);
    }
  }
}

}  // namespace

AgentSend::AgentSend(runtime::Engine& engine, OutboxSender& sender, const config::WhatsAppConfig& config,
                     std::size_t history_limit)
    : engine_(engine), sender_(sender), config_(config), history_limit_(std::max<std::size_t>(1, history_limit)) {}

std::variant<AgentSend::Target, SendOutcome> AgentSend::resolve(const SendRequest& r) const {
  const bool any_number = !config_.numbers.empty();
  auto configured = [&](const std::string& id) { return !any_number || config_.find(id) != nullptr; };
  auto number_list = [&] {
    std::string ids;
    for (auto& n : config_.numbers) ids += (ids.empty() ? "" : ", ") + n.phone_number_id;
    return ids;
  };
  Target t;
  std::string account = r.account;
  if (r.account_is_hint && !config_.find(account)) account.clear();
  if (!account.empty() && !configured(account))
    return refuse(400, "unknown_number", "phone_number_id " + account + " is not a configured WhatsApp number (configured: " +
                                             number_list() + ")");
  if (!r.conversation.empty()) {
    const auto second = r.conversation.find(':', 9);
    t.conversation = r.conversation;
    t.account = r.conversation.substr(9, second - 9);
    t.user = r.conversation.substr(second + 1);
    if (t.account.empty() || t.user.empty())
      return refuse(400, "bad_conversation", "conversation key " + r.conversation + " has no number or no user");
    if (!configured(t.account))
      return refuse(400, "unknown_number", "conversation " + r.conversation + " belongs to phone_number_id " + t.account +
                                               ", which is not configured");
    if (!account.empty() && account != t.account)
      return refuse(400, "number_mismatch", "conversation " + r.conversation + " is not on phone_number_id " + account);
    return t;
  }
  t.user = r.to;
  if (account.empty() && config_.numbers.size() == 1) account = config_.numbers.front().phone_number_id;
  if (account.empty()) {
    // Several numbers: the customer's existing conversation says which one, if only one does.
    std::vector<std::string> candidates;
    auto txn = engine_.store().read();
    txn.scan_prefix(store::Db::conv, "whatsapp:", [&](std::string_view k, std::string_view) {
      auto pos = k.rfind(':');
      if (pos != std::string_view::npos && k.substr(pos + 1) == r.to) candidates.emplace_back(k);
      return candidates.size() < 20;
    });
    if (candidates.size() > 1)
      return SendOutcome{409, {{"error", "ambiguous_recipient"},
                               {"message", "the phone " + r.to + " has conversations on several numbers: give "
                                           "\"phone_number_id\" or \"conversation\""},
                               {"candidates", candidates}}};
    if (candidates.empty())
      return refuse(400, any_number ? "number_required" : "no_number",
                    any_number ? "several WhatsApp numbers are configured: give \"phone_number_id\" (one of " +
                                     number_list() + ")"
                               : "no WhatsApp number is configured: give \"phone_number_id\" or \"conversation\"");
    t.conversation = candidates.front();
    t.account = t.conversation.substr(9, t.conversation.find(':', 9) - 9);
    return t;
  }
  t.account = account;
  t.conversation = conversation_key(account, r.to);
  return t;
}

void AgentSend::send(SendRequest request, std::function<void(SendOutcome)> done) {
  if (request.idempotency_key.size() > kMaxIdempotencyKey)
    return done(refuse(400, "bad_idempotency_key", "the Idempotency-Key header is longer than 200 characters"));
  if (!engine_.running()) return done(refuse(503, "not_running", "the engine is not running"));
  auto resolved = resolve(request);
  if (auto* refused = std::get_if<SendOutcome>(&resolved)) return done(std::move(*refused));
  write(std::get<Target>(std::move(resolved)), std::move(request), std::move(done));
}

void AgentSend::write(Target target, SendRequest request, std::function<void(SendOutcome)> done) {
  auto key = target.conversation;
  engine_.with_conversation_held(key, [this, target = std::move(target), request = std::move(request),
                                       done = std::move(done)](std::function<void()> release) {
    struct Result {
      SendOutcome outcome;
      std::optional<runtime::OutboundRow> row;
    };
    auto result = std::make_shared<Result>();
    const auto now = engine_.clock().now_ms();
    const auto* number = config_.find(target.account);
    const auto flow = number && !number->flow.empty() ? number->flow : engine_.default_flow();
    const auto history_limit = history_limit_;
    engine_.store().submit(
        [target, request, result, now, flow, history_limit](store::WriteTxn& txn) {
          *result = Result{};  // the store may run this more than once
          const auto idem_key = kIdemPrefix + request.idempotency_key;
          if (!request.idempotency_key.empty()) {
            if (auto raw = txn.get(store::Db::meta, idem_key)) {
              auto first = json::parse(*raw, nullptr, false);
              if (first.is_object() && first.value("created_ms", std::int64_t{0}) + kIdempotencyMs > now) {
                result->outcome = {200, first.value("result", json::object())};
                return;
              }
            }
          }
          runtime::Conversation c;
          auto raw = txn.get(store::Db::conv, target.conversation);
          if (raw) {
            try {
              c = runtime::Conversation::from_json(target.conversation, json::parse(*raw));
            } catch (const std::exception& e) {
              result->outcome = refuse(409, "conversation_unreadable",
                                       std::string("stored record unreadable: ") + e.what() +
                                           "; reset the conversation or see GET /admin/quarantine");
              return;
            }
          } else {
            c.key = target.conversation;
            c.channel = "whatsapp";
            c.account = target.account;
            c.user = target.user;
            c.flow = flow;
            c.created_ms = now;
          }
          if (request.needs_window() && (c.last_inbound_ms <= 0 || now - c.last_inbound_ms > kWindowMs)) {
            result->outcome = refuse(
                409, "window_closed",
                c.last_inbound_ms <= 0
                    ? "the customer has never written to this number, so WhatsApp only accepts a template: use a template"
                    : "the customer's last message is older than 24 hours (the customer-service window is closed): "
                      "use a template");
            result->outcome.body["last_inbound_ms"] = c.last_inbound_ms;
            return;
          }
          runtime::OutboundRow row;
          row.conversation = c.key;
          row.channel = "whatsapp";
          row.account = c.account;
          row.to = c.user;
          row.message = request.message;
          row.created_ms = now;
          row.seq = txn.next_seq("outbox");
          auto value = row.to_json();
          value["agent"] = request.agent;
          txn.put(store::Db::outbox, store::be64(row.seq), value.dump());

          auto entry = runtime::history_entry("out", request.message, now);
          entry["agent"] = request.agent;
          entry["outbox"] = row.seq;
          txn.put(store::Db::history, runtime::history_key(c.key, c.history_next++), entry.dump());
          while (c.history_next - c.history_first > history_limit)
            txn.del(store::Db::history, runtime::history_key(c.key, c.history_first++));
          c.updated_ms = now;
          runtime::put_conversation(txn, c);  // the record and its handoff index row

          const auto id = std::to_string(row.seq);
          json body{{"id", row.seq}, {"status", "queued"}, {"status_url", "/admin/outbox/" + id},
                    {"conversation", c.key}};
          if (!request.idempotency_key.empty()) {
            txn.put(store::Db::meta, idem_key, json{{"created_ms", now}, {"result", body}}.dump());
            txn.put(store::Db::meta, kIdemTimePrefix + store::be64(static_cast<std::uint64_t>(now)) + request.idempotency_key, "");
          }
          prune_idempotency(txn, now);
          result->outcome = {200, std::move(body)};
          result->row = std::move(row);
        },
        [this, result, release, done, agent = request.agent, key = target.conversation](const std::string& error) {
          if (!error.empty()) {
            release();
            log::error("agent_send_failed", {{"conversation", key}, {"error", error}});
            return done(refuse(500, "store_error", "could not store the message: " + error));
          }
          if (result->row) {
            log::info("agent_message_queued", {{"conversation", key}, {"seq", result->row->seq}, {"agent", agent},
                                               {"type", result->row->message.value("type", "")}});
            sender_.dispatch({*result->row});  // before the release: later flow replies queue behind it
          }
          release();
          done(result->outcome);
        },
        store::Store::Priority::normal);
  });
}

}  // namespace charla::whatsapp
