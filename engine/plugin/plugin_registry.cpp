#include "plugin/plugin.hpp"

namespace charla {

PluginRegistry& PluginRegistry::instance() {
  static PluginRegistry registry;
  return registry;
}

void PluginRegistry::add(std::string name, PluginFactory factory) { factories_[std::move(name)] = std::move(factory); }

const PluginFactory* PluginRegistry::find(const std::string& name) const {
  auto it = factories_.find(name);
  return it == factories_.end() ? nullptr : &it->second;
}

std::vector<std::string> PluginRegistry::names() const {
  std::vector<std::string> out;
  for (auto& [name, _] : factories_) out.push_back(name);
  return out;
}

}  // namespace charla
