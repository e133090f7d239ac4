#pragma once
// Messages sent by people (agents, other systems) rather than by a flow: they take the
// same road as a flow's replies — a row in the durable outbox, sent by OutboxSender
// with its limits, order, retries, statuses and dead letters — and are recorded in the
// conversation's history as "out" entries carrying the agent's name.
//
// Invariants:
//  - The outbox row, the history entry, the conversation record and the idempotency
//    record are written in one store transaction, on the conversation's worker between
//    turns (Engine::with_conversation_held): a flow reply and an agent message never
//    interleave, and the next turn sees the agent's message in ctx:history().
//  - Free-form content (anything but a template) is refused with 409 window_closed
//    unless the customer wrote within the last 24 h (conv.last_inbound_ms, engine clock).
//  - An Idempotency-Key seen in the last 24 h returns the first result and sends
//    nothing. Keys live in the store's `meta` db ("idem/<key>", plus a time index
//    "idem_t/<be64 ms><key>"); each send deletes up to 64 keys older than 24 h, so they
//    expire without a sweeper and survive restarts while they matter.
//  - The row reaches the sender only after the commit, before the conversation is
//    released, so later flow replies queue behind it.
#include "config/config.hpp"
#include "runtime/engine.hpp"
#include "whatsapp/outbox_sender.hpp"
#include "whatsapp/send_request.hpp"

#include <functional>

namespace charla::whatsapp {

struct SendOutcome {
  unsigned status = 200;  // HTTP status
  nlohmann::json body;    // {"id","status","status_url","conversation"} or {"error","message"}
};

class AgentSend {
 public:
  static constexpr std::int64_t kWindowMs = 24LL * 3600 * 1000;
  static constexpr std::int64_t kIdempotencyMs = 24LL * 3600 * 1000;

  AgentSend(runtime::Engine& engine, OutboxSender& sender, const config::WhatsAppConfig& config,
            std::size_t history_limit);

  // Resolves the recipient, then writes and dispatches (see the invariants). `done`
  // runs once, on the store's writer thread or the caller's.
  void send(SendRequest request, std::function<void(SendOutcome)> done);

 private:
  struct Target {
    std::string conversation, account, user;
  };
  // The conversation a request goes to, or an outcome refusing it (400/409).
  std::variant<Target, SendOutcome> resolve(const SendRequest& request) const;
  void write(Target target, SendRequest request, std::function<void(SendOutcome)> done);

  runtime::Engine& engine_;
  OutboxSender& sender_;
  const config::WhatsAppConfig& config_;
  std::size_t history_limit_;
};

}  // namespace charla::whatsapp
