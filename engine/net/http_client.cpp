// HttpClient: libcurl's multi-socket API on an asio io_context, in the shape of curl's
// docs/examples/multi-uv.c:
//  - curl tells us which sockets to watch (CURLMOPT_SOCKETFUNCTION); each watched socket
//    gets a SocketWatch (attached with curl_multi_assign) wrapping the fd in a
//    tcp::socket, armed with async_wait(wait_read / wait_write);
//  - curl tells us when to wake it up (CURLMOPT_TIMERFUNCTION): a steady_timer, and a
//    timeout of 0 is posted, never run from inside the callback;
//  - after every curl_multi_socket_action the finished transfers are drained with
//    curl_multi_info_read.
// Sockets of connections are created and closed by us (OPENSOCKETFUNCTION /
// CLOSESOCKETFUNCTION), so the asio wrapper is always released before its fd is closed:
// asio never keeps a stale fd registered with epoll.
//
// HTTP/2 requests that H2Client takes (h2c to http:// URLs; h2c or http2_tls to https://
// ones) do not reach curl: it sends them on charla's own HTTP/2 connections, so a request
// in flight costs no easy handle and no per-stream curl buffers. It hands requests back
// (start_curl) when a TLS server picks HTTP/1.1.
#include "net/http_client.hpp"

#include "log/log.hpp"
#include "net/h2_client.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <curl/curl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <mutex>
#include <stdexcept>
#include <unordered_map>

namespace charla::net {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

void init_curl_once() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) throw std::runtime_error("curl_global_init failed");
  });
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

std::string upper(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return s;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n')) s.remove_suffix(1);
  return s;
}

// One socket curl asked us to watch. Owned by Impl::watches while curl wants it polled;
// queued wait handlers keep it alive after it is detached and then do nothing.
struct SocketWatch {
  SocketWatch(asio::io_context& io, curl_socket_t fd) : socket(io), fd(fd) {}
  tcp::socket socket;
  curl_socket_t fd;
  int wanted = 0;  // CURL_POLL_IN / CURL_POLL_OUT bits
  bool read_pending = false;
  bool write_pending = false;
  bool detached = false;
};

struct Transfer {
  ~Transfer() {
    if (easy) curl_easy_cleanup(easy);
    if (header_list) curl_slist_free_all(header_list);
  }
  std::uint64_t id = 0;
  CURL* easy = nullptr;
  curl_slist* header_list = nullptr;
  HttpRequest request;
  HttpResponse response;
  HttpClient::Callback done;
  Clock::time_point started;
  bool too_large = false;
  char error_buffer[CURL_ERROR_SIZE] = {};
};

size_t on_body(char* data, size_t size, size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  size_t n = size * count;
  if (t->response.body.size() + n > t->request.max_response_bytes) {
    t->too_large = true;
    return 0;  // curl aborts the transfer with CURLE_WRITE_ERROR
  }
  t->response.body.append(data, n);
  return n;
}

size_t on_header(char* data, size_t size, size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  size_t n = size * count;
  std::string_view line(data, n);
  if (line.starts_with("HTTP/")) {  // a new response (after 100-continue or a proxy's): start over
    t->response.headers.clear();
    return n;
  }
  auto colon = line.find(':');
  if (colon == std::string_view::npos || colon == 0) return n;
  std::string name = lower(std::string(trim(line.substr(0, colon))));
  std::string value(trim(line.substr(colon + 1)));
  auto [it, inserted] = t->response.headers.emplace(std::move(name), value);
  if (!inserted) it->second += ", " + value;
  return n;
}

bool valid_method(const std::string& m) {
  return !m.empty() && std::all_of(m.begin(), m.end(), [](unsigned char c) { return std::isupper(c) || c == '-' || c == '_'; });
}

}  // namespace

