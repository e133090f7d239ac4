// The parser over every recorded webhook body in shared/whatsapp/payloads.
#include "whatsapp/protocol/webhook_parser.hpp"

#include "shared_files.hpp"

#include <catch2/catch.hpp>

#include <functional>
#include <map>
#include <set>

using namespace charla::whatsapp;
using charla::whatsapp::test::files_in;
using charla::whatsapp::test::read_bytes;
using charla::whatsapp::test::whatsapp_dir;
using json = nlohmann::json;

namespace {

const std::string kInsurance = "100000000000001";
const std::string kClinic = "100000000000002";
const std::string kRealEstate = "100000000000003";

const InboundMessage& only_message(const WebhookBatch& b) {
  REQUIRE(b.messages.size() == 1);
  REQUIRE(b.statuses.empty());
  return b.messages[0];
}

const StatusUpdate& only_status(const WebhookBatch& b) {
  REQUIRE(b.statuses.size() == 1);
  REQUIRE(b.messages.empty());
  return b.statuses[0];
}

using Check = std::function<void(const WebhookBatch&)>;

// Per file: what a flow and the store rely on.
const std::map<std::string, Check>& expectations() {
  static const std::map<std::string, Check> checks = {
      {"01-text.json",
       [](const WebhookBatch& b) {
         const auto& m = only_message(b);
         CHECK(m.phone_number_id == kInsurance);
         CHECK(m.user == "5215550000001");
         CHECK(m.wa_id == "5215550000001");
         CHECK(m.user_id.empty());
         CHECK(m.profile_name == "María Fernanda López");
         CHECK(m.id == "wamid.HBgNNTIxNTU1MDAwMDAwMRUCABIYFEEwMDAwMDAwMDAwMDAwMDAwMDAxAA==");
         CHECK(m.type == "text");
         CHECK(m.timestamp == 1793000000);
         CHECK(m.msg["text"] == "Hola, quiero cotizar un seguro de vida");
         CHECK(m.msg["from"] == "5215550000001");
         CHECK(m.msg["name"] == "María Fernanda López");
         CHECK(m.msg["id"] == m.id);
         CHECK(m.msg["type"] == "text");
         CHECK(m.msg["timestamp"] == 1793000000);
         CHECK(conversation_key(m.phone_number_id, m.user) == "whatsapp:100000000000001:5215550000001");
       }},
      {"02-text-non-ascii.json",
       [](const WebhookBatch& b) {
         const auto& m = only_message(b);
         CHECK(m.phone_number_id == kClinic);
         CHECK(m.msg["text"] ==
               "Buenos días 👋 necesito una cita con el dermatólogo, ¿tienen espacio el miércoles? Gracias 🙏");
         CHECK(m.profile_name == "José Ángel Ramírez");
       }},
      {"03-image-caption.json",
       [](const WebhookBatch& b) {
         const auto& m = only_message(b);
         CHECK(m.type == "image");
         CHECK(m.msg["media"]["id"] == "1000000000000003");
         CHECK(m.msg["media"]["mime_type"] == "image/jpeg");
         CHECK(m.msg["media"]["sha256"] == "BPBqXANntAgXU5lyzQ2WujksSG42IHhXk4MZzCwoRyQ=");
         CHECK(m.msg["media"]["caption"] == "Así se ve la fachada del edificio que vi en Polanco 🏢");
         CHECK(m.msg["text"] == m.msg["media"]["caption"]);
       }},
      {"04-audio-voice.json",
       [](const WebhookBatch& b) {
         const auto& m = only_message(b);
         CHECK(m.type == "audio");
         CHECK(m.msg["media"]["voice"] == true);
         CHECK(m.msg["media"]["mime_type"] == "audio/ogg; codecs=opus");
         CHECK_FALSE(m.msg.contains("text"));
       }},
      {"05-video.json",
       [](const WebhookBatch& b) {
         const auto& m = only_message(b);
         CHECK(m.type == "video");
         CHECK(m.msg["media"]["id"] == "1000000000000005");
         CHECK(m.msg["text"] == "Recorrido rápido por el depa");
       }},
      {"06-document.json",
       [](const WebhookBatch& b) {
         const auto& m = only_message(b);
         CHECK(m.type == "document");
         CHECK(m.msg["media"]["filename"] == "estudios_laboratorio_oct.pdf");
         CHECK(m.msg["media"]["mime_type"] == "application/pdf");
         CHECK(m.msg["text"] == "Mis resultados de laboratorio");
       }},
      {"07-sticker.json",
       [](const WebhookBatch& b) {
         const auto& m = only_message(b);
         CHECK(m.type == "sticker");
         CHECK(m.msg["media"]["animated"] == false);
         CHECK(m.msg["media"]["mime_type"] == "image/webp");
         CHECK_FALSE(m.msg.contains("text"));
       }},
      {"08-location.json",
       [](const WebhookBatch& b) {
         const auto& m = only_message(b);
         CHECK(m.type == "location");
         REQUIRE(m.msg["location"]["latitude"].is_number());
         CHECK(m.msg["location"]["latitude"].get<double>() == Approx(19.43259));
         CHECK(m.msg["location"]["longitude"].get<double>() == Approx(-99.19471));
         CHECK(m.msg["location"]["name"] == "Parque Lincoln");
         CHECK(m.msg["location"]["address"] == "Emilio Castelar s/n, Polanco, Miguel Hidalgo, CDMX");
       }},
      {"09-contacts.json",
       [](const WebhookBatch& b) {
         const auto& m = only_message(b);
         CHECK(m.type == "contacts");
         REQUIRE(m.msg["contacts"].is_array());
         CHECK(m.msg["contacts"][0]["phones"][0]["wa_id"] == "5215550000021");
         CHECK(m.msg["contacts"][0]["name"]["formatted_name"] == "Jorge López Ortega");
         CHECK(m.profile_name == "María Fernanda López");  // the sender, not the shared card
       }},
      {"10-reaction.json",
       [](const WebhookBatch& b) {
         const auto& m = only_message(b);
         CHECK(m.type == "reaction");
         CHECK(m.msg["reaction"]["message_id"] == "wamid.HBgNNTIxNTU1MDAwMDAwMhUCABIYFEIwMDAwMDAwMDAwMDAwMDAwOTAyAA==");
         CHECK(m.msg["reaction"]["emoji"] == "👍");
       }},
      {"11-reaction-removed.json",
       [](const WebhookBatch& b) {
         const auto& m = only_message(b);
         CHECK(m.type == "reaction");
         CHECK(m.msg["reaction"]["message_id"] == "wamid.HBgNNTIxNTU1MDAwMDAwMhUCABIYFEIwMDAwMDAwMDAwMDAwMDAwOTAyAA==");
         CHECK_FALSE(m.msg["reaction"].contains("emoji"));
       }},
      {"12-interactive-button-reply.json",
       [](const WebhookBatch& b) {
         const auto& m = only_message(b);
         CHECK(m.type == "interactive");
         CHECK(m.msg["button"]["id"] == "plan_vida_basico");
         CHECK(m.msg["button"]["title"] == "Plan básico");
         CHECK(m.msg["text"] == "Plan básico");
         CHECK(m.msg["context"]["id"] == "wamid.HBgNNTIxNTU1MDAwMDAwMRUCABIYFEIwMDAwMDAwMDAwMDAwMDAwOTAxAA==");
       }},
      {"13-interactive-list-reply.json",
       [](const WebhookBatch& b) {
         const auto& m = only_message(b);
         CHECK(m.msg["list"]["id"] == "slot_20261104_1030");
         CHECK(m.msg["list"]["title"] == "Mié 4 nov 10:30");
         CHECK(m.msg["list"]["description"] == "Dra. Paredes · Dermatología");
         CHECK(m.msg["text"] == "Mié 4 nov 10:30");
         CHECK_FALSE(m.msg.contains("button"));
       }},
      {"14-template-quick-reply.json",
       [](const WebhookBatch& b) {
         const auto& m = only_message(b);
         CHECK(m.type == "button");
         CHECK(m.msg["button"]["id"] == "CONFIRMAR_CITA");
         CHECK(m.msg["button"]["title"] == "Confirmar");
         CHECK(m.msg["text"] == "Confirmar");
         CHECK(m.user == "5215550000005");
       }},
      {"15-reply-with-context.json",
       [](const WebhookBatch& b) {
         const auto& m = only_message(b);
         CHECK(m.msg["context"]["from"] == "5215550009003");
         CHECK(m.msg["context"]["id"] == "wamid.HBgNNTIxNTU1MDAwMDAwMxUCABIYFEIwMDAwMDAwMDAwMDAwMDAwOTAzAA==");
         CHECK(m.msg["text"] == "¿Este todavía está disponible? Me interesa para diciembre");
       }},
      {"16-forwarded.json",
       [](const WebhookBatch& b) {
         const auto& m = only_message(b);
         CHECK(m.msg["context"]["forwarded"] == true);
         CHECK(m.type == "text");
       }},
      {"17-referral-ad.json",
       [](const WebhookBatch& b) {
         const auto& m = only_message(b);
         CHECK(m.msg["referral"]["ctwa_clid"] == "ARAkLkAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAdemo");
         CHECK(m.msg["referral"]["headline"] == "Tu nuevo hogar en Polanco");
         CHECK(m.msg["referral"]["source_url"] == "https://fb.me/0000charlaDEMO");
         CHECK(m.msg["text"] == "Hola, vi su anuncio. Busco departamento en renta en Polanco");
       }},
      {"18-unsupported.json",
       [](const WebhookBatch& b) {
         const auto& m = only_message(b);
         CHECK(m.type == "unsupported");
         CHECK(m.msg["errors"][0]["code"] == 131051);
         CHECK_FALSE(m.msg.contains("text"));
       }},
      {"19-system-number-change.json",
       [](const WebhookBatch& b) {
         const auto& m = only_message(b);  // no contacts array at all
         CHECK(m.type == "system");
         CHECK(m.user == "5215550000007");
         CHECK(m.profile_name.empty());
         CHECK_FALSE(m.msg.contains("name"));
         CHECK(m.msg["system"]["type"] == "user_changed_number");
         CHECK(m.msg["system"]["wa_id"] == "5215550000017");
       }},
      {"20-status-sent.json",
       [](const WebhookBatch& b) {
         const auto& s = only_status(b);
         CHECK(s.phone_number_id == kInsurance);
         CHECK(s.wamid == "wamid.HBgNNTIxNTU1MDAwMDAwMRUCABIYFEIwMDAwMDAwMDAwMDAwMDAwOTAxAA==");
         CHECK(s.status == "sent");
         CHECK(s.timestamp == 1793001200);
         CHECK(s.recipient == "5215550000001");
         CHECK(s.errors.is_null());
       }},
      {"21-status-delivered.json",
       [](const WebhookBatch& b) {
         const auto& s = only_status(b);
         CHECK(s.status == "delivered");
         CHECK(s.timestamp == 1793001203);
       }},
      {"22-status-read.json",
       [](const WebhookBatch& b) {
         const auto& s = only_status(b);
         CHECK(s.status == "read");
         CHECK(s.recipient == "5215550000001");
       }},
      {"23-status-failed-131047.json",
       [](const WebhookBatch& b) {
         const auto& s = only_status(b);
         CHECK(s.status == "failed");
         CHECK(s.phone_number_id == kClinic);
         CHECK(s.recipient == "5215550000008");
         REQUIRE(s.errors.is_array());
         CHECK(s.errors[0]["code"] == 131047);
       }},
      {"24-status-failed-131026.json",
       [](const WebhookBatch& b) {
         const auto& s = only_status(b);
         CHECK(s.status == "failed");
         CHECK(s.errors[0]["code"] == 131026);
       }},
      {"25-status-no-conversation.json",
       [](const WebhookBatch& b) {
         const auto& s = only_status(b);
         CHECK(s.status == "sent");
         CHECK(s.recipient == "5215550000005");
       }},
      {"26-message-bsuid-only.json",
       [](const WebhookBatch& b) {
         const auto& m = only_message(b);
         CHECK(m.wa_id.empty());
         CHECK(m.user_id == "MX.1500000000000000009");
         CHECK(m.user == "MX.1500000000000000009");
         CHECK(m.profile_name == "Renata Ibáñez");
         CHECK(m.msg["from"] == "MX.1500000000000000009");
         CHECK(m.msg["user_id"] == "MX.1500000000000000009");
         CHECK_FALSE(m.msg.contains("wa_id"));
         CHECK(conversation_key(m.phone_number_id, m.user) == "whatsapp:100000000000001:MX.1500000000000000009");
       }},
      {"27-batch-2-entries-3-users.json",
       [](const WebhookBatch& b) {
         REQUIRE(b.messages.size() == 7);
         std::map<std::string, int> per_conversation;
         std::set<std::string> users;
         for (const auto& m : b.messages) {
           ++per_conversation[conversation_key(m.phone_number_id, m.user)];
           users.insert(m.user);
           // contacts are matched by wa_id, not by position
           if (m.user == "5215550000001") CHECK(m.profile_name == "María Fernanda López");
           if (m.user == "5215550000003") CHECK(m.profile_name == "Lucía Hernández");
           if (m.user == "5215550000005") CHECK(m.profile_name == "Sofía Martínez");
         }
         CHECK(users == std::set<std::string>{"5215550000001", "5215550000003", "5215550000005"});
         CHECK(per_conversation == std::map<std::string, int>{
                                       {"whatsapp:100000000000001:5215550000001", 2},
                                       {"whatsapp:100000000000001:5215550000005", 1},
                                       {"whatsapp:100000000000002:5215550000003", 1},
                                       {"whatsapp:100000000000003:5215550000003", 2},
                                       {"whatsapp:100000000000003:5215550000001", 1},
                                   });
         // body order is kept: entry, change, position
         CHECK(b.messages[0].msg["text"] == "Tengo 38 años y no fumo");
         CHECK(b.messages[3].msg["text"] == "Necesito una cita con el dermatólogo para mi hija");
         CHECK(b.messages[6].msg["text"] == "Con elevador de preferencia");
       }},
      {"28a-duplicate-first.json",
       [](const WebhookBatch& b) {
         const auto& m = only_message(b);
         CHECK(m.id == "wamid.HBgNNTIxNTU1MDAwMDAwNhUCABIYFEEwMDAwMDAwMDAwMDAwMDAwMDM0AA==");
       }},
      {"28b-duplicate-retry.json",
       [](const WebhookBatch& b) {
         // Both are reported; deduplication by id is the store's job.
         REQUIRE(b.messages.size() == 2);
         CHECK(b.messages[0].id == "wamid.HBgNNTIxNTU1MDAwMDAwNhUCABIYFEEwMDAwMDAwMDAwMDAwMDAwMDM0AA==");
         CHECK(b.messages[1].id == "wamid.HBgNNTIxNTU1MDAwMDAwNhUCABIYFEEwMDAwMDAwMDAwMDAwMDAwMDM1AA==");
         CHECK(b.messages[1].msg["text"] == "Tengo un gato");
       }},
      {"29-out-of-order-timestamps.json",
       [](const WebhookBatch& b) {
         REQUIRE(b.messages.size() == 3);
         // Reported in body order with their timestamps; ordering by (timestamp,
         // position) is the router's job.
         CHECK(b.messages[0].timestamp == 1793001840);
         CHECK(b.messages[1].timestamp == 1793001810);
         CHECK(b.messages[2].timestamp == 1793001825);
         CHECK(b.messages[1].msg["text"] == "Busco departamento en renta en Polanco");
       }},
      {"30-template-status-update.json",
       [](const WebhookBatch& b) {
         CHECK(b.messages.empty());
         CHECK(b.statuses.empty());
         CHECK(b.errors.empty());
         CHECK(b.ignored == std::vector<std::string>{"message_template_status_update"});
       }},
      {"31-value-level-errors.json",
       [](const WebhookBatch& b) {
         CHECK(b.messages.empty());
         CHECK(b.statuses.empty());
         REQUIRE(b.errors.size() == 1);
         CHECK(b.errors[0].phone_number_id == kClinic);
         CHECK(b.errors[0].error["code"] == 131000);
       }},
      {"32-request-welcome.json",
       [](const WebhookBatch& b) {
         const auto& m = only_message(b);
         CHECK(m.type == "request_welcome");
         CHECK_FALSE(m.msg.contains("text"));
         CHECK(m.msg["raw"]["type"] == "request_welcome");
         CHECK(m.profile_name == "Valeria Núñez");
       }},
  };
  return checks;
}

}  // namespace

