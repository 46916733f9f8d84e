#include "ws_link.hpp"

#include <sys/socket.h>

#include <boost/asio/io_context.hpp>
#include <boost/beast/core/buffers_range.hpp>
#include <boost/beast/websocket.hpp>
#include <cerrno>
#include <vector>

#include "clock.hpp"

namespace stampede::load {

namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace websocket = boost::beast::websocket;
namespace rt = stampede::runtime;

// Beast masks a client's payload through a buffer of this size: each one
// filled is one write. 16 KiB keeps a batch of 1 KiB frames to a few
// system calls without a large buffer per connection (10,000 idle ones).
constexpr std::size_t mask_buffer_bytes = 16 * 1024;

// Beast's stream builds a timer (for its own timeouts, unused here) on the
// executor of its lowest layer: one io_context that is never run serves them.
net::io_context& unused_io() {
    static net::io_context io;
    return io;
}

// The runtime's fiber-blocking TCP stream as a Beast SyncStream. Reads hand
// out the lent receive buffer piece by piece; a write first tries the socket
// without waiting (as connection::write_all does), then lets the runtime
// write the rest, counting that wait as the publisher being held back.
class fiber_sync_stream {
  public:
    using executor_type = net::any_io_executor;

    explicit fiber_sync_stream(rt::tcp_stream& tcp) : tcp_(&tcp) {}

    executor_type get_executor() noexcept { return unused_io().get_executor(); }
    rt::tcp_stream& tcp() noexcept { return *tcp_; }
    void set_deadline(rt::time_point d) noexcept { deadline_ = d; }
    void set_blocked_counter(std::int64_t* c) noexcept { blocked_ns_ = c; }

    template <class Buffers>
    std::size_t read_some(const Buffers& buffers, boost::system::error_code& ec) {
        ec = {};
        if (offset_ == input_.size()) {
            input_.reset();
            offset_ = 0;
            auto got = tcp_->receive(deadline_);
            if (!got) {
                ec = got.error() == rt::errc::end_of_stream ? net::error::eof : got.error();
                return 0;
            }
            input_ = std::move(*got);
        }
        const std::size_t n = net::buffer_copy(
            buffers, net::buffer(input_.data().data() + offset_, input_.size() - offset_));
        offset_ += n;
        if (offset_ == input_.size()) {
            input_.reset();  // the lent buffer goes back at once
            offset_ = 0;
        }
        return n;
    }
    template <class Buffers>
    std::size_t read_some(const Buffers& buffers) {
        boost::system::error_code ec;
        const std::size_t n = read_some(buffers, ec);
        if (ec) {
            throw boost::system::system_error(ec);
        }
        return n;
    }

    template <class Buffers>
    std::size_t write_some(const Buffers& buffers, boost::system::error_code& ec) {
        ec = {};
        iov_.clear();
        std::size_t total = 0;
        for (net::const_buffer b : beast::buffers_range_ref(buffers)) {
            iov_.push_back({const_cast<void*>(b.data()), b.size()});
            total += b.size();
        }
        msghdr msg{};
        msg.msg_iov = iov_.data();
        msg.msg_iovlen = iov_.size();
        const ssize_t n = ::sendmsg(tcp_->native_handle(), &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n == static_cast<ssize_t>(total)) {
            return total;
        }
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
            ec = boost::system::error_code(errno, boost::system::system_category());
            return 0;
        }
        skip(n > 0 ? static_cast<std::size_t>(n) : 0);
        const std::int64_t t = now_ns();
        auto written = tcp_->writev(iov_, deadline_);
        if (blocked_ns_ != nullptr) {
            *blocked_ns_ += now_ns() - t;
        }
        if (!written) {
            ec = written.error();
            return 0;
        }
        return total;
    }
    template <class Buffers>
    std::size_t write_some(const Buffers& buffers) {
        boost::system::error_code ec;
        const std::size_t n = write_some(buffers, ec);
        if (ec) {
            throw boost::system::system_error(ec);
        }
        return n;
    }

