#include "whatsapp/protocol/bounded_json.hpp"

#include <exception>
#include <vector>

namespace charla::whatsapp {
namespace {

using json = nlohmann::json;

// A SAX consumer that builds the DOM like nlohmann's own builder, except that a
// container opened at the depth limit is inserted empty and everything inside it is
// skipped.
class BoundedDomBuilder {
 public:
  BoundedDomBuilder(json& root, std::size_t max_depth) : root_(root), max_depth_(max_depth) {}

  bool null() { return add(json(nullptr)); }
  bool boolean(bool v) { return add(json(v)); }
  bool number_integer(json::number_integer_t v) { return add(json(v)); }
  bool number_unsigned(json::number_unsigned_t v) { return add(json(v)); }
  bool number_float(json::number_float_t v, const json::string_t&) { return add(json(v)); }
  bool string(json::string_t& v) { return add(json(std::move(v))); }
  bool binary(json::binary_t& v) { return add(json::binary(std::move(v))); }

  bool start_object(std::size_t) { return open(json::object()); }
  bool start_array(std::size_t) { return open(json::array()); }
  bool end_object() { return close(); }
  bool end_array() { return close(); }

  bool key(json::string_t& k) {
    if (skipping_ == 0) key_ = std::move(k);
    return true;
  }

  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& ex) {
    error_ = ex.what();
    return false;
  }

  bool truncated() const { return truncated_; }
  const std::string& error() const { return error_; }

 private:
  // Places a value in the innermost open container (or as the root) and returns it.
  json* place(json&& v) {
    if (open_.empty()) {
      root_ = std::move(v);
      return &root_;
    }
    json& parent = *open_.back();
    if (parent.is_array()) {
      parent.push_back(std::move(v));
      return &parent.back();
    }
    // Duplicate keys: the last one wins, as with nlohmann's default parser.
    json& slot = parent[std::move(key_)];
    slot = std::move(v);
    return &slot;
  }

  bool add(json&& v) {
    if (skipping_ == 0) place(std::move(v));
    return true;
  }

  bool open(json&& empty_container) {
    if (skipping_ > 0) {
      ++skipping_;
      return true;
    }
    json* placed = place(std::move(empty_container));
    if (open_.size() >= max_depth_) {
      truncated_ = true;
      skipping_ = 1;  // the placed container stays empty
      return true;
    }
    // Safe to keep the pointer: nothing else is added to this container's parent
    // until the container closes, so the parent's storage does not move.
    open_.push_back(placed);
    return true;
  }

  bool close() {
    if (skipping_ > 0) {
      --skipping_;
      return true;
    }
    if (!open_.empty()) open_.pop_back();
    return true;
  }

  json& root_;
  std::size_t max_depth_;
  std::vector<json*> open_;
  std::size_t skipping_ = 0;  // >0: inside a container beyond the limit
  json::string_t key_;
  bool truncated_ = false;
  std::string error_;
};

}  // namespace

std::optional<BoundedJson> parse_bounded_json(std::string_view text, std::size_t max_depth,
                                              std::string* error) {
  BoundedJson out;
  BoundedDomBuilder builder(out.value, max_depth == 0 ? 1 : max_depth);
  bool ok = false;
  try {
    ok = json::sax_parse(text.begin(), text.end(), &builder, json::input_format_t::json,
                         /*strict=*/true, /*ignore_comments=*/false);
  } catch (const std::exception& e) {  // allocation failure; the SAX errors do not throw
    if (error) *error = e.what();
    return std::nullopt;
  }
  if (!ok) {
    if (error) *error = builder.error().empty() ? "invalid JSON" : builder.error();
    return std::nullopt;
  }
  out.truncated = builder.truncated();
  return out;
}

}  // namespace charla::whatsapp