struct HttpClient::Impl : std::enable_shared_from_this<Impl> {
  Impl(asio::io_context& io, HttpClientOptions options)
      : io(io), timer(io), options(options),
        h2(std::make_shared<H2Client>(
            io, options, [this](Callback done, HttpResponse response) { deliver(std::move(done), std::move(response)); },
            [this](std::uint64_t id, HttpRequest request, Callback done) {
              start_curl(id, std::move(request), std::move(done));
            })) {
    init_curl_once();
    multi = curl_multi_init();
    if (!multi) throw std::runtime_error("curl_multi_init failed");
    curl_multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, &Impl::on_socket);
    curl_multi_setopt(multi, CURLMOPT_SOCKETDATA, this);
    curl_multi_setopt(multi, CURLMOPT_TIMERFUNCTION, &Impl::on_timer);
    curl_multi_setopt(multi, CURLMOPT_TIMERDATA, this);
    curl_multi_setopt(multi, CURLMOPT_MAX_CONCURRENT_STREAMS, std::max(1L, options.max_concurrent_streams));
    apply_limits();
  }

  void apply_limits() {
    const long host = std::max(0L, options.max_host_connections);
    curl_multi_setopt(multi, CURLMOPT_MAX_HOST_CONNECTIONS, host);
    curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, std::max(options.max_cached_connections, host));
  }
  ~Impl() { shutdown(); }

  std::uint64_t start(HttpRequest request, Callback done);
  void start_curl(std::uint64_t id, HttpRequest request, Callback done);
  void cancel(std::uint64_t id);
  void cancel_all();
  void shutdown();

 private:
  std::string configure(Transfer& t);
  void complete(std::unique_ptr<Transfer> t, std::string error);
  void deliver(Callback done, HttpResponse response);
  void on_transfer_done(CURL* easy, CURLcode result);
  void drain();
  void socket_action(curl_socket_t fd, int flags);
  void arm(const std::shared_ptr<SocketWatch>& w);
  void on_ready(const std::shared_ptr<SocketWatch>& w, int flag);
  void detach(curl_socket_t fd);

  static int on_socket(CURL* easy, curl_socket_t fd, int what, void* self, void* socketp);
  static int on_timer(CURLM* multi, long timeout_ms, void* self);
  static curl_socket_t open_socket(void* self, curlsocktype purpose, curl_sockaddr* address);
  static int close_socket(void* self, curl_socket_t fd);

 public:
  asio::io_context& io;
  CURLM* multi = nullptr;
  asio::steady_timer timer;
  HttpClientOptions options;
  std::shared_ptr<H2Client> h2;  // HTTP/2 requests it takes (H2Client::takes)
  bool timeout_posted = false;
  bool closed = false;
  std::uint64_t next_id = 1;
  std::map<std::uint64_t, std::unique_ptr<Transfer>> transfers;
  std::unordered_map<curl_socket_t, std::shared_ptr<SocketWatch>> watches;
};

