#pragma once
// Static checks on a flow file's source text, used by the loader: returned state
// literals, calls to helper functions and the lines of table keys for error messages.
// A text scan, not a parser: long strings with `=` levels ([==[ ]==]) are read as code.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace charla::lua::detail {

class FlowSource {
 public:
  explicit FlowSource(std::string_view text);

  // First line >= `from` where `key` is assigned (`key =` or `["key"] =`); 0 if none.
  int key_line(std::string_view key, int from = 1) const;

  struct Literal {
    int line;
    std::string name;
  };
  // What the function whose `function` keyword is the first one on line `first` (and
  // which ends by line `last`) does with literal state names. Only the function's own
  // `return` is a transition: a `return "X"` inside a function nested in it returns
  // from that inner function. `ctx:go("X")` counts at any depth (an inner function
  // that runs during the turn still moves the conversation). Comments are skipped; so
  // are strings that cannot be state names (spaces, punctuation).
  struct Body {
    std::vector<Literal> returns;             // `return "X"`, `return 'X'`, own body only
    std::vector<Literal> gotos;               // ctx:go("X"), ctx:go "X", ctx["goto"](ctx, "X")
    std::vector<std::string> returned_calls;  // `return name(...)`, own body only
    std::vector<std::string> calls;           // `name(...)` anywhere inside, each name once
  };
  Body function_body(int first, int last) const;

 private:
  std::vector<std::string> lines_;  // code only: comments removed
  std::vector<std::string> masks_;  // per character: '1' inside a string literal
};

}  // namespace charla::lua::detail
