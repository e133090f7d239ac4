#pragma once
// The web console's static files, compiled into the binary from console/ by
// engine/http/embed_console.cmake (generated console_assets.cpp in the build dir).
#include <string_view>
#include <vector>

namespace charla::http {

struct ConsoleAsset {
  std::string_view name;          // file name under console/, e.g. "app.js"
  std::string_view content_type;
  std::string_view body;
};

const std::vector<ConsoleAsset>& console_assets();

}  // namespace charla::http