std::string HttpClient::Impl::configure(Transfer& t) {
  t.easy = curl_easy_init();
  if (!t.easy) return "curl_easy_init failed";
  CURL* e = t.easy;
  const HttpRequest& r = t.request;
  std::string method = upper(r.method.empty() ? std::string("GET") : r.method);
  if (!valid_method(method)) return "invalid method '" + r.method + "'";
  auto timeout_ms = std::max<long long>(1, r.timeout.count());

  curl_easy_setopt(e, CURLOPT_URL, r.url.c_str());
  curl_easy_setopt(e, CURLOPT_PRIVATE, &t);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t.error_buffer);
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout_ms));
  curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");  // whatever curl can decode; the cap applies decoded
  curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, static_cast<curl_off_t>(r.max_response_bytes));
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &on_body);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, &t);
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, &on_header);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, &t);
  curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, &Impl::open_socket);
  curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, &t);
  curl_easy_setopt(e, CURLOPT_CLOSESOCKETFUNCTION, &Impl::close_socket);
  curl_easy_setopt(e, CURLOPT_CLOSESOCKETDATA, this);
  if (r.receive_buffer_bytes > 0) curl_easy_setopt(e, CURLOPT_BUFFERSIZE, static_cast<long>(r.receive_buffer_bytes));
  if (r.upload_buffer_bytes > 0) curl_easy_setopt(e, CURLOPT_UPLOAD_BUFFERSIZE, static_cast<long>(r.upload_buffer_bytes));
  if (!options.ca_file.empty()) curl_easy_setopt(e, CURLOPT_CAINFO, options.ca_file.c_str());
  switch (r.version) {
    case HttpVersion::any:
      break;
    case HttpVersion::http1_1:
      curl_easy_setopt(e, CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_1_1));
      break;
    case HttpVersion::http2_tls:
    case HttpVersion::h2c:  // only to a URL that is not http:// (H2Client takes those): TLS's ALPN decides
      curl_easy_setopt(e, CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_2TLS));
      curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L);
      break;
  }

  const std::string& body = r.shared_body ? *r.shared_body : r.body;
  if (method == "GET" && body.empty()) {
    curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
  } else if (method == "HEAD") {
    curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
  } else {
    if (method != "POST") curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method.c_str());
    if (method == "POST" || !body.empty()) {
      // t.request holds the body as long as the easy handle lives, so no copy is needed.
      curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
      curl_easy_setopt(e, CURLOPT_POSTFIELDS, body.data());
    }
  }

  t.header_list = curl_slist_append(t.header_list, "Expect:");  // no 100-continue round trip
  for (const auto& [name, value] : r.headers) {
    // "Name;" is curl's way to send a header with an empty value.
    std::string line = value.empty() ? name + ";" : name + ": " + value;
    t.header_list = curl_slist_append(t.header_list, line.c_str());
  }
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, t.header_list);
  // header_list is curl's copy; this one would only add to the memory of a request that
  // waits (an LLM call is in flight for seconds).
  t.request.headers = {};
  return {};
}

std::uint64_t HttpClient::Impl::start(HttpRequest request, Callback done) {
  const std::uint64_t id = next_id++;
  if (h2->takes(request)) h2->start(id, std::move(request), std::move(done));
  else start_curl(id, std::move(request), std::move(done));
  return id;
}

void HttpClient::Impl::start_curl(std::uint64_t id, HttpRequest request, Callback done) {
  auto t = std::make_unique<Transfer>();
  t->id = id;
  t->request = std::move(request);
  t->done = std::move(done);
  t->started = Clock::now();
  if (std::string why = configure(*t); !why.empty()) return complete(std::move(t), "network: " + why);
  // Adding the handle makes curl ask for a 0 ms timeout, which on_timer posts: the
  // transfer starts on the loop, never inside request().
  if (CURLMcode mc = curl_multi_add_handle(multi, t->easy); mc != CURLM_OK)
    return complete(std::move(t), std::string("network: ") + curl_multi_strerror(mc));
  transfers.emplace(id, std::move(t));
}

// Every callback goes through the loop and is dropped once the client is gone.
void HttpClient::Impl::complete(std::unique_ptr<Transfer> t, std::string error) {
  HttpResponse response = std::move(t->response);
  response.error = std::move(error);
  if (!response.error.empty()) response.body.clear();
  response.elapsed = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t->started);
  deliver(std::move(t->done), std::move(response));
}

void HttpClient::Impl::deliver(Callback done, HttpResponse response) {
  asio::post(io, [weak = weak_from_this(), done = std::move(done), response = std::move(response)]() mutable {
    if (auto self = weak.lock(); !self || self->closed) return;
    done(std::move(response));
  });
}

void HttpClient::Impl::on_transfer_done(CURL* easy, CURLcode result) {
  Transfer* raw = nullptr;
  curl_easy_getinfo(easy, CURLINFO_PRIVATE, &raw);
  auto it = raw ? transfers.find(raw->id) : transfers.end();
  if (it == transfers.end()) return;
  std::unique_ptr<Transfer> t = std::move(it->second);
  transfers.erase(it);
  curl_multi_remove_handle(multi, easy);
  curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &t->response.status);

  std::string error;
  if (result == CURLE_OK) {
  } else if (t->too_large || result == CURLE_FILESIZE_EXCEEDED) {
    error = "response_too_large";
  } else if (result == CURLE_OPERATION_TIMEDOUT) {
    error = "timeout";
  } else if (result == CURLE_COULDNT_CONNECT || result == CURLE_COULDNT_RESOLVE_HOST ||
             result == CURLE_COULDNT_RESOLVE_PROXY) {
    error = "connect";
  } else {
    error = std::string("network: ") + (t->error_buffer[0] ? t->error_buffer : curl_easy_strerror(result));
  }
  complete(std::move(t), std::move(error));
}

