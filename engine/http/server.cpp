#include "http/server.hpp"

#include "http/auth.hpp"
#include "http/fd_limit.hpp"
#include "log/log.hpp"
#include "log/thread_name.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/url/parse.hpp>

#include <atomic>
#include <cerrno>
#include <list>
#include <mutex>

namespace charla::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;

std::string Request::header(std::string_view name) const {
  auto it = headers.find(beast::string_view(name.data(), name.size()));
  return it == headers.end() ? std::string() : std::string(it->value());
}

namespace detail {
class Session;
}

namespace {

// How long accept() pauses after failing for lack of fds or memory: long enough not to
// burn a core, short enough that /healthz gets in once a connection closes.
constexpr std::chrono::milliseconds kAcceptBackoff{50};
// Warnings about the cap or about accept failures repeat at most this often.
constexpr std::chrono::seconds kWarnEvery{60};

bool out_of_resources(const beast::error_code& ec) {
  return ec == asio::error::no_descriptors || ec == asio::error::no_buffer_space || ec == asio::error::no_memory ||
         ec == beast::error_code(ENFILE, asio::error::get_system_category());
}

// Connections an fd limit leaves room for: the rest is kept for LMDB, curl, logs.
std::size_t cap_for_fd_limit(std::size_t wanted) {
  const std::uint64_t soft = current_fd_limit();
  if (soft == 0) return wanted;  // unlimited
  const std::uint64_t reserve = std::max<std::uint64_t>(64, soft / 4);
  const std::uint64_t room = soft > reserve + 8 ? soft - reserve : 8;
  return static_cast<std::size_t>(std::min<std::uint64_t>(wanted, room));
}

}  // namespace

struct Server::Impl : std::enable_shared_from_this<Server::Impl> {
  ServerOptions options;
  asio::io_context io;
  tcp::acceptor acceptor{io};
  asio::steady_timer accept_backoff{io};
  std::vector<std::thread> threads;
  struct Route {
    beast_http::verb method;
    std::string path;
    bool prefix;
    Handler handler;
  };
  std::vector<Route> routes;
  std::map<std::string, std::string> bearer_tokens;  // path -> token

  // Every open connection, oldest first; each Session erases its own entry in its
  // destructor, so `raw` stays valid while the mutex is held (weak.lock() may still
  // fail: the session is being destroyed). Never drop a shared_ptr<Session> while
  // holding the mutex: the destructor takes it.
  struct Connection {
    detail::Session* raw;
    std::weak_ptr<detail::Session> weak;
  };
  std::mutex connections_mutex;
  std::list<Connection> connections;
  std::size_t max_connections = 0;
  std::atomic<std::uint64_t> open{0}, refused{0}, evicted{0}, accept_errors{0}, handler_errors{0};
  bool accept_failing = false;  // accept handler only (one accept outstanding at a time)
  std::atomic<std::int64_t> last_cap_warning{0};

  const Route* find(beast_http::verb method, const std::string& path, bool& path_known) const {
    path_known = false;
    for (auto& r : routes) {
      bool match = r.prefix ? path.compare(0, r.path.size(), r.path) == 0 : path == r.path;
      if (!match) continue;
      path_known = true;
      if (r.method == method) return &r;
    }
    return nullptr;
  }

  void do_accept();
  void on_accept(const beast::error_code& ec, tcp::socket socket);
  void admit(tcp::socket socket);
  bool evict_oldest_reading();
  void note_handler_error(const std::string& path, const std::string& what);
  void warn_at_cap();
  void run_thread();
};

namespace detail {

// One connection: read a request, dispatch it, write the response, repeat while
// keep-alive (the shape of Beast's http_server_async example). The headers are read
// under header_timeout, the body under idle_timeout.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, std::shared_ptr<Server::Impl> server)
      : stream_(std::move(socket)), server_(std::move(server)) {
    ++server_->open;
  }

  ~Session() {
    --server_->open;
    if (!registered_) return;
    std::lock_guard lock(server_->connections_mutex);
    server_->connections.erase(slot_);
  }

  void run() {
    {
      std::lock_guard lock(server_->connections_mutex);
      slot_ = server_->connections.insert(server_->connections.end(), {this, weak_from_this()});
      registered_ = true;
    }
    asio::dispatch(stream_.get_executor(), beast::bind_front_handler(&Session::do_read, shared_from_this()));
  }