TEST_CASE("every payload file parses cleanly into well-formed events", "[webhook]") {
  const auto files = files_in(whatsapp_dir() / "payloads", ".json");
  REQUIRE(files.size() >= expectations().size());
  std::size_t checked = 0;
  for (const auto& path : files) {
    const std::string name = path.filename().string();
    INFO("payload " << name);
    const auto result = parse_webhook(read_bytes(path));
    REQUIRE(result.ok);
    const WebhookBatch& b = result.batch;
    CHECK(b.warnings.empty());
    CHECK(b.messages.size() + b.statuses.size() + b.errors.size() + b.ignored.size() > 0);
    for (const auto& m : b.messages) {
      CHECK_FALSE(m.id.empty());
      CHECK_FALSE(m.user.empty());
      CHECK_FALSE(m.type.empty());
      CHECK_FALSE(m.phone_number_id.empty());
      CHECK(m.timestamp > 1700000000);
      CHECK(m.msg["id"] == m.id);
      CHECK(m.msg["type"] == m.type);
      CHECK(m.msg["from"] == m.user);
      CHECK(m.msg["raw"].is_object());
      CHECK(m.msg["raw"]["id"] == m.id);
    }
    for (const auto& s : b.statuses) {
      CHECK_FALSE(s.wamid.empty());
      CHECK_FALSE(s.status.empty());
      CHECK_FALSE(s.recipient.empty());
    }
    if (auto it = expectations().find(name); it != expectations().end()) {
      it->second(b);
      ++checked;
    }
  }
  CHECK(checked == expectations().size());
}
