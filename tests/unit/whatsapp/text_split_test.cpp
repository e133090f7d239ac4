// split_text(): long replies become readable parts, never broken UTF-8.
#include "whatsapp/protocol/message_builder.hpp"
#include "whatsapp/protocol/utf8.hpp"

#include <catch2/catch.hpp>

#include <random>

using namespace charla::whatsapp;

namespace {

std::string without_whitespace(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c != ' ' && c != '\n' && c != '\r' && c != '\t') out += c;
  }
  return out;
}

// Invariants every split must keep: parts in order, each within the limit, valid
// UTF-8 when the input is, and nothing but whitespace lost.
void check_split(const std::string& text, std::size_t max_chars) {
  INFO("max_chars " << max_chars << ", text bytes " << text.size());
  const auto parts = split_text(text, max_chars);
  std::string joined;
  for (const auto& p : parts) {
    CHECK_FALSE(p.empty());
    CHECK(utf8::length(p) <= std::max<std::size_t>(max_chars, 1));
    if (utf8::is_valid(text)) CHECK(utf8::is_valid(p));
    joined += p;
  }
  CHECK(without_whitespace(joined) == without_whitespace(text));
}

}  // namespace

TEST_CASE("short text is one unchanged part; empty text no part", "[split]") {
  CHECK(split_text("hola") == std::vector<std::string>{"hola"});
  CHECK(split_text("  hola\n\n") == std::vector<std::string>{"  hola\n\n"});
  CHECK(split_text(std::string(4096, 'a')).size() == 1);
  CHECK(split_text(std::string(4097, 'a')).size() == 2);
  CHECK(split_text("").empty());
}

TEST_CASE("paragraph breaks are preferred over lines, sentences and spaces", "[split]") {
  const std::string text = "Primer párrafo. Con dos frases.\nY una línea.\n\nSegundo párrafo largo.";
  const auto parts = split_text(text, 50);
  REQUIRE(parts.size() == 2);
  CHECK(parts[0] == "Primer párrafo. Con dos frases.\nY una línea.");
  CHECK(parts[1] == "Segundo párrafo largo.");
}

TEST_CASE("then line breaks", "[split]") {
  const auto parts = split_text("uno dos. tres cuatro\ncinco seis siete", 25);
  REQUIRE(parts.size() == 2);
  CHECK(parts[0] == "uno dos. tres cuatro");
  CHECK(parts[1] == "cinco seis siete");
}

TEST_CASE("then sentence ends, keeping the punctuation", "[split]") {
  auto parts = split_text("¿Cuántos años tienes? Yo tengo treinta y ocho años", 30);
  REQUIRE(parts.size() == 2);
  CHECK(parts[0] == "¿Cuántos años tienes?");
  CHECK(parts[1] == "Yo tengo treinta y ocho años");

  parts = split_text("Hola. Quiero un seguro de vida! Para mi familia", 35);
  REQUIRE(parts.size() == 2);
  CHECK(parts[0] == "Hola. Quiero un seguro de vida!");
  CHECK(parts[1] == "Para mi familia");
}

TEST_CASE("then spaces", "[split]") {
  const auto parts = split_text("uno dos tres cuatro cinco seis", 12);
  CHECK(parts == std::vector<std::string>{"uno dos tres", "cuatro cinco", "seis"});
}

TEST_CASE("an early boundary is not used when a later one fits", "[split]") {
  // The paragraph break sits in the first tenth of the window; a space near the end
  // gives a fuller first message.
  const std::string text = "Hola.\n\n" + std::string(60, 'a') + " " + std::string(60, 'b');
  const auto parts = split_text(text, 100);
  REQUIRE(parts.size() == 2);
  CHECK(parts[0] == "Hola.\n\n" + std::string(60, 'a'));
}

TEST_CASE("hard cuts fall on code point boundaries", "[split]") {
  const std::string emoji = "😀";  // 4 bytes
  std::string text;
  for (int i = 0; i < 10; ++i) text += emoji;
  const auto parts = split_text(text, 3);
  REQUIRE(parts.size() == 4);
  CHECK(parts[0] == emoji + emoji + emoji);
  CHECK(parts[3] == emoji);
  for (const auto& p : parts) CHECK(utf8::is_valid(p));

  const auto accented = split_text("ñññññ", 2);
  CHECK(accented == std::vector<std::string>{"ññ", "ññ", "ñ"});
}

TEST_CASE("limits are counted in code points, not bytes", "[split]") {
  std::string text;
  for (int i = 0; i < 4096; ++i) text += "é";  // 8192 bytes, 4096 characters
  CHECK(split_text(text).size() == 1);
  text += "é";
  CHECK(split_text(text).size() == 2);
}

TEST_CASE("max_chars 0 and 1 still make progress", "[split]") {
  CHECK(split_text("abc", 0) == std::vector<std::string>{"a", "b", "c"});
  CHECK(split_text("a b", 1) == std::vector<std::string>{"a", "b"});
}

TEST_CASE("invalid UTF-8 input never loops or crashes", "[split]") {
  const std::string bad = "\x80\x80\xff abc \xc3 def \xe2\x82";
  for (std::size_t max : {1, 2, 3, 5, 100}) {
    const auto parts = split_text(bad, max);
    CHECK_FALSE(parts.empty());
  }
}

TEST_CASE("random texts keep every invariant", "[split]") {
  std::mt19937 rng(12345);
  const std::vector<std::string> pieces = {"a", "bb", " ", " ", "\n", "\n\n", ". ", "? ", "ñ", "😀", "語", "word",
                                           "x", "longerword"};
  for (int round = 0; round < 300; ++round) {
    std::string text;
    const int n = std::uniform_int_distribution<int>(0, 400)(rng);
    for (int i = 0; i < n; ++i) text += pieces[std::uniform_int_distribution<std::size_t>(0, pieces.size() - 1)(rng)];
    const std::size_t max = std::uniform_int_distribution<std::size_t>(1, 60)(rng);
    check_split(text, max);
  }
}

TEST_CASE("a huge text splits in reasonable time", "[split]") {
  std::string text;
  while (text.size() < 3'000'000) text += "Una frase de prueba con acentos: él, ñandú. ";
  const auto parts = split_text(text);
  CHECK(parts.size() > 600);
  for (const auto& p : parts) CHECK(utf8::length(p) <= 4096);
}