  private:
    // Drops the first `n` bytes of iov_ (what the socket took already).
    void skip(std::size_t n) {
        std::size_t i = 0;
        while (i < iov_.size() && n >= iov_[i].iov_len) {
            n -= iov_[i].iov_len;
            ++i;
        }
        iov_.erase(iov_.begin(), iov_.begin() + static_cast<std::ptrdiff_t>(i));
        if (!iov_.empty()) {
            iov_.front().iov_base = static_cast<char*>(iov_.front().iov_base) + n;
            iov_.front().iov_len -= n;
        }
    }

    rt::tcp_stream* tcp_;
    rt::rx_buffer input_;
    std::size_t offset_ = 0;
    std::vector<iovec> iov_;
    rt::time_point deadline_ = rt::no_deadline;
    std::int64_t* blocked_ns_ = nullptr;
};

// Beast's close ends the TCP side through this (found by ADL).
[[maybe_unused]] void teardown(beast::role_type, fiber_sync_stream& s,
                               boost::system::error_code& ec) {
    s.tcp().shutdown_send();
    ec = {};
}

// A close by either side is the end of the stream, as on plain TCP.
boost::system::error_code ended(const boost::system::error_code& ec) {
    if (ec == net::error::eof || ec == websocket::error::closed ||
        ec == net::error::connection_reset) {
        return rt::errc::end_of_stream;
    }
    return ec;
}

}  // namespace

struct ws_link::impl {
    explicit impl(rt::tcp_stream& tcp) : ws(tcp) {}
    websocket::stream<fiber_sync_stream> ws;
    std::string subprotocol;
};

ws_link::ws_link(std::unique_ptr<impl> p) : impl_(std::move(p)) {}
ws_link::~ws_link() = default;

std::unique_ptr<ws_link> ws_link::open(rt::tcp_stream& tcp, const std::string& host,
                                       const std::string& path, rt::time_point deadline,
                                       std::string& why) {
    auto p = std::make_unique<impl>(tcp);
    auto& ws = p->ws;
    ws.auto_fragment(false);
    ws.binary(true);
    ws.write_buffer_bytes(mask_buffer_bytes);
    ws.read_message_max(0);  // the broker bounds its frames; the driver takes them all
    ws.set_option(websocket::stream_base::decorator([](websocket::request_type& req) {
        req.set(beast::http::field::sec_websocket_protocol, "v12.stomp");
    }));
    ws.next_layer().set_deadline(deadline);
    websocket::response_type answer;
    boost::system::error_code ec;
    ws.handshake(answer, host, path, ec);
    ws.next_layer().set_deadline(rt::no_deadline);
    if (ec) {
        why = "WebSocket upgrade to " + host + path + ": " + ec.message();
        if (answer.result_int() != 0 && answer.result() != beast::http::status::switching_protocols) {
            why += " (HTTP " + std::to_string(answer.result_int()) + ")";
        }
        return nullptr;
    }
    p->subprotocol = std::string(answer[beast::http::field::sec_websocket_protocol]);
    return std::unique_ptr<ws_link>(new ws_link(std::move(p)));
}

const std::string& ws_link::subprotocol() const noexcept {
    return impl_->subprotocol;
}

rt::result<std::size_t> ws_link::read_some(std::span<char> into) {
    boost::system::error_code ec;
    const std::size_t n = impl_->ws.read_some(net::buffer(into.data(), into.size()), ec);
    if (ec) {
        return ended(ec);
    }
    return n;
}

rt::result<void> ws_link::write(std::span<const char> bytes, std::int64_t* blocked_ns) {
    auto& lower = impl_->ws.next_layer();
    lower.set_blocked_counter(blocked_ns);
    boost::system::error_code ec;
    impl_->ws.write(net::buffer(bytes.data(), bytes.size()), ec);
    lower.set_blocked_counter(nullptr);
    if (ec) {
        return ended(ec);
    }
    return {};
}

}  // namespace stampede::load