  // True while waiting for (part of) a request: the connection may be closed for a
  // newer one without losing a response.
  bool evictable() const { return reading_.load() && !evicted_.load(); }

  // The server is stopping: close whatever the connection is doing, so its pending
  // operations complete and drop their hold on this session.
  void close_for_stop() {
    asio::post(stream_.get_executor(), [self = shared_from_this()] {
      beast::error_code ec;
      self->stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
      self->stream_.close();
    });
  }

  void evict() {
    evicted_ = true;
    asio::post(stream_.get_executor(), [self = shared_from_this()] {
      if (!self->reading_) {  // a request arrived meanwhile: let it be answered
        self->evicted_ = false;
        return;
      }
      beast::error_code ec;
      self->stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
      self->stream_.close();
    });
  }

 private:
  void do_read() {
    reading_ = true;
    parser_.emplace();
    parser_->body_limit(server_->options.body_limit);
    stream_.expires_after(server_->options.header_timeout);
    beast_http::async_read_header(stream_, buffer_, *parser_,
                                  beast::bind_front_handler(&Session::on_header, shared_from_this()));
  }

  void on_header(beast::error_code ec, std::size_t bytes) {
    if (ec || parser_->is_done()) return on_read(ec, bytes);
    stream_.expires_after(server_->options.idle_timeout);
    beast_http::async_read(stream_, buffer_, *parser_, beast::bind_front_handler(&Session::on_read, shared_from_this()));
  }

  void on_read(beast::error_code ec, std::size_t) {
    reading_ = false;
    if (ec == beast_http::error::end_of_stream || ec == beast::error::timeout || ec == asio::error::connection_reset ||
        ec == asio::error::operation_aborted)
      return close();
    if (ec == beast_http::error::body_limit) {
      keep_alive_ = false;
      return write(Response::json(413, R"({"error":"request body too large"})"));
    }
    if (ec) {
      keep_alive_ = false;
      return write(Response::json(400, R"({"error":"malformed HTTP request"})"));
    }
    auto raw = parser_->release();
    keep_alive_ = raw.keep_alive();
    Request req;
    req.method = raw.method();
    req.headers = raw.base();
    req.body = std::move(raw.body());
    auto target = boost::urls::parse_origin_form(std::string_view(raw.target().data(), raw.target().size()));
    if (!target) return write(Response::json(400, R"({"error":"malformed request target"})"));
    req.path = std::string(target->path());
    path_ = req.path;
    for (auto param : target->params()) req.query[std::string(param.key)] = std::string(param.value);

    if (auto it = server_->bearer_tokens.find(req.path);
        it != server_->bearer_tokens.end() && !bearer_matches(req.header("Authorization"), it->second)) {
      auto res = Response::json(401, R"({"error":"missing or wrong bearer token"})");
      res.headers.emplace_back("WWW-Authenticate", "Bearer");
      return write(std::move(res));
    }
    bool path_known = false;
    auto* route = server_->find(req.method, req.path, path_known);
    if (!route)
      return write(path_known ? Response::json(405, R"({"error":"method not allowed"})")
                              : Response::json(404, R"({"error":"not found"})"));
    dispatch(*route, req);
  }

  // A handler that throws gets its request answered 500 (unless it already answered);
  // one that answers twice has the second answer dropped.
  void dispatch(const Server::Impl::Route& route, Request& req) {
    auto self = shared_from_this();
    auto executor = stream_.get_executor();
    auto answered = std::make_shared<std::atomic<bool>>(false);
    Respond respond = [self, executor, answered](Response res) {
      if (answered->exchange(true)) return;
      asio::dispatch(executor, [self, res = std::move(res)]() mutable { self->write(std::move(res)); });
    };
    std::string error;
    try {
      route.handler(req, respond);
      return;
    } catch (const std::exception& e) {
      error = e.what();
    } catch (...) {
      error = "unknown exception";
    }
    server_->note_handler_error(req.path, error);
    if (answered->exchange(true)) return;
    keep_alive_ = false;
    write(Response::json(500, R"({"error":"internal error"})"));
  }

  using Message = beast_http::response<beast_http::string_body>;

