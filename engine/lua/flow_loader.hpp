#pragma once
// Loading a flow file: compile (text only, chunk name "@<path>"), run it in its own
// sandboxed environment under the instruction budget and memory cap, then validate
// the returned table and the state names its handlers return literally. Every
// problem is a FlowError naming file:line.
#include "lua/flow_record.hpp"
#include "lua/host.hpp"

#include <filesystem>
#include <memory>

namespace charla::lua::detail {

std::shared_ptr<FlowRecord> load_flow_file(Host& host, const std::filesystem::path& file);

}  // namespace charla::lua::detail
