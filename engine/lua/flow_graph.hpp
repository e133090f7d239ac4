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

// One edge per (from, to) pair, labelled with the handlers that make it; flow-level
// handlers (timers, migrate) start from an "(any state)" node.
std::string flow_graph(const FlowInfo& flow, GraphFormat format);

}  // namespace charla::lua
