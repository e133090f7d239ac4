#pragma once
// Access to the WhatsApp reference material checked in under tests/fixtures/whatsapp
// (payloads, signature vectors, Graph responses), read byte-for-byte: the signature
// vectors sign the exact file bytes.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <vector>

namespace charla::whatsapp::test {

inline std::filesystem::path whatsapp_dir() { return std::filesystem::path(CHARLA_FIXTURES_DIR) / "whatsapp"; }

inline std::string read_bytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path.string());
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Files in `dir` whose name ends with `suffix`, sorted by name.
inline std::vector<std::filesystem::path> files_in(const std::filesystem::path& dir, const std::string& suffix) {
  std::vector<std::filesystem::path> out;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (e.is_regular_file() && name.size() >= suffix.size() &&
        name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0) {
      out.push_back(e.path());
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace charla::whatsapp::test
