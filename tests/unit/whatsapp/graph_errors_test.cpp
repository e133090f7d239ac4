// classify_send_response() over every recorded Graph API response, and backoff().
#include "whatsapp/protocol/graph_errors.hpp"

#include "shared_files.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <map>
#include <set>

using namespace charla::whatsapp;
using charla::whatsapp::test::files_in;
using charla::whatsapp::test::read_bytes;
using charla::whatsapp::test::whatsapp_dir;
using json = nlohmann::json;
using std::chrono::milliseconds;

namespace {

std::filesystem::path responses_dir() { return whatsapp_dir() / "graph-responses"; }

// The action each recorded response must map to (INDEX.md, "meaning / action").
const std::map<std::string, SendAction>& expected_actions() {
  static const std::map<std::string, SendAction> m = {
      {"send-success.json", SendAction::accepted},
      {"send-success-template.json", SendAction::accepted},
      {"mark-read-success.json", SendAction::accepted},
      {"media-url.json", SendAction::accepted},
      {"error-131047.json", SendAction::window_closed},
      {"error-130429.json", SendAction::retry},
      {"error-131056.json", SendAction::retry_pair_rate},
      {"error-190.json", SendAction::pause_token},
      {"error-100.json", SendAction::fail},
      {"error-131026.json", SendAction::fail},
      {"error-429-rate-limit.json", SendAction::retry},
      {"error-500.html", SendAction::retry},
  };
  return m;
}

std::optional<std::string_view> header(const json& headers, const char* name) {
  const auto it = headers.find(name);
  if (it == headers.end()) return std::nullopt;
  return it->get_ref<const std::string&>();
}

}  // namespace

TEST_CASE("every recorded Graph response is classified as INDEX.md says", "[graph]") {
  const auto table = json::parse(read_bytes(responses_dir() / "responses.json"));
  std::set<std::string> listed;
  for (const auto& row : table) {
    const std::string file = row.at("file");
    INFO(file << " — " << row.at("action").get<std::string>());
    listed.insert(file);
    const std::string body = read_bytes(responses_dir() / file);
    const auto outcome = classify_send_response(row.at("http_status"), body, header(row.at("headers"), "Retry-After"));

    const bool retries = outcome.action == SendAction::retry || outcome.action == SendAction::retry_pair_rate;
    CHECK(retries == (row.at("retry") == "yes"));
    REQUIRE(expected_actions().count(file) == 1);
    CHECK(to_string(outcome.action) == to_string(expected_actions().at(file)));

    if (outcome.action != SendAction::accepted && body.front() == '{') {
      const auto code = json::parse(body)["error"]["code"].get<long long>();
      CHECK(outcome.error_code == code);
      CHECK_FALSE(outcome.error_message.empty());
    }
  }
  // Every file in the directory is in the table, so none escapes this test.
  for (const auto& path : files_in(responses_dir(), "")) {
    const std::string name = path.filename().string();
    if (name == "INDEX.md" || name == "responses.json") continue;
    CHECK(listed.count(name) == 1);
  }
  CHECK(listed.size() == expected_actions().size());
}

TEST_CASE("success responses carry the wamid", "[graph]") {
  auto ok = classify_send_response(200, read_bytes(responses_dir() / "send-success.json"));
  CHECK(ok.action == SendAction::accepted);
  CHECK(ok.wamid == "wamid.HBgNNTIxNTU1MDAwMDAwMRUCABIYFEIwMDAwMDAwMDAwMDAwMDAwOTAxAA==");
  CHECK_FALSE(ok.error_code);

  auto tmpl = classify_send_response(200, read_bytes(responses_dir() / "send-success-template.json"));
  CHECK(tmpl.wamid == "wamid.HBgNNTIxNTU1MDAwMDAwNRUCABIYFEIwMDAwMDAwMDAwMDAwMDAwOTA1AA==");

  auto read = classify_send_response(200, read_bytes(responses_dir() / "mark-read-success.json"));
  CHECK(read.action == SendAction::accepted);
  CHECK(read.wamid.empty());
}

