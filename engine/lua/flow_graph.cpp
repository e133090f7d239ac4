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

Edges collect_edges(const FlowInfo& flow) {
  Edges edges;
  for (const auto& t : flow.transitions) {
    auto key = std::make_pair(t.from, t.to);
    auto it = std::find_if(edges.begin(), edges.end(), [&](const auto& e) { return e.first == key; });
    if (it == edges.end()) it = edges.insert(edges.end(), {key, {}});
    if (std::find(it->second.begin(), it->second.end(), t.handler) == it->second.end()) it->second.push_back(t.handler);
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

std::string flow_graph(const FlowInfo& flow, GraphFormat format) {
  return format == GraphFormat::dot ? dot(flow) : mermaid(flow);
}

}  // namespace charla::lua
