#include "lua/flow_check.hpp"

#include <algorithm>
#include <cctype>
#include <iterator>

namespace charla::lua::detail {
namespace {

bool is_word(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

// Code lines without `--` comments (long `--[[ ]]` ones too), each with a mask that
// is 1 where a character belongs to a string literal: keywords inside strings
// ("say 'return X'") are text, not code.
struct Stripped {
  std::vector<std::string> lines{1};
  std::vector<std::string> masks{1};
  void add(char c, bool in_string) {
    lines.back() += c;
    masks.back() += in_string ? '1' : '0';
  }
};

Stripped strip_comments(std::string_view text) {
  Stripped out;
  bool in_long_comment = false;
  bool in_long_string = false;
  char quote = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '\n') {
      out.lines.emplace_back();
      out.masks.emplace_back();
      quote = 0;
      continue;
    }
    if (in_long_string) {  // [[ ... ]]: text, like a quoted string (may span lines)
      out.add(c, true);
      if (text.compare(i, 2, "]]") == 0) {
        out.add(text[++i], true);
        in_long_string = false;
      }
      continue;
    }
    if (in_long_comment) {
      if (text.compare(i, 2, "]]") == 0) {
        in_long_comment = false;
        ++i;
      }
      continue;
    }
    if (quote) {
      out.add(c, true);
      if (c == '\\' && i + 1 < text.size() && text[i + 1] != '\n') out.add(text[++i], true);
      else if (c == quote) quote = 0;
      continue;
    }
    if (c == '[' && text.compare(i, 2, "[[") == 0) {
      in_long_string = true;
      out.add(c, true);
      out.add(text[++i], true);
      continue;
    }
    if (c == '"' || c == '\'') {
      quote = c;
      out.add(c, true);
      continue;
    }
    if (text.compare(i, 2, "--") == 0) {
      if (text.compare(i + 2, 2, "[[") == 0) {
        in_long_comment = true;
        i += 3;
        continue;
      }
      while (i + 1 < text.size() && text[i + 1] != '\n') ++i;
      continue;
    }
    out.add(c, false);
  }
  return out;
}

std::size_t skip_spaces(const std::string& s, std::size_t i) {
  while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
  return i;
}

// Reads a quoted literal at s[i]; the name if it could be a state name.
std::optional<std::string> literal_at(const std::string& s, std::size_t& i) {
  if (i >= s.size() || (s[i] != '"' && s[i] != '\'')) return std::nullopt;
  const char quote = s[i];
  const std::size_t end = s.find(quote, i + 1);
  if (end == std::string::npos) return std::nullopt;
  std::string name = s.substr(i + 1, end - i - 1);
  i = end + 1;
  if (name.empty()) return std::nullopt;
  for (char c : name)
    if (!is_word(c) && c != '-' && c != '.') return std::nullopt;
  return name;
}

bool starts_word(const std::string& s, std::size_t i, std::string_view word) {
  return s.compare(i, word.size(), word) == 0 && (i == 0 || !is_word(s[i - 1])) &&
         (i + word.size() >= s.size() || !is_word(s[i + word.size()]));
}

// A returned literal at s[i] (after `return`) that names a state: `return "X"` not
// followed by `..`, `:` or `[` (a concatenation or a method call is not a state name).
std::optional<std::string> returned_literal(const std::string& s, std::size_t i) {
  std::size_t j = skip_spaces(s, i);
  auto name = literal_at(s, j);
  if (!name) return std::nullopt;
  j = skip_spaces(s, j);
  if (s.compare(j, 2, "..") == 0 || (j < s.size() && (s[j] == ':' || s[j] == '['))) return std::nullopt;
  return name;
}

// The plain name called at s[i] (`name(`), if any: not a field or method (`a.b(`, `a:b(`).
std::optional<std::string> call_at(const std::string& s, std::size_t i, std::size_t end) {
  if (std::isdigit(static_cast<unsigned char>(s[i]))) return std::nullopt;
  std::size_t k = i;
  while (k > 0 && (s[k - 1] == ' ' || s[k - 1] == '\t')) --k;
  if (k > 0 && (s[k - 1] == '.' || s[k - 1] == ':')) return std::nullopt;
  const std::size_t j = skip_spaces(s, end);
  if (j >= s.size() || s[j] != '(') return std::nullopt;
  return s.substr(i, end - i);
}

// ctx:go("X"), ctx:go "X", ctx:goto("X"), ctx["goto"](ctx, "X") starting at s[i].
std::optional<std::string> goto_at(const std::string& s, std::size_t i) {
  std::size_t j = std::string::npos;
  bool with_self = false;
  if (s[i] == ':' && (starts_word(s, i + 1, "go") || starts_word(s, i + 1, "goto"))) {
    j = i + 1 + (starts_word(s, i + 1, "go") ? 2 : 4);
  } else if (s.compare(i, 8, "[\"goto\"]") == 0 || s.compare(i, 8, "['goto']") == 0) {
    j = i + 8;
    with_self = true;
  }
  if (j == std::string::npos) return std::nullopt;
  j = skip_spaces(s, j);
  if (j < s.size() && s[j] == '(') j = skip_spaces(s, j + 1);
  if (with_self) {  // skip `ctx,`
    while (j < s.size() && is_word(s[j])) ++j;
    j = skip_spaces(s, j);
    if (j >= s.size() || s[j] != ',') return std::nullopt;
    j = skip_spaces(s, j + 1);
  }
  auto name = literal_at(s, j);
  if (!name || s.compare(skip_spaces(s, j), 2, "..") == 0) return std::nullopt;
  return name;
}

bool is_keyword(std::string_view w) {
  static const char* const kKeywords[] = {"and",   "break", "do",  "else", "elseif", "end",   "false",
                                          "for",   "function", "goto", "if", "in",   "local", "nil",
                                          "not",   "or",    "repeat", "return", "then", "true", "until", "while"};
  return std::any_of(std::begin(kKeywords), std::end(kKeywords), [&](const char* k) { return w == k; });
}

}  // namespace

