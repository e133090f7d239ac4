// JUnit XML as CI systems (GitHub Actions reporters, GitLab, Jenkins) read it.
#include "flowtest/runner.hpp"

#include <fstream>
#include <map>
#include <sstream>

namespace charla::flowtest {

namespace {

std::string xml_escape(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\n': case '\t': case '\r': out += static_cast<char>(c); break;
      default:
        if (c < 0x20) out += ' ';  // not allowed in XML 1.0
        else out += static_cast<char>(c);
    }
  }
  return out;
}

std::string first_line(const std::string& s) { return s.substr(0, s.find('\n')); }

}  // namespace

void write_junit(const std::filesystem::path& file, const std::vector<TestResult>& results,
                 const std::vector<std::pair<std::string, std::string>>& load_errors) {
  std::map<std::string, std::vector<const TestResult*>> by_file;
  for (auto& r : results) by_file[r.file].push_back(&r);
  std::size_t failures = 0;
  for (auto& r : results) failures += r.ok ? 0 : 1;
  std::ostringstream x;
  x << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  x << "<testsuites name=\"charla test\" tests=\"" << results.size() << "\" failures=\"" << failures
    << "\" errors=\"" << load_errors.size() << "\">\n";
  for (auto& [name, list] : by_file) {
    std::size_t f = 0;
    double time = 0;
    for (auto* r : list) {
      f += r->ok ? 0 : 1;
      time += r->seconds;
    }
    x << "  <testsuite name=\"" << xml_escape(name) << "\" tests=\"" << list.size() << "\" failures=\"" << f
      << "\" errors=\"0\" time=\"" << time << "\">\n";
    for (auto* r : list) {
      x << "    <testcase classname=\"" << xml_escape(name) << "\" name=\"" << xml_escape(r->name) << "\" time=\""
        << r->seconds << "\"";
      if (r->ok && r->message.empty()) {
        x << "/>\n";
      } else if (r->ok) {
        x << ">\n      <system-out>" << xml_escape(r->message) << "</system-out>\n    </testcase>\n";
      } else {
        x << ">\n      <failure message=\"" << xml_escape(first_line(r->message)) << "\">" << xml_escape(r->message)
          << "</failure>\n    </testcase>\n";
      }
    }
    x << "  </testsuite>\n";
  }
  for (auto& [name, error] : load_errors) {
    x << "  <testsuite name=\"" << xml_escape(name) << "\" tests=\"0\" failures=\"0\" errors=\"1\">\n"
      << "    <error message=\"" << xml_escape(first_line(error)) << "\">" << xml_escape(error) << "</error>\n"
      << "  </testsuite>\n";
  }
  x << "</testsuites>\n";
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out << x.str();
  out.close();
  if (!out) throw std::runtime_error("cannot write the JUnit file " + file.string());
}

}  // namespace charla::flowtest