  std::shared_ptr<Message> build(Response res) const {
    auto msg = std::make_shared<Message>(static_cast<beast_http::status>(res.status), 11);
    msg->set(beast_http::field::server, "charla");
    msg->set(beast_http::field::content_type, res.content_type);
    for (auto& [k, v] : res.headers) msg->set(k, v);
    msg->body() = std::move(res.body);
    msg->keep_alive(keep_alive_);
    msg->prepare_payload();
    return msg;
  }

  // Runs on the strand, often from a completion handler: a response Beast refuses
  // (e.g. a header value over 64 KiB) becomes a 500 instead of an exception.
  void write(Response res) {
    std::shared_ptr<Message> msg;
    try {
      msg = build(std::move(res));
    } catch (const std::exception& e) {
      server_->note_handler_error(path_, std::string("cannot write the response: ") + e.what());
      keep_alive_ = false;
      msg = build(Response::json(500, R"({"error":"internal error"})"));
    }
    stream_.expires_after(server_->options.idle_timeout);
    beast_http::async_write(stream_, *msg, [self = shared_from_this(), msg](beast::error_code ec, std::size_t) {
      if (ec || !self->keep_alive_) return self->close();
      self->do_read();
    });
  }

  void close() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<beast_http::request_parser<beast_http::string_body>> parser_;
  std::shared_ptr<Server::Impl> server_;
  std::string path_;  // of the request being answered, for error logs
  std::list<Server::Impl::Connection>::iterator slot_;
  bool registered_ = false;
  std::atomic<bool> reading_{false};
  std::atomic<bool> evicted_{false};
  bool keep_alive_ = true;
};

}  // namespace detail

void Server::Impl::do_accept() {
  acceptor.async_accept(asio::make_strand(io), [self = shared_from_this()](beast::error_code ec, tcp::socket socket) {
    self->on_accept(ec, std::move(socket));
  });
}

void Server::Impl::on_accept(const beast::error_code& ec, tcp::socket socket) {
  if (ec == asio::error::operation_aborted || !acceptor.is_open()) return;
  if (out_of_resources(ec)) {
    // The pending connection stays in the backlog: retrying at once would spin.
    ++accept_errors;
    if (!accept_failing) {
      accept_failing = true;
      log::error("http_accept_failing", {{"error", ec.message()}, {"open_connections", open.load()},
                                         {"retry_ms", kAcceptBackoff.count()}});
    }
    evict_oldest_reading();  // frees an fd for the next try
    accept_backoff.expires_after(kAcceptBackoff);
    accept_backoff.async_wait([self = shared_from_this()](const beast::error_code& wait_ec) {
      if (!wait_ec) self->do_accept();
    });
    return;
  }
  if (ec) {
    ++accept_errors;
    log::warn("http_accept_error", {{"error", ec.message()}});
  } else {
    if (accept_failing) {
      accept_failing = false;
      log::info("http_accept_recovered", {{"open_connections", open.load()}});
    }
    admit(std::move(socket));
  }
  do_accept();
}

void Server::Impl::admit(tcp::socket socket) {
  if (open.load() >= max_connections) {
    warn_at_cap();
    if (!evict_oldest_reading()) {
      ++refused;
      beast::error_code ec;
      socket.close(ec);
      return;
    }
  }
  std::make_shared<detail::Session>(std::move(socket), shared_from_this())->run();
}

bool Server::Impl::evict_oldest_reading() {
  std::shared_ptr<detail::Session> victim;
  {
    std::lock_guard lock(connections_mutex);
    for (auto& c : connections) {
      if (c.raw->evictable() && (victim = c.weak.lock())) break;
    }
  }
  if (!victim) return false;
  ++evicted;
  victim->evict();
  return true;
}

void Server::Impl::warn_at_cap() {
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::steady_clock::now().time_since_epoch()).count();
  auto last = last_cap_warning.load();
  if (last != 0 && now - last < kWarnEvery.count()) return;
  if (!last_cap_warning.compare_exchange_strong(last, now)) return;
  log::warn("http_connection_cap_reached",
            {{"max_connections", max_connections}, {"evicted_total", evicted.load()}, {"refused_total", refused.load()},
             {"hint", "raise http.max_connections or the fd limit, or look for idle clients"}});
}

