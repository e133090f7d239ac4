#include "net/h2_client.hpp"

#include <openssl/ssl.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdlib>

namespace charla::net {

namespace asio = boost::asio;

namespace {

bool starts_with_nocase(const std::string& s, std::string_view prefix) {
  return s.size() >= prefix.size() && std::equal(prefix.begin(), prefix.end(), s.begin(), [](char a, char b) {
           return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
         });
}

std::string upper(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return s;
}

// curl honours these for https:// URLs; this client speaks to the origin directly, so it
// leaves such requests to curl.
bool https_proxy_configured() {
  for (const char* name : {"https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"})
    if (const char* v = std::getenv(name); v && *v) return true;
  return false;
}

bool valid_method(const std::string& m) {
  return !m.empty() && std::all_of(m.begin(), m.end(), [](unsigned char c) { return std::isupper(c) || c == '-' || c == '_'; });
}

}  // namespace

H2Target parse_h2_target(const std::string& url) {
  H2Target t;
  t.tls = starts_with_nocase(url, "https://");
  const std::string_view scheme = t.tls ? "https://" : "http://";
  if (!starts_with_nocase(url, scheme)) {
    t.error = "not an http:// or https:// URL: '" + url + "'";
    return t;
  }
  std::string_view rest(url);
  rest.remove_prefix(scheme.size());
  rest = rest.substr(0, rest.find('#'));
  const auto path_at = rest.find_first_of("/?");
  std::string_view authority = rest.substr(0, path_at);
  std::string_view path = path_at == std::string_view::npos ? std::string_view{} : rest.substr(path_at);
  if (authority.empty() || authority.find('@') != std::string_view::npos ||
      authority.find_first_of(" \t\r\n") != std::string_view::npos) {
    t.error = "invalid host in URL '" + url + "'";
    return t;
  }
  std::string_view host = authority, port;
  if (authority.front() == '[') {  // [IPv6]:port
    const auto close = authority.find(']');
    if (close == std::string_view::npos) {
      t.error = "invalid host in URL '" + url + "'";
      return t;
    }
    host = authority.substr(1, close - 1);
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') {
        t.error = "invalid host in URL '" + url + "'";
        return t;
      }
      port = after.substr(1);
    }
  } else if (const auto colon = authority.rfind(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
  }
  unsigned number = t.tls ? 443 : 80;
  if (!port.empty()) {
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), number);
    if (ec != std::errc() || end != port.data() + port.size() || number == 0 || number > 65535) {
      t.error = "invalid port in URL '" + url + "'";
      return t;
    }
  }
  if (host.empty()) {
    t.error = "invalid host in URL '" + url + "'";
    return t;
  }
  t.host = std::string(host);
  t.port = std::to_string(number);
  t.authority = std::string(authority);
  t.path = path.empty() ? "/" : path.front() == '?' ? "/" + std::string(path) : std::string(path);
  return t;
}

H2Client::H2Client(asio::io_context& io, const HttpClientOptions& options, Deliver deliver, Fallback fallback)
    : io_(io), max_streams_(static_cast<std::size_t>(std::max(1L, options.max_concurrent_streams))),
      ca_file_(options.ca_file), deliver_(std::move(deliver)), fallback_(std::move(fallback)), timer_(io) {}

H2Client::~H2Client() { shutdown(); }

bool H2Client::takes(const HttpRequest& request) const {
  if (request.version == HttpVersion::h2c && starts_with_nocase(request.url, "http://")) return true;
  const bool http2 = request.version == HttpVersion::h2c || request.version == HttpVersion::http2_tls;
  if (!http2 || !starts_with_nocase(request.url, "https://") || https_proxy_configured()) return false;
  const H2Target t = parse_h2_target(request.url);
  return t.error.empty() && !http1_origins_.contains(origin_key(t));  // curl reports a bad URL
}

std::string H2Client::origin_key(const H2Target& t) {
  return (t.tls ? "https://" : "http://") + t.host + ":" + t.port;
}

