#pragma once
// The state diagram of a loaded flow, from the literal transitions the loader found
// (FlowInfo::transitions). Used by `charla graph` (Mermaid or Graphviz DOT text) and
// by `charla check` (states that no literal transition reaches).
#include "lua/flow_host.hpp"

#include <string>
#include <vector>

namespace charla::lua {

enum class GraphFormat { mermaid, dot };

// States not reachable from `initial` through literal transitions, in file order.
// A flow that picks states by computed name (return next_state) can still reach
// them, so callers report these as warnings, not errors.
std::vector<std::string> unreachable_states(const FlowInfo& flow);

// What `charla check` warns about, each with the line it concerns: states no literal
// transition reaches; states with no literal way out that are not `final = true`
// (a dead end the designer did not mean); final states that still lead somewhere.
struct FlowWarning {
  int line = 0;
  std::string message;
};
std::vector<FlowWarning> flow_warnings(const FlowInfo& flow);

// One edge per (from, to) pair, labelled with the handlers that make it; flow-level
// handlers (timers, migrate) start from an "(any state)" node. A state timeout is
// labelled with its delay ("timeout 30m"); one that leads nowhere literally (a
// reminder) is drawn as a loop on its state.
std::string flow_graph(const FlowInfo& flow, GraphFormat format);

}  // namespace charla::lua
