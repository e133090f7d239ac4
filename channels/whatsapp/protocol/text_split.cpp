// split_text(): long replies (typically LLM answers) become several WhatsApp messages
// that each read naturally, instead of one refused 400.
#include "whatsapp/protocol/message_builder.hpp"
#include "whatsapp/protocol/utf8.hpp"

#include <array>
#include <optional>

namespace charla::whatsapp {
namespace {

struct Separator {
  std::string_view text;
  std::size_t keep;  // bytes of the separator that stay with the left part (sentence punctuation)
};

// In order of preference.
constexpr std::array<std::array<Separator, 3>, 4> kSeparators = {{
    {{{"\n\n", 0}, {"", 0}, {"", 0}}},
    {{{"\n", 0}, {"", 0}, {"", 0}}},
    {{{". ", 1}, {"? ", 1}, {"! ", 1}}},
    {{{" ", 0}, {"", 0}, {"", 0}}},
}};

bool is_space(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }

struct Cut {
  std::size_t end;     // the left part is text[0, end)
  std::size_t resume;  // the rest starts at text[resume]
};

// The last separator of one preference level that leaves a left part of at least
// `min_end` bytes and at most `window` bytes.
std::optional<Cut> last_separator(std::string_view text, std::size_t window, std::size_t min_end,
                                  const std::array<Separator, 3>& level) {
  std::optional<Cut> best;
  for (const auto& sep : level) {
    if (sep.text.empty()) continue;
    if (window < sep.keep) continue;
    const std::size_t pos = text.rfind(sep.text, window - sep.keep);
    if (pos == std::string_view::npos) continue;
    const std::size_t end = pos + sep.keep;
    if (end < min_end || end == 0) continue;
    if (!best || end > best->end) best = Cut{end, pos + sep.text.size()};
  }
  return best;
}

Cut choose_cut(std::string_view text, std::size_t window) {
  // A boundary early in the window would make many short messages; first look for
  // one in its second half, then anywhere, then cut hard at a code point boundary.
  for (const std::size_t min_end : {window / 2, std::size_t{1}}) {
    for (const auto& level : kSeparators) {
      if (auto cut = last_separator(text, window, min_end, level)) return *cut;
    }
  }
  return Cut{window, window};
}

}  // namespace

std::vector<std::string> split_text(std::string_view text, std::size_t max_chars) {
  if (max_chars == 0) max_chars = 1;
  std::vector<std::string> parts;
  while (!text.empty()) {
    // Byte length of the first max_chars code points: always a code point boundary,
    // and not 0 when the text is longer than that.
    const std::size_t window = utf8::offset_of(text, max_chars);
    if (window >= text.size()) {
      parts.emplace_back(text);
      break;
    }
    const Cut cut = choose_cut(text, window);
    std::string_view left = text.substr(0, cut.end);
    while (!left.empty() && is_space(left.back())) left.remove_suffix(1);
    if (!left.empty()) parts.emplace_back(left);
    text.remove_prefix(cut.resume);
    while (!text.empty() && is_space(text.front())) text.remove_prefix(1);
  }
  return parts;
}

}  // namespace charla::whatsapp