void HttpClient::Impl::drain() {
  int left = 0;
  while (CURLMsg* m = curl_multi_info_read(multi, &left)) {
    if (m->msg != CURLMSG_DONE) continue;
    CURL* easy = m->easy_handle;  // m is invalid once the handle is removed
    CURLcode result = m->data.result;
    on_transfer_done(easy, result);
  }
}

void HttpClient::Impl::socket_action(curl_socket_t fd, int flags) {
  int running = 0;
  if (CURLMcode mc = curl_multi_socket_action(multi, fd, flags, &running); mc != CURLM_OK)
    log::error("http_client.socket_action", {{"error", curl_multi_strerror(mc)}});
  drain();
}

void HttpClient::Impl::arm(const std::shared_ptr<SocketWatch>& w) {
  auto weak = weak_from_this();
  if ((w->wanted & CURL_POLL_IN) && !w->read_pending) {
    w->read_pending = true;
    w->socket.async_wait(tcp::socket::wait_read, [weak, w](boost::system::error_code ec) {
      w->read_pending = false;
      auto self = weak.lock();
      if (ec || w->detached || !self || self->closed) return;
      self->on_ready(w, CURL_CSELECT_IN);
    });
  }
  if ((w->wanted & CURL_POLL_OUT) && !w->write_pending) {
    w->write_pending = true;
    w->socket.async_wait(tcp::socket::wait_write, [weak, w](boost::system::error_code ec) {
      w->write_pending = false;
      auto self = weak.lock();
      if (ec || w->detached || !self || self->closed) return;
      self->on_ready(w, CURL_CSELECT_OUT);
    });
  }
}

void HttpClient::Impl::on_ready(const std::shared_ptr<SocketWatch>& w, int flag) {
  int poll_bit = flag == CURL_CSELECT_IN ? CURL_POLL_IN : CURL_POLL_OUT;
  if (!(w->wanted & poll_bit)) return;  // curl changed its mind since this wait was armed
  socket_action(w->fd, flag);
  if (!w->detached && !closed) arm(w);  // async_wait is one-shot
}

void HttpClient::Impl::detach(curl_socket_t fd) {
  auto it = watches.find(fd);
  if (it == watches.end()) return;
  std::shared_ptr<SocketWatch> w = std::move(it->second);
  watches.erase(it);
  w->detached = true;
  w->wanted = 0;
  boost::system::error_code ec;
  w->socket.release(ec);  // cancels its waits and deregisters the fd; curl keeps the fd
}

int HttpClient::Impl::on_socket(CURL*, curl_socket_t fd, int what, void* user, void* socketp) {
  auto* self = static_cast<Impl*>(user);
  if (what == CURL_POLL_REMOVE) {
    self->detach(fd);
    return 0;
  }
  if (self->closed) return 0;
  std::shared_ptr<SocketWatch> w;
  if (auto it = self->watches.find(fd); it != self->watches.end()) {
    w = it->second;  // normally the same object as socketp; the map is the authority
    if (socketp != w.get()) curl_multi_assign(self->multi, fd, w.get());
  } else {
    // Connection sockets (opened by open_socket) and curl's own (the threaded
    // resolver's socketpair) alike: wrap the fd for the time curl wants it watched.
    w = std::make_shared<SocketWatch>(self->io, fd);
    boost::system::error_code ec;
    w->socket.assign(tcp::v4(), fd, ec);  // the protocol only matters to calls we never make
    if (ec) {
      log::error("http_client.assign_socket", {{"fd", fd}, {"error", ec.message()}});
      return -1;
    }
    self->watches[fd] = w;
    curl_multi_assign(self->multi, fd, w.get());
  }
  w->wanted = what;
  self->arm(w);
  return 0;
}