void Server::Impl::note_handler_error(const std::string& path, const std::string& what) {
  ++handler_errors;
  log::error("http_handler_error", {{"path", path}, {"error", what}});
}

// An exception escaping a completion handler would end io_context::run and with it
// this thread's share of the serving: log it, count it, run again.
void Server::Impl::run_thread() {
  for (;;) {
    try {
      io.run();
      return;
    } catch (const std::exception& e) {
      note_handler_error("", e.what());
    } catch (...) {
      note_handler_error("", "unknown exception");
    }
  }
}

Server::Server(ServerOptions options) : impl_(std::make_shared<Impl>()) { impl_->options = std::move(options); }

Server::~Server() { stop(); }

void Server::route(beast_http::verb method, std::string path, Handler handler) {
  bool prefix = !path.empty() && path.back() == '*';
  if (prefix) path.pop_back();
  impl_->routes.push_back({method, std::move(path), prefix, std::move(handler)});
}

void Server::require_bearer(std::string path, std::string token) { impl_->bearer_tokens[std::move(path)] = std::move(token); }

// Routes are all added before start(), so reading them from a handler needs no lock.
std::vector<RouteInfo> Server::routes() const {
  std::vector<RouteInfo> out;
  for (auto& r : impl_->routes) {
    auto name = beast_http::to_string(r.method);
    out.push_back({std::string(name.data(), name.size()), r.prefix ? r.path + "*" : r.path});
  }
  return out;
}

void Server::start() {
  auto& o = impl_->options;
  beast::error_code ec;
  auto address = asio::ip::make_address(o.bind, ec);
  if (ec) throw std::runtime_error("http.bind '" + o.bind + "' is not an IP address");
  tcp::endpoint endpoint(address, o.port);
  impl_->acceptor.open(endpoint.protocol(), ec);
  if (!ec) impl_->acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) impl_->acceptor.bind(endpoint, ec);
  if (!ec) impl_->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec)
    throw std::runtime_error("cannot listen on " + o.bind + ":" + std::to_string(o.port) + ": " + ec.message());
  impl_->max_connections = std::max<std::size_t>(1, cap_for_fd_limit(std::max<std::size_t>(1, o.max_connections)));
  impl_->do_accept();
  for (int i = 0; i < std::max(1, o.threads); ++i) impl_->threads.emplace_back([impl = impl_, i] {
      log::name_this_thread("http-" + std::to_string(i));
      impl->run_thread();
    });
  log::info("http_listening", {{"bind", o.bind}, {"port", port()}, {"max_connections", impl_->max_connections},
                               {"header_timeout_ms", o.header_timeout.count()}, {"threads", std::max(1, o.threads)}});
}

void Server::stop() {
  if (impl_->threads.empty()) return;
  asio::post(impl_->io, [impl = impl_] {
    beast::error_code ec;
    impl->acceptor.close(ec);
    impl->accept_backoff.cancel();
  });
  impl_->io.stop();
  for (auto& t : impl_->threads) t.join();
  impl_->threads.clear();
  // Handlers still queued hold their sessions, and each session holds the server (and
  // so this io_context): a cycle that would outlive the Server. Close every connection
  // and run the loop once more until their operations have completed, bounded in time.
  impl_->io.restart();
  std::vector<std::shared_ptr<detail::Session>> open;
  {
    std::lock_guard lock(impl_->connections_mutex);
    for (auto& c : impl_->connections)
      if (auto session = c.weak.lock()) open.push_back(std::move(session));
  }
  for (auto& session : open) session->close_for_stop();
  open.clear();  // outside the mutex: a session's destructor takes it
  impl_->io.run_for(std::chrono::seconds(2));
}

unsigned short Server::port() const {
  beast::error_code ec;
  auto ep = impl_->acceptor.local_endpoint(ec);
  return ec ? impl_->options.port : ep.port();
}

ServerStats Server::stats() const {
  ServerStats s;
  s.open_connections = impl_->open.load();
  s.max_connections = impl_->max_connections;
  s.refused_connections = impl_->refused.load();
  s.evicted_connections = impl_->evicted.load();
  s.accept_errors = impl_->accept_errors.load();
  s.handler_errors = impl_->handler_errors.load();
  return s;
}

}  // namespace charla::http
