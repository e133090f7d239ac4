#include "http/server.hpp"

#include "log/log.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/url/parse.hpp>

namespace charla::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;

std::string Request::header(std::string_view name) const {
  auto it = headers.find(beast::string_view(name.data(), name.size()));
  return it == headers.end() ? std::string() : std::string(it->value());
}

struct Server::Impl : std::enable_shared_from_this<Server::Impl> {
  ServerOptions options;
  asio::io_context io;
  tcp::acceptor acceptor{io};
  std::vector<std::thread> threads;
  struct Route {
    beast_http::verb method;
    std::string path;
    bool prefix;
    Handler handler;
  };
  std::vector<Route> routes;

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
};

namespace {

// One connection: read a request, dispatch it, write the response, repeat while
// keep-alive (the shape of Beast's http_server_async example).
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, std::shared_ptr<Server::Impl> server)
      : stream_(std::move(socket)), server_(std::move(server)) {}

  void run() {
    asio::dispatch(stream_.get_executor(), beast::bind_front_handler(&Session::do_read, shared_from_this()));
  }

 private:
  void do_read() {
    parser_.emplace();
    parser_->body_limit(server_->options.body_limit);
    stream_.expires_after(server_->options.idle_timeout);
    beast_http::async_read(stream_, buffer_, *parser_, beast::bind_front_handler(&Session::on_read, shared_from_this()));
  }

  void on_read(beast::error_code ec, std::size_t) {
    if (ec == beast_http::error::end_of_stream || ec == beast::error::timeout || ec == asio::error::connection_reset)
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
    for (auto param : target->params()) req.query[std::string(param.key)] = std::string(param.value);

    bool path_known = false;
    auto* route = server_->find(req.method, req.path, path_known);
    if (!route)
      return write(path_known ? Response::json(405, R"({"error":"method not allowed"})")
                              : Response::json(404, R"({"error":"not found"})"));
    auto self = shared_from_this();
    auto executor = stream_.get_executor();
    route->handler(req, [self, executor](Response res) {
      asio::dispatch(executor, [self, res = std::move(res)]() mutable { self->write(std::move(res)); });
    });
  }

  void write(Response res) {
    auto msg = std::make_shared<beast_http::response<beast_http::string_body>>(
        static_cast<beast_http::status>(res.status), 11);
    msg->set(beast_http::field::server, "charla");
    msg->set(beast_http::field::content_type, res.content_type);
    for (auto& [k, v] : res.headers) msg->set(k, v);
    msg->body() = std::move(res.body);
    msg->keep_alive(keep_alive_);
    msg->prepare_payload();
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
  bool keep_alive_ = true;
};

}  // namespace

void Server::Impl::do_accept() {
  acceptor.async_accept(asio::make_strand(io), [self = shared_from_this()](beast::error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted || !self->acceptor.is_open()) return;
    if (!ec) std::make_shared<Session>(std::move(socket), self)->run();
    self->do_accept();
  });
}

Server::Server(ServerOptions options) : impl_(std::make_shared<Impl>()) { impl_->options = std::move(options); }

Server::~Server() { stop(); }

void Server::route(beast_http::verb method, std::string path, Handler handler) {
  bool prefix = !path.empty() && path.back() == '*';
  if (prefix) path.pop_back();
  impl_->routes.push_back({method, std::move(path), prefix, std::move(handler)});
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
  impl_->do_accept();
  for (int i = 0; i < std::max(1, o.threads); ++i) impl_->threads.emplace_back([impl = impl_] { impl->io.run(); });
  log::info("http_listening", {{"bind", o.bind}, {"port", port()}});
}

void Server::stop() {
  if (impl_->threads.empty()) return;
  asio::post(impl_->io, [impl = impl_] {
    beast::error_code ec;
    impl->acceptor.close(ec);
  });
  impl_->io.stop();
  for (auto& t : impl_->threads) t.join();
  impl_->threads.clear();
}

unsigned short Server::port() const {
  beast::error_code ec;
  auto ep = impl_->acceptor.local_endpoint(ec);
  return ec ? impl_->options.port : ep.port();
}

}  // namespace charla::http
