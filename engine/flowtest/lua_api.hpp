#pragma once
// The Lua state a test file runs in: base, string, table, math, utf8 and coroutine
// libraries, `require` of modules beside the test file, no os/io/debug/dofile (test
// files are trusted designer code, but a test should not reach outside its folder),
// plus the test API (`charla.test`, `test`) from the prelude.
#include "flowtest/channel_profile.hpp"

#include <lua.hpp>

#include <filesystem>
#include <optional>
#include <string>

namespace charla::flowtest {

// A fresh state for `test_file`; throws std::runtime_error if the prelude fails.
// `profile` must outlive the state.
lua_State* new_test_state(const std::filesystem::path& test_file, const ChannelProfile& profile);

// "2026-03-02T09:00:00-03:00", "2026-03-02T12:00:00Z", "2026-03-02T09:00" (UTC) ->
// Unix milliseconds; nullopt when it is not such a time.
std::optional<std::int64_t> parse_iso_time(std::string_view text);

}  // namespace charla::flowtest
