#include "whatsapp/protocol/signature.hpp"

#include "shared_files.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

using namespace charla::whatsapp;
using charla::whatsapp::test::read_bytes;
using charla::whatsapp::test::whatsapp_dir;

namespace {
const std::string kBody = R"({"object":"whatsapp_business_account","entry":[]})";
const std::string kSecret = "test-app-secret";
}  // namespace

TEST_CASE("every vector in shared/whatsapp/signatures is accepted or rejected as documented", "[signature]") {
  const auto vectors = nlohmann::json::parse(read_bytes(whatsapp_dir() / "signatures" / "vectors.json"));
  REQUIRE(vectors.is_array());
  REQUIRE(vectors.size() >= 6);
  int valid = 0, invalid = 0;
  for (const auto& v : vectors) {
    const std::string file = v.at("file");
    INFO(file << " — " << v.at("note").get<std::string>());
    const std::string body = read_bytes(whatsapp_dir() / file);
    const std::string header = v.at("header");
    const std::string secret = v.at("secret");
    const bool expected = v.at("valid");
    CHECK(verify_signature(body, header, secret) == expected);
    if (expected) {
      CHECK(sign(body, secret) == header);
      ++valid;
    } else {
      CHECK(sign(body, secret) != header);
      ++invalid;
    }
  }
  CHECK(valid >= 4);
  CHECK(invalid >= 2);
}

TEST_CASE("the re-serialised non-ASCII body fails with the original header", "[signature]") {
  const std::string original = read_bytes(whatsapp_dir() / "payloads" / "02-text-non-ascii.json");
  const std::string reserialized = read_bytes(whatsapp_dir() / "signatures" / "02-text-non-ascii.reserialized.json");
  REQUIRE(original != reserialized);
  // Same JSON value, different bytes.
  CHECK(nlohmann::json::parse(original) == nlohmann::json::parse(reserialized));
  const std::string header = sign(original, kSecret);
  CHECK(verify_signature(original, header, kSecret));
  CHECK_FALSE(verify_signature(reserialized, header, kSecret));
  // And what our own parser + dump would produce also fails: verify before parsing.
  CHECK_FALSE(verify_signature(nlohmann::json::parse(original).dump(), header, kSecret));
}

TEST_CASE("sign produces the openssl HMAC-SHA256 in lowercase hex", "[signature]") {
  // printf '' | openssl dgst -sha256 -hmac key
  CHECK(sign("", "key") == "sha256=5d5d139563c95b5967b9bd9a8c9b233a9dedb45072794cd232dc1b74832607d0");
  // printf 'abc' | openssl dgst -sha256 -hmac ''
  CHECK(sign("abc", "") == "sha256=fd7adb152c05ef80dccf50a1fa4c05d5a3ec6da95575fc312ae7c5d091836351");
  CHECK(verify_signature("", sign("", "key"), "key"));
}

TEST_CASE("missing or malformed signature headers are rejected", "[signature]") {
  const std::string good = sign(kBody, kSecret);
  const std::string hex = good.substr(7);
  REQUIRE(verify_signature(kBody, good, kSecret));

  auto upper = hex;
  for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));

  const std::vector<std::string> bad = {
      "",                                   // header missing
      "sha256=",                            // no digest
      hex,                                  // no prefix
      "sha1=" + hex,                        // other algorithm prefix
      "sha1=da39a3ee5e6b4b0d3255bfef95601890afd80709",
      "SHA256=" + hex,                      // prefix is case-sensitive
      "sha256:" + hex,
      "sha256 =" + hex,
      "sha256=" + upper,                    // Meta sends lowercase only
      "sha256=" + hex.substr(1),            // 63 digits
      "sha256=" + hex + "0",                // 65 digits
      "sha256=" + hex.substr(0, 63) + "g",  // not hex
      "sha256=" + hex + ",sha256=" + hex,
      "sha256=" + std::string(64, '0'),
      std::string("sha256=") + std::string(64, '\0'),
  };
  for (const auto& header : bad) {
    INFO("header: " << header);
    CHECK_FALSE(verify_signature(kBody, header, kSecret));
  }
}

TEST_CASE("wrong secret, tampered body and empty secret are rejected", "[signature]") {
  const std::string header = sign(kBody, kSecret);
  CHECK_FALSE(verify_signature(kBody, header, "another-secret"));
  CHECK_FALSE(verify_signature(kBody + " ", header, kSecret));
  std::string tampered = kBody;
  tampered[3] = 'O';
  CHECK_FALSE(verify_signature(tampered, header, kSecret));
  // A server with no app secret configured must not accept bodies signed with "".
  CHECK_FALSE(verify_signature(kBody, sign(kBody, ""), ""));
}

TEST_CASE("optional whitespace around the header value is tolerated", "[signature]") {
  const std::string header = sign(kBody, kSecret);
  CHECK(verify_signature(kBody, " " + header + "\t", kSecret));
}

TEST_CASE("binary bodies with NUL bytes are signed over every byte", "[signature]") {
  const std::string body("a\0b\0c", 5);
  const std::string header = sign(body, kSecret);
  CHECK(verify_signature(body, header, kSecret));
  CHECK_FALSE(verify_signature(std::string("a"), header, kSecret));
}

TEST_CASE("signatures stay right when many secrets are used in turn, on several threads", "[signature]") {
  // Each thread keeps prepared HMAC contexts for a few keys; more keys than it keeps,
  // used in turn and again, must never sign with another key's state.
  // python3: hmac.new(b"key-<i>", b"abc", hashlib.sha256).hexdigest()
  const std::vector<std::string> expected = {
      "aaa58217db9dfdb72b1a5c230687a9c4503e62a44013799b04ce7c61693f49a7",
      "6e10dd2dc3863ba3389f726330b76e95e0ffe846492f322a4e1500b87bbd45cb",
      "44944cfd8fc646c5923647753c2d6281bdcd1c267c4ffeb1ded73d7f6681ee70",
      "959829f6ef6b7eecfe70eeed09b02563e40cd4005c80d0c5000f53778f466651",
      "fc6a6399a17cb5ea804b38e55f3c72bf92cb07908439f282e041e6c7383a8979",
      "6425c63827ffab88d709e4a27787a5f39c4599179e112026dd747fbb15fa2c34",
      "96c6a79e0c2db549e015185cb485ea8a42d8dda8be0cfeb5f023b02279291763",
      "1e9f7fe873dfaeb81f0ad9e03ee3d8c66b6b93ca162848e67b805a6ccb915a4c",
      "40e2d189cc768074972226d5eeacf503893464d660d543c743e8f5653a80f2d5",
      "1cc098acc57cd94fa917400c581183c8127ad4d85299ab2af7862d4e55fc7841",
      "ee89c6b60e4027defe81e04019a8900b4f46baea21b2a060f647771e66def09b",
      "acb7ca2a440b3ecc3bbc66b1dccbaadea8e4f1c00350cacf8444057051dc6149"};
  auto check_all = [&] {
    bool all_right = true;
    for (int round = 0; round < 3; ++round)
      for (std::size_t i = 0; i < expected.size(); ++i)
        all_right = all_right && sign("abc", "key-" + std::to_string(i)) == "sha256=" + expected[i];
    return all_right;
  };
  std::atomic<bool> other_thread_right{false};
  std::thread other([&] { other_thread_right = check_all(); });
  CHECK(check_all());
  other.join();
  CHECK(other_thread_right);
  CHECK(sign("", "key") == "sha256=5d5d139563c95b5967b9bd9a8c9b233a9dedb45072794cd232dc1b74832607d0");
}
