#pragma once
// Static checks on a flow file's source text, used by the loader: returned state
// literals and the lines of table keys for error messages.
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
  // State names a handler spanning [first, last] names literally: `return "X"`,
  // `return 'X'`, `ctx:go("X")`, `ctx:go "X"`, `ctx["goto"](ctx, "X")`. Comments are
  // skipped; so are strings that cannot be state names (spaces, punctuation).
  std::vector<Literal> state_literals(int first, int last) const;

 private:
  std::vector<std::string> lines_;  // code only: comments removed
  std::vector<std::string> masks_;  // per character: '1' inside a string literal
};

}  // namespace charla::lua::detail