// One TLS context for all connections: the trusted CAs (the system's, or ca_file) and the
// ALPN offer, "h2" first; HTTP/1.1 is offered too so a server without HTTP/2 answers
// instead of failing the handshake, and its requests go to curl.
std::shared_ptr<asio::ssl::context> H2Client::tls_context(std::string& error) {
  if (tls_) return tls_;
  try {
    auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
    ctx->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                     asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 | asio::ssl::context::no_tlsv1_1);
    if (ca_file_.empty()) ctx->set_default_verify_paths();
    else ctx->load_verify_file(ca_file_);
    ctx->set_verify_mode(asio::ssl::verify_peer);
    static const unsigned char kAlpn[] = "\x02h2\x08http/1.1";
    if (SSL_CTX_set_alpn_protos(ctx->native_handle(), kAlpn, sizeof(kAlpn) - 1) != 0) {
      error = "cannot offer HTTP/2 in TLS (ALPN)";
      return nullptr;
    }
    tls_ = std::move(ctx);
  } catch (const boost::system::system_error& e) {
    error = "cannot set up TLS" + (ca_file_.empty() ? std::string() : " with ca_file '" + ca_file_ + "'") + ": " + e.what();
  }
  return tls_;
}

void H2Client::start(std::uint64_t id, HttpRequest request, HttpClient::Callback done) {
  auto r = std::make_unique<H2Request>();
  r->id = id;
  r->done = std::move(done);
  r->started = Clock::now();
  r->deadline = r->started + std::max(request.timeout, std::chrono::milliseconds(1));
  r->max_response_bytes = request.max_response_bytes;
  if (closed_) return;

  H2Target target = parse_h2_target(request.url);
  H2RequestHead head;
  head.method = upper(request.method.empty() ? std::string("GET") : request.method);
  if (!target.error.empty()) return complete(std::move(r), "network: " + target.error);
  if (!valid_method(head.method)) return complete(std::move(r), "network: invalid method '" + request.method + "'");
  head.authority = std::move(target.authority);
  head.path = std::move(target.path);
  head.headers = std::move(request.headers);
  if (request.shared_body && !request.shared_body->empty())
    r->body = std::move(request.shared_body);
  else if (!request.shared_body && !request.body.empty())
    r->body = std::make_shared<const std::string>(std::move(request.body));  // moved, not copied
  if (head.method == "HEAD") r->body.reset();

  std::string error;
  std::shared_ptr<asio::ssl::context> tls;
  if (target.tls && !(tls = tls_context(error))) return complete(std::move(r), "network: " + error);
  for (int attempt = 0; attempt < 2; ++attempt) {  // a connection that cannot take it is retired: one more try
    std::shared_ptr<H2Connection> c = connection_for(target, tls);
    if (c->protocol_pending() && !r->fallback) {
      // Until ALPN answers, keep what curl would need (only the first requests to an origin).
      r->fallback = std::make_unique<HttpRequest>(request);
      r->fallback->method = head.method;
      r->fallback->headers = head.headers;
      r->fallback->shared_body = r->body;
      r->fallback->body.clear();
      r->fallback->version = HttpVersion::http2_tls;
    }
    error = c->submit(*r, head);
    if (error.empty()) break;
  }
  if (!error.empty()) return complete(std::move(r), "network: " + error);
  deadlines_.emplace(r->deadline, id);
  requests_.emplace(id, std::move(r));
  arm_timer();
}

std::shared_ptr<H2Connection> H2Client::connection_for(const H2Target& target,
                                                       const std::shared_ptr<asio::ssl::context>& tls) {
  const std::string origin = origin_key(target);
  auto& list = origins_[origin];
  std::size_t& known = known_limits_[origin];
  for (const auto& c : list) {
    if (c->accepts()) return c;
    if (std::size_t limit = c->server_limit()) known = limit;
  }
  list.push_back(H2Connection::open(io_, *this, target.host, target.port, max_streams_, known, tls));
  return list.back();
}

std::unique_ptr<H2Request> H2Client::take(std::uint64_t id) {
  auto it = requests_.find(id);
  if (it == requests_.end()) return nullptr;
  std::unique_ptr<H2Request> r = std::move(it->second);
  requests_.erase(it);
  deadlines_.erase({r->deadline, r->id});
  return r;
}

