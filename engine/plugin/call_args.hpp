#pragma once
// Checks every plugin applies to the table a flow passes to ctx:<method>{...}, so a
// typo fails at the call (the engine adds file:line) instead of being ignored, and a
// per-call `timeout` reads the same in every plugin.
#include <nlohmann/json.hpp>

#include <chrono>
#include <optional>
#include <set>
#include <string>

namespace charla::plugin_args {

// "unknown argument 'timout' (did you mean 'timeout'?; expected a, b, c)" for the
// first key of `args` not in `known`; empty when every key is known (or args is not
// an object).
std::string unknown_argument(const nlohmann::json& args, const std::set<std::string>& known);

// The known key closest to `key` (at most two edits away, case-insensitive), or empty.
std::string nearest(const std::string& key, const std::set<std::string>& known);

// A per-call `timeout`: a number of milliseconds, or a duration string "300ms", "3s",
// "2m". Between 1 ms and one day. nullopt with `why` set on anything else.
std::optional<std::chrono::milliseconds> call_timeout(const nlohmann::json& value, std::string& why);

}  // namespace charla::plugin_args