TEST_CASE("error details, subcode and Retry-After are reported", "[graph]") {
  auto rate = classify_send_response(429, read_bytes(responses_dir() / "error-429-rate-limit.json"), "17");
  CHECK(rate.action == SendAction::retry);
  CHECK(rate.error_code == 4);
  CHECK(rate.retry_after_s == 17);
  CHECK(rate.error_message == "(#4) Application request limit reached");

  auto throughput = classify_send_response(400, read_bytes(responses_dir() / "error-130429.json"));
  CHECK(throughput.error_subcode == 2494055);
  CHECK_FALSE(throughput.retry_after_s);

  auto invalid = classify_send_response(400, read_bytes(responses_dir() / "error-100.json"));
  CHECK(invalid.error_details == "Param interactive['action']['buttons'][0]['reply']['title'] is too long. Max length is 20.");

  auto token = classify_send_response(401, read_bytes(responses_dir() / "error-190.json"));
  CHECK(token.error_code == 190);
  CHECK(token.error_subcode == 463);
  CHECK(token.error_details.empty());
}

TEST_CASE("the code decides, not the HTTP status", "[graph]") {
  auto with_code = [](long long code) { return json{{"error", {{"code", code}, {"message", "m"}}}}.dump(); };
  for (long long code : {130429LL, 131000LL, 131001LL, 131002LL, 4LL, 80007LL, 1LL, 2LL, 131016LL}) {
    INFO(code);
    CHECK(classify_send_response(400, with_code(code)).action == SendAction::retry);
  }
  for (long long code : {131026LL, 131051LL, 100LL, 132000LL, 132001LL, 131048LL, 131049LL}) {
    INFO(code);
    CHECK(classify_send_response(400, with_code(code)).action == SendAction::fail);
    CHECK(classify_send_response(500, with_code(code)).action == SendAction::fail);
  }
  CHECK(classify_send_response(400, with_code(131056)).action == SendAction::retry_pair_rate);
  CHECK(classify_send_response(400, with_code(131047)).action == SendAction::window_closed);
  CHECK(classify_send_response(400, with_code(190)).action == SendAction::pause_token);
  CHECK(classify_send_response(500, with_code(131000)).action == SendAction::retry);
  // A code sent as a string by some proxy.
  CHECK(classify_send_response(400, R"({"error":{"code":"131056"}})").action == SendAction::retry_pair_rate);
}

TEST_CASE("without a known code the status and is_transient decide", "[graph]") {
  const std::string unknown = R"({"error":{"code":999999,"message":"new"}})";
  CHECK(classify_send_response(400, unknown).action == SendAction::fail);
  CHECK(classify_send_response(403, unknown).action == SendAction::fail);
  CHECK(classify_send_response(404, unknown).action == SendAction::fail);
  CHECK(classify_send_response(429, unknown).action == SendAction::retry);
  CHECK(classify_send_response(503, unknown).action == SendAction::retry);
  CHECK(classify_send_response(401, unknown).action == SendAction::pause_token);
  CHECK(classify_send_response(400, R"({"error":{"code":999999,"is_transient":true}})").action == SendAction::retry);
  CHECK(classify_send_response(429, "{}").action == SendAction::retry);
  CHECK(classify_send_response(400, "{}").action == SendAction::fail);
  CHECK(classify_send_response(400, R"({"error":"text"})").action == SendAction::fail);
}

TEST_CASE("network errors, 5xx and HTML bodies are retried", "[graph]") {
  auto none = classify_send_response(0, "");
  CHECK(none.action == SendAction::retry);
  CHECK_FALSE(none.error_message.empty());
  CHECK(classify_send_response(-1, "").action == SendAction::retry);
  CHECK(classify_send_response(502, "<html>Bad gateway</html>").action == SendAction::retry);
  CHECK(classify_send_response(503, "").action == SendAction::retry);
  CHECK(classify_send_response(400, "<!DOCTYPE html><p>oops</p>").action == SendAction::retry);
  CHECK(classify_send_response(401, "<html>Unauthorized</html>").action == SendAction::pause_token);
  auto html = classify_send_response(500, read_bytes(responses_dir() / "error-500.html"));
  CHECK(html.action == SendAction::retry);
  CHECK_FALSE(html.error_code);
  CHECK(html.error_message == "HTTP 500 with a non-JSON body");
}

TEST_CASE("a 200 never causes a resend", "[graph]") {
  CHECK(classify_send_response(200, "not json").action == SendAction::accepted);
  CHECK(classify_send_response(200, "").action == SendAction::accepted);
  CHECK(classify_send_response(200, R"({"messages":"x"})").action == SendAction::accepted);
  CHECK(classify_send_response(200, R"({"messages":[{"id":5}]})").wamid.empty());
}