int HttpClient::Impl::on_timer(CURLM*, long timeout_ms, void* user) {
  auto* self = static_cast<Impl*>(user);
  self->timer.cancel();
  if (timeout_ms < 0 || self->closed) return 0;
  auto weak = self->weak_from_this();
  if (timeout_ms == 0) {
    // "Call now": post rather than recurse into curl from its own callback.
    if (!self->timeout_posted) {
      self->timeout_posted = true;
      asio::post(self->io, [weak] {
        auto s = weak.lock();
        if (!s || s->closed) return;
        s->timeout_posted = false;
        s->socket_action(CURL_SOCKET_TIMEOUT, 0);
      });
    }
    return 0;
  }
  self->timer.expires_after(std::chrono::milliseconds(timeout_ms));
  self->timer.async_wait([weak](boost::system::error_code ec) {
    auto s = weak.lock();
    if (ec || !s || s->closed) return;
    s->socket_action(CURL_SOCKET_TIMEOUT, 0);
  });
  return 0;
}

curl_socket_t HttpClient::Impl::open_socket(void*, curlsocktype purpose, curl_sockaddr* address) {
  if (purpose != CURLSOCKTYPE_IPCXN) return CURL_SOCKET_BAD;
  int fd = ::socket(address->family, address->socktype | SOCK_CLOEXEC, address->protocol);
  if (fd < 0) return CURL_SOCKET_BAD;
  return fd;
}

int HttpClient::Impl::close_socket(void* user, curl_socket_t fd) {
  // curl normally sent CURL_POLL_REMOVE already; if not, release the wrapper now so
  // asio never holds an fd number that the kernel may hand out again.
  auto* self = static_cast<Impl*>(user);
  self->detach(fd);
  return ::close(fd);
}

void HttpClient::Impl::cancel(std::uint64_t id) {
  auto it = transfers.find(id);
  if (it == transfers.end()) {
    h2->cancel(id);
    return;
  }
  std::unique_ptr<Transfer> t = std::move(it->second);
  transfers.erase(it);
  curl_multi_remove_handle(multi, t->easy);  // may call on_socket / close_socket / on_timer
  complete(std::move(t), "cancelled");
}

void HttpClient::Impl::cancel_all() {
  h2->cancel_all();
  auto pending = std::move(transfers);
  transfers.clear();
  for (auto& [id, t] : pending) {
    curl_multi_remove_handle(multi, t->easy);
    complete(std::move(t), "cancelled");
  }
}

// Called from ~HttpClient (and ~Impl): drops every pending callback, including those
// already posted, and closes all connections.
void HttpClient::Impl::shutdown() {
  if (!multi) return;
  closed = true;
  h2->shutdown();
  auto pending = std::move(transfers);
  transfers.clear();
  for (auto& [id, t] : pending) curl_multi_remove_handle(multi, t->easy);
  pending.clear();
  curl_multi_cleanup(multi);  // closes cached connections through close_socket
  multi = nullptr;
  timer.cancel();
  while (!watches.empty()) detach(watches.begin()->first);
}

HttpClient::HttpClient(boost::asio::io_context& io, HttpClientOptions options)
    : impl_(std::make_shared<Impl>(io, options)) {}

HttpClient::~HttpClient() {
  impl_->shutdown();
  impl_.reset();
}

std::uint64_t HttpClient::request(HttpRequest request, Callback done) {
  return impl_->start(std::move(request), std::move(done));
}

void HttpClient::cancel(std::uint64_t id) { impl_->cancel(id); }

void HttpClient::cancel_all() { impl_->cancel_all(); }

std::size_t HttpClient::in_flight() const { return impl_->transfers.size() + impl_->h2->in_flight(); }

void HttpClient::set_max_host_connections(long limit) {
  impl_->options.max_host_connections = limit;
  if (impl_->multi) impl_->apply_limits();
}

}  // namespace charla::net