bool H2Client::cancel(std::uint64_t id) {
  std::unique_ptr<H2Request> r = take(id);
  if (!r) return false;
  if (r->connection) r->connection->detach(*r);
  complete(std::move(r), "cancelled");
  return true;
}

void H2Client::cancel_all() {
  auto pending = std::move(requests_);
  requests_.clear();
  deadlines_.clear();
  for (auto& [id, r] : pending) {
    if (r->connection) r->connection->detach(*r);
    complete(std::move(r), "cancelled");
  }
}

void H2Client::shutdown() {
  closed_ = true;
  timer_.cancel();
  for (auto& [origin, list] : origins_)
    for (auto& c : list) c->close();  // before the requests go: the connections point at them
  origins_.clear();
  requests_.clear();
  deadlines_.clear();
}

std::size_t H2Client::connections() const {
  std::size_t n = 0;
  for (const auto& [origin, list] : origins_) n += list.size();
  return n;
}

void H2Client::stream_finished(H2Request& r, std::string error) {
  if (std::unique_ptr<H2Request> owned = take(r.id)) complete(std::move(owned), std::move(error));
}

void H2Client::connection_closed(H2Connection& c) {
  for (auto it = origins_.begin(); it != origins_.end(); ++it) {
    auto& list = it->second;
    auto found = std::find_if(list.begin(), list.end(), [&](const auto& p) { return p.get() == &c; });
    if (found == list.end()) continue;
    if (std::size_t limit = c.server_limit()) known_limits_[it->first] = limit;
    list.erase(found);  // the connection's own handler still holds it until it returns
    if (list.empty()) origins_.erase(it);
    return;
  }
}

void H2Client::origin_without_h2(H2Connection& c) {
  for (const auto& [origin, list] : origins_)
    if (std::any_of(list.begin(), list.end(), [&](const auto& p) { return p.get() == &c; })) http1_origins_.insert(origin);
}

void H2Client::stream_fallback(H2Request& r) {
  std::unique_ptr<H2Request> owned = take(r.id);
  if (!owned) return;
  if (!owned->fallback)
    return complete(std::move(owned), "network: the server did not agree to HTTP/2 (ALPN)");  // not expected
  HttpRequest request = std::move(*owned->fallback);
  // What is left of the caller's timeout.
  request.timeout = std::max(std::chrono::ceil<std::chrono::milliseconds>(owned->deadline - Clock::now()),
                             std::chrono::milliseconds(1));
  if (!closed_) fallback_(owned->id, std::move(request), std::move(owned->done));
}

void H2Client::complete(std::unique_ptr<H2Request> r, std::string error) {
  HttpResponse response = std::move(r->response);
  response.error = std::move(error);
  if (!response.error.empty()) response.body.clear();
  response.elapsed = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - r->started);
  if (!closed_) deliver_(std::move(r->done), std::move(response));
}

void H2Client::arm_timer() {
  if (deadlines_.empty() || closed_) return;
  const Clock::time_point next = deadlines_.begin()->first;
  if (timer_armed_ && timer_at_ <= next) return;
  timer_armed_ = true;
  timer_at_ = next;
  timer_.expires_at(next);  // cancels a later wait, whose handler then does nothing
  timer_.async_wait([weak = weak_from_this()](boost::system::error_code ec) {
    if (ec == asio::error::operation_aborted) return;
    auto self = weak.lock();
    if (!self || self->closed_) return;
    self->timer_armed_ = false;
    self->on_deadlines();
  });
}

void H2Client::on_deadlines() {
  const auto now = Clock::now();
  while (!deadlines_.empty() && deadlines_.begin()->first <= now) {
    const std::uint64_t id = deadlines_.begin()->second;
    deadlines_.erase(deadlines_.begin());
    std::unique_ptr<H2Request> r = take(id);
    if (!r) continue;
    if (r->connection) r->connection->detach(*r);  // RST_STREAM: the connection stays up
    complete(std::move(r), "timeout");
  }
  arm_timer();
}

}  // namespace charla::net