FlowSource::FlowSource(std::string_view text) {
  Stripped stripped = strip_comments(text);
  lines_ = std::move(stripped.lines);
  masks_ = std::move(stripped.masks);
}

int FlowSource::key_line(std::string_view key, int from) const {
  const std::string quoted_dq = "[\"" + std::string(key) + "\"]";
  const std::string quoted_sq = "['" + std::string(key) + "']";
  for (int n = std::max(from, 1); n <= static_cast<int>(lines_.size()); ++n) {
    const std::string& s = lines_[static_cast<std::size_t>(n - 1)];
    for (std::size_t i = 0; i < s.size(); ++i) {
      std::size_t end = std::string::npos;
      if (masks_[static_cast<std::size_t>(n - 1)][i] == '1' && s[i] != '[') continue;
      if (starts_word(s, i, key)) end = i + key.size();
      else if (s.compare(i, quoted_dq.size(), quoted_dq) == 0) end = i + quoted_dq.size();
      else if (s.compare(i, quoted_sq.size(), quoted_sq) == 0) end = i + quoted_sq.size();
      if (end == std::string::npos) continue;
      const std::size_t j = skip_spaces(s, end);
      if (j < s.size() && s[j] == '=' && (j + 1 >= s.size() || s[j + 1] != '=')) return n;
    }
  }
  return 0;
}

FlowSource::Body FlowSource::function_body(int first, int last) const {
  Body body;
  // Open blocks, innermost last; true for a function. Each `function`, `if`, `do` and
  // `repeat` opens one block, closed by one `end` (`until` for repeat): `while`/`for`
  // open theirs with `do`, `then`/`else` open none.
  std::vector<bool> blocks;
  int functions = 0;
  std::string_view previous;
  auto add_call = [&](std::vector<std::string>& names, const std::string& name) {
    if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
  };
  for (int n = std::max(first, 1); n <= std::min(last, static_cast<int>(lines_.size())); ++n) {
    const std::string& s = lines_[static_cast<std::size_t>(n - 1)];
    const std::string& mask = masks_[static_cast<std::size_t>(n - 1)];
    for (std::size_t i = 0; i < s.size(); ++i) {
      if (mask[i] == '1') continue;
      if (!is_word(s[i]) || (i > 0 && is_word(s[i - 1]))) {
        if (functions > 0)
          if (auto name = goto_at(s, i)) body.gotos.push_back({n, *name});
        continue;
      }
      std::size_t end = i;
      while (end < s.size() && is_word(s[end])) ++end;
      const std::string_view word(s.data() + i, end - i);
      const std::size_t from = i;
      i = end - 1;
      const bool after_function = previous == "function";  // `function name(` defines, not calls
      previous = word;
      if (blocks.empty()) {  // before the function's own `function` keyword
        if (word == "function") {
          blocks.push_back(true);
          functions = 1;
        }
        continue;
      }
      if (word == "function") {
        blocks.push_back(true);
        ++functions;
      } else if (word == "if" || word == "do" || word == "repeat") {
        blocks.push_back(false);
      } else if (word == "end" || word == "until") {
        if (blocks.back()) --functions;
        blocks.pop_back();
        if (blocks.empty()) return body;
      } else if (word == "return") {
        if (functions != 1) continue;
        if (auto name = returned_literal(s, end)) {
          body.returns.push_back({n, *name});
        } else {
          const std::size_t j = skip_spaces(s, end);
          std::size_t k = j;
          while (k < s.size() && is_word(s[k])) ++k;
          if (k > j && !is_keyword(std::string_view(s.data() + j, k - j)))
            if (auto name = call_at(s, j, k)) add_call(body.returned_calls, *name);
        }
      } else if (!is_keyword(word) && !after_function) {
        if (auto name = call_at(s, from, end)) add_call(body.calls, *name);
      }
    }
    if (blocks.empty()) return body;  // line `first` defines no function
  }
  return body;
}

}  // namespace charla::lua::detail
