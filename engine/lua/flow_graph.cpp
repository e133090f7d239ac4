#include "lua/flow_graph.hpp"

#include <algorithm>
#include <cctype>
#include <map>
#include <set>
#include <sstream>

namespace charla::lua {
namespace {

constexpr const char* kAnyState = "(any state)";

// (from, to) -> handler names, in first-seen order.
using Edges = std::vector<std::pair<std::pair<std::string, std::string>, std::vector<std::string>>>;

// "30m", "2h", "90s", "500ms": the largest unit that divides the delay.
std::string duration_text(std::int64_t ms) {
  const std::pair<std::int64_t, const char*> units[] = {{86'400'000, "d"}, {3'600'000, "h"}, {60'000, "m"}, {1'000, "s"}};
  for (auto [size, unit] : units)
    if (ms > 0 && ms % size == 0) return std::to_string(ms / size) + unit;
  return std::to_string(ms) + "ms";
}

std::string edge_label(const FlowInfo& flow, const std::string& state, const std::string& handler) {
  if (handler != "timeout.run") return handler;
  const auto it = flow.state_timeout_ms.find(state);
  return it == flow.state_timeout_ms.end() ? "timeout" : "timeout " + duration_text(it->second);
}

Edges collect_edges(const FlowInfo& flow) {
  Edges edges;
  auto add = [&](const std::string& from, const std::string& to, const std::string& label) {
    auto key = std::make_pair(from, to);
    auto it = std::find_if(edges.begin(), edges.end(), [&](const auto& e) { return e.first == key; });
    if (it == edges.end()) it = edges.insert(edges.end(), {key, {}});
    if (std::find(it->second.begin(), it->second.end(), label) == it->second.end()) it->second.push_back(label);
  };
  for (const auto& t : flow.transitions) add(t.from, t.to, edge_label(flow, t.from, t.handler));
  for (const auto& entry : flow.state_timeout_ms) {
    // A named reference, not a structured binding: clang before 16 cannot capture those.
    const std::string& state = entry.first;
    const bool leads = std::any_of(flow.transitions.begin(), flow.transitions.end(),
                                   [&](const Transition& t) { return t.from == state && t.handler == "timeout.run"; });
    if (!leads) add(state, state, edge_label(flow, state, "timeout.run"));
  }
  return edges;
}

std::string joined(const std::vector<std::string>& parts) {
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : ", ") + p;
  return out;
}

// Mermaid identifiers are word characters; state names may also hold '-' and '.'.
std::string mermaid_id(const std::string& state) {
  if (state.empty()) return "any_state";
  std::string id = "s_";
  for (char c : state) id += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  return id;
}

std::string dot_quoted(const std::string& text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

bool has_flow_level(const FlowInfo& flow) {
  return std::any_of(flow.transitions.begin(), flow.transitions.end(), [](const auto& t) { return t.from.empty(); });
}

std::string mermaid(const FlowInfo& flow) {
  std::ostringstream out;
  out << "stateDiagram-v2\n";
  for (const auto& s : flow.states) out << "    state \"" << s << "\" as " << mermaid_id(s) << "\n";
  if (has_flow_level(flow)) out << "    state \"" << kAnyState << "\" as " << mermaid_id("") << "\n";
  out << "    [*] --> " << mermaid_id(flow.initial) << "\n";
  for (const auto& [edge, handlers] : collect_edges(flow))
    out << "    " << mermaid_id(edge.first) << " --> " << mermaid_id(edge.second) << " : " << joined(handlers) << "\n";
  return out.str();
}

std::string dot(const FlowInfo& flow) {
  std::ostringstream out;
  out << "digraph " << dot_quoted(flow.name) << " {\n    rankdir=LR;\n    node [shape=box, style=rounded];\n";
  out << "    \"__start\" [shape=point];\n    \"__start\" -> " << dot_quoted(flow.initial) << ";\n";
  for (const auto& s : flow.states) out << "    " << dot_quoted(s) << ";\n";
  if (has_flow_level(flow)) out << "    \"__any\" [label=" << dot_quoted(kAnyState) << ", shape=note];\n";
  for (const auto& [edge, handlers] : collect_edges(flow))
    out << "    " << (edge.first.empty() ? "\"__any\"" : dot_quoted(edge.first)) << " -> " << dot_quoted(edge.second)
        << " [label=" << dot_quoted(joined(handlers)) << "];\n";
  out << "}\n";
  return out.str();
}

}  // namespace

std::vector<std::string> unreachable_states(const FlowInfo& flow) {
  std::set<std::string> reached{flow.initial};
  for (const auto& t : flow.transitions)
    if (t.from.empty()) reached.insert(t.to);  // flow-level handlers run in any state
  for (bool grew = true; grew;) {
    grew = false;
    for (const auto& t : flow.transitions)
      if (reached.count(t.from) && reached.insert(t.to).second) grew = true;
  }
  std::vector<std::string> out;
  for (const auto& s : flow.states)
    if (!reached.count(s)) out.push_back(s);
  return out;
}

std::vector<FlowWarning> flow_warnings(const FlowInfo& flow) {
  std::vector<FlowWarning> out;
  auto line_of = [&](const std::string& state) {
    const auto it = flow.state_lines.find(state);
    return it == flow.state_lines.end() ? 0 : it->second;
  };
  for (const auto& state : unreachable_states(flow))
    out.push_back({line_of(state), "state " + state + " is not reached from " + flow.initial +
                                       " by any literal transition (return \"" + state + "\" or ctx:go(\"" + state +
                                       "\"))"});
  for (const auto& state : flow.states) {
    const bool final = std::count(flow.final_states.begin(), flow.final_states.end(), state) > 0;
    const auto exit = std::find_if(flow.transitions.begin(), flow.transitions.end(),
                                   [&](const Transition& t) { return t.from == state && t.to != state; });
    if (!final && exit == flow.transitions.end())
      out.push_back({line_of(state), "state " + state +
                                         " has no way out (no literal transition leaves it); if the conversation "
                                         "ends there, mark it final = true"});
    if (final && exit != flow.transitions.end())
      out.push_back({exit->line, "state " + state + " is final = true but its " + exit->handler + " leads to " +
                                     exit->to + (exit->via.empty() ? "" : " (through " + exit->via + "())")});
  }
  std::stable_sort(out.begin(), out.end(), [](const FlowWarning& a, const FlowWarning& b) { return a.line < b.line; });
  return out;
}

std::string flow_graph(const FlowInfo& flow, GraphFormat format) {
  return format == GraphFormat::dot ? dot(flow) : mermaid(flow);
}

}  // namespace charla::lua