TEST_CASE("Retry-After parsing", "[graph]") {
  CHECK(parse_retry_after("17") == 17);
  CHECK(parse_retry_after(" 0 ") == 0);
  CHECK(parse_retry_after("99999999999999999999") == 86400);
  CHECK(parse_retry_after("100000") == 86400);
  CHECK_FALSE(parse_retry_after(""));
  CHECK_FALSE(parse_retry_after("-5"));
  CHECK_FALSE(parse_retry_after("1.5"));
  CHECK_FALSE(parse_retry_after("Wed, 21 Oct 2026 07:28:00 GMT"));
  CHECK(classify_send_response(503, "", "garbage").retry_after_s == std::nullopt);
}

TEST_CASE("backoff: exponential with full jitter, capped at 5 minutes", "[graph][backoff]") {
  CHECK(backoff(0, std::nullopt, SendAction::retry, 1.0) == milliseconds(1000));
  CHECK(backoff(1, std::nullopt, SendAction::retry, 1.0) == milliseconds(2000));
  CHECK(backoff(5, std::nullopt, SendAction::retry, 1.0) == milliseconds(32000));
  CHECK(backoff(8, std::nullopt, SendAction::retry, 1.0) == milliseconds(256000));
  CHECK(backoff(9, std::nullopt, SendAction::retry, 1.0) == milliseconds(300000));
  CHECK(backoff(1000, std::nullopt, SendAction::retry, 1.0) == milliseconds(300000));
  CHECK(backoff(3, std::nullopt, SendAction::retry, 0.0) == milliseconds(0));
  CHECK(backoff(3, std::nullopt, SendAction::retry, 0.5) == milliseconds(4000));
  CHECK(backoff(-3, std::nullopt, SendAction::retry, 1.0) == milliseconds(1000));
  CHECK(backoff(3, std::nullopt, SendAction::retry, 7.0) == milliseconds(8000));  // draw clamped

  for (int attempt = 0; attempt < 40; ++attempt) {
    const auto ceiling = std::min<long long>(1000LL << std::min(attempt, 20), 300000);
    for (int i = 0; i < 50; ++i) {
      const auto d = backoff(attempt, std::nullopt, SendAction::retry);
      CHECK(d >= milliseconds(0));
      CHECK(d <= milliseconds(ceiling));
    }
  }
}

TEST_CASE("backoff: the jitter actually varies", "[graph][backoff]") {
  std::set<long long> seen;
  for (int i = 0; i < 50; ++i) seen.insert(backoff(10, std::nullopt, SendAction::retry).count());
  CHECK(seen.size() > 10);
}

TEST_CASE("backoff: Retry-After is the minimum", "[graph][backoff]") {
  for (int i = 0; i < 50; ++i) CHECK(backoff(0, 17, SendAction::retry) >= milliseconds(17000));
  CHECK(backoff(0, 17, SendAction::retry, 1.0) == milliseconds(17000));
  CHECK(backoff(9, 17, SendAction::retry, 1.0) == milliseconds(300000));
  CHECK(backoff(0, 3600, SendAction::retry, 1.0) == milliseconds(3600000));  // above the cap
  CHECK(backoff(0, 2, SendAction::retry_pair_rate) == milliseconds(2000));
  CHECK(backoff(0, 0, SendAction::retry, 0.0) == milliseconds(0));
}

TEST_CASE("backoff: 4^n seconds for the pair rate limit", "[graph][backoff]") {
  CHECK(backoff(0, std::nullopt, SendAction::retry_pair_rate) == milliseconds(1000));
  CHECK(backoff(1, std::nullopt, SendAction::retry_pair_rate) == milliseconds(4000));
  CHECK(backoff(2, std::nullopt, SendAction::retry_pair_rate) == milliseconds(16000));
  CHECK(backoff(3, std::nullopt, SendAction::retry_pair_rate) == milliseconds(64000));
  CHECK(backoff(4, std::nullopt, SendAction::retry_pair_rate) == milliseconds(256000));
  CHECK(backoff(5, std::nullopt, SendAction::retry_pair_rate) == milliseconds(300000));
  CHECK(backoff(100, std::nullopt, SendAction::retry_pair_rate) == milliseconds(300000));
}

TEST_CASE("backoff: nothing to wait for when there is nothing to retry", "[graph][backoff]") {
  for (auto action : {SendAction::accepted, SendAction::fail, SendAction::window_closed, SendAction::pause_token}) {
    CHECK(backoff(3, 17, action) == milliseconds(0));
  }
}
