#include "stampede/runtime/io.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>

#include "io_backend.hpp"
#include "stampede/runtime/log.hpp"
#include "stampede/runtime/runtime.hpp"

namespace stampede::runtime {

// ---- endpoint ----

result<endpoint> endpoint::parse(std::string_view host_port) {
    const auto colon = host_port.rfind(':');
    if (colon == std::string_view::npos) {
        return errc::invalid_endpoint;
    }
    std::string host(host_port.substr(0, colon));
    const std::string_view port_text = host_port.substr(colon + 1);
    unsigned port = 0;
    const auto [end, ec] =
        std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (ec != std::errc{} || end != port_text.data() + port_text.size() || port > 65535) {
        return errc::invalid_endpoint;
    }
    if (host == "localhost") {
        host = "127.0.0.1";
    }
    endpoint out;
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
        auto* v6 = reinterpret_cast<sockaddr_in6*>(&out.storage_);
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(static_cast<std::uint16_t>(port));
        if (::inet_pton(AF_INET6, host.substr(1, host.size() - 2).c_str(), &v6->sin6_addr) != 1) {
            return errc::invalid_endpoint;
        }
        out.size_ = sizeof(sockaddr_in6);
        return out;
    }
    auto* v4 = reinterpret_cast<sockaddr_in*>(&out.storage_);
    v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<std::uint16_t>(port));
    if (::inet_pton(AF_INET, host.c_str(), &v4->sin_addr) != 1) {
        return errc::invalid_endpoint;
    }
    out.size_ = sizeof(sockaddr_in);
    return out;
}

endpoint endpoint::loopback(std::uint16_t port) {
    endpoint out;
    auto* v4 = reinterpret_cast<sockaddr_in*>(&out.storage_);
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    v4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    out.size_ = sizeof(sockaddr_in);
    return out;
}

std::uint16_t endpoint::port() const noexcept {
    if (storage_.ss_family == AF_INET6) {
        return ntohs(reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_port);
    }
    return ntohs(reinterpret_cast<const sockaddr_in*>(&storage_)->sin_port);
}

std::string endpoint::to_string() const {
    char text[INET6_ADDRSTRLEN] = "?";
    if (storage_.ss_family == AF_INET6) {
        ::inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_addr, text,
                    sizeof text);
        std::string out("[");
        out.append(text).append("]:").append(std::to_string(port()));
        return out;
    }
    ::inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&storage_)->sin_addr, text,
                sizeof text);
    return std::string(text) + ":" + std::to_string(port());
}

result<endpoint> endpoint::peer_of(int fd) {
    endpoint out;
    out.size_ = sizeof out.storage_;
    if (::getpeername(fd, reinterpret_cast<sockaddr*>(&out.storage_), &out.size_) != 0) {
        return errno_code(errno);
    }
    return out;
}

result<endpoint> endpoint::local_of(int fd) {
    endpoint out;
    out.size_ = sizeof out.storage_;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&out.storage_), &out.size_) != 0) {
        return errno_code(errno);
    }
    return out;
}

// ---- unique_fd, rx_buffer ----

unique_fd& unique_fd::operator=(unique_fd&& other) noexcept {
    if (this != &other) {
        reset();
        fd_ = other.release();
    }
    return *this;
}

void unique_fd::reset() noexcept {
    if (fd_ >= 0) {
        ::close(fd_);
        fd_ = -1;
    }
}

rx_buffer& rx_buffer::operator=(rx_buffer&& other) noexcept {
    if (this != &other) {
        reset();
        source_ = std::exchange(other.source_, nullptr);
        data_ = std::exchange(other.data_, nullptr);
        size_ = std::exchange(other.size_, 0);
        token_ = other.token_;
    }
    return *this;
}

void rx_buffer::reset() noexcept {
    if (source_ != nullptr) {
        source_->give_back(data_, token_);
        source_ = nullptr;
        data_ = nullptr;
        size_ = 0;
    }
}

namespace detail {

// ---- shared backend machinery ----

void op_registry::finished(scheduler&, io_waiter& op) noexcept {
    if (op.owner_hook.linked()) {
        ops_.erase(&op);
    }
    wake_drain();
}

op_registry::inside::~inside() {
    --registry_.inside_;
    registry_.wake_drain();
}

void op_registry::wake_drain() noexcept {
    if (idle() && drain_ != nullptr) {
        this_scheduler()->wake(*drain_);
    }
}

namespace {
// Waits for the last operation of a closing stream. Ignores interrupts: the
// operations it waits for were interrupted already and are sure to complete.
class drain_waiter final : public waiter {
  public:
    void interrupt(errc) noexcept override {}
};
}  // namespace

void op_registry::interrupt_and_drain(scheduler& sched, errc why) noexcept {
    ops_.for_each([&](io_waiter* op) { sched.interrupt(*op, why); });
    while (!idle()) {
        drain_waiter w;
        drain_ = &w;
        sched.block(w);
        drain_ = nullptr;
    }
}

heap_buffer_pool::~heap_buffer_pool() {
    for (char* buffer : free_) {
        delete[] buffer;
    }
}

char* heap_buffer_pool::acquire() {
    if (free_.empty()) {
        return new char[size_];
    }
    char* buffer = free_.back();
    free_.pop_back();
    return buffer;
}

void heap_buffer_pool::trim() noexcept {
    for (char* buffer : free_) {
        delete[] buffer;
    }
    free_.clear();
    free_.shrink_to_fit();
}

void heap_buffer_pool::give_back(char* data, std::uint32_t) noexcept {
    if (free_.size() < keep_) {
        free_.push_back(data);
    } else {
        delete[] data;
    }
}

// ---- sockets ----

void set_nodelay(int fd) noexcept {
    const int on = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
}

result<void> set_non_blocking(int fd, bool on) noexcept {
    const int flags = ::fcntl(fd, F_GETFL);
    if (flags < 0) {
        return errno_code(errno);
    }
    const int wanted = on ? (flags | O_NONBLOCK) : (flags & ~O_NONBLOCK);
    if (wanted != flags && ::fcntl(fd, F_SETFL, wanted) != 0) {
        return errno_code(errno);
    }
    return {};
}

result<unique_fd> open_stream_socket(int family, bool non_blocking) {
    const int type = SOCK_STREAM | SOCK_CLOEXEC | (non_blocking ? SOCK_NONBLOCK : 0);
    unique_fd fd(::socket(family, type, 0));
    if (!fd.valid()) {
        return errno_code(errno);
    }
    set_nodelay(fd.get());
    return fd;
}

result<unique_fd> open_listen_socket(const endpoint& at, int backlog, bool non_blocking) {
    const int type = SOCK_STREAM | SOCK_CLOEXEC | (non_blocking ? SOCK_NONBLOCK : 0);
    unique_fd fd(::socket(at.family(), type, 0));
    if (!fd.valid()) {
        return errno_code(errno);
    }
    const int on = 1;
    ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    if (::bind(fd.get(), at.data(), at.size()) != 0 || ::listen(fd.get(), backlog) != 0) {
        return errno_code(errno);
    }
    return fd;
}

}  // namespace detail

// ---- tcp_stream ----

namespace {
detail::io_backend* backend_here() {
    scheduler* sched = this_scheduler();
    return sched != nullptr && sched->current_fiber() != nullptr ? &sched->io() : nullptr;
}
}  // namespace

tcp_stream::tcp_stream() noexcept = default;
tcp_stream::tcp_stream(std::unique_ptr<detail::stream_impl> impl) noexcept
    : impl_(std::move(impl)) {}
tcp_stream::tcp_stream(tcp_stream&&) noexcept = default;
tcp_stream& tcp_stream::operator=(tcp_stream&& other) noexcept {
    if (this != &other) {
        close();
        impl_ = std::move(other.impl_);
    }
    return *this;
}
tcp_stream::~tcp_stream() {
    close();
}

result<tcp_stream> tcp_stream::connect(const endpoint& to, time_point deadline) {
    detail::io_backend* io = backend_here();
    if (io == nullptr) {
        return errc::not_on_fiber;
    }
    auto impl = io->connect(to, deadline);
    if (!impl) {
        return impl.error();
    }
    return tcp_stream(std::move(*impl));
}

result<tcp_stream> tcp_stream::adopt(unique_fd fd) {
    detail::io_backend* io = backend_here();
    if (io == nullptr) {
        return errc::not_on_fiber;
    }
    auto impl = io->adopt(std::move(fd));
    if (!impl) {
        return impl.error();
    }
    return tcp_stream(std::move(*impl));
}

result<rx_buffer> tcp_stream::receive(time_point deadline) {
    if (!impl_) {
        return errc::stream_closed;
    }
    return impl_->receive(deadline);
}

result<std::size_t> tcp_stream::read_some(std::span<char> into, time_point deadline) {
    if (!impl_) {
        return errc::stream_closed;
    }
    return impl_->read_some(into, deadline);
}

result<void> tcp_stream::write(std::span<const char> bytes, time_point deadline) {
    if (!impl_) {
        return errc::stream_closed;
    }
    return impl_->write(bytes, deadline);
}

result<void> tcp_stream::writev(std::span<iovec> parts, time_point deadline) {
    if (!impl_) {
        return errc::stream_closed;
    }
    return impl_->writev(parts, deadline);
}

void tcp_stream::shutdown_send() noexcept {
    if (impl_) {
        impl_->shutdown_send();
    }
}

// The implementation leaves the handle before it closes: a close can block
// (draining operations), and meanwhile another fiber may close or destroy
// this handle; it then finds nothing to do, and the closer alone frees it.
void tcp_stream::close() noexcept {
    if (auto impl = std::move(impl_)) {
        impl->close();
    }
}

bool tcp_stream::is_open() const noexcept {
    return impl_ && impl_->is_open();
}
int tcp_stream::native_handle() const noexcept {
    return impl_ ? impl_->fd() : -1;
}

// ---- tcp_listener ----

tcp_listener::tcp_listener() noexcept = default;
tcp_listener::tcp_listener(std::unique_ptr<detail::listener_impl> impl) noexcept
    : impl_(std::move(impl)) {}
tcp_listener::tcp_listener(tcp_listener&&) noexcept = default;
tcp_listener& tcp_listener::operator=(tcp_listener&& other) noexcept {
    if (this != &other) {
        close();
        impl_ = std::move(other.impl_);
    }
    return *this;
}
tcp_listener::~tcp_listener() {
    close();
}

result<tcp_listener> tcp_listener::listen(const endpoint& at, int backlog) {
    detail::io_backend* io = backend_here();
    if (io == nullptr) {
        return errc::not_on_fiber;
    }
    auto impl = io->listen(at, backlog);
    if (!impl) {
        return impl.error();
    }
    return tcp_listener(std::move(*impl));
}

result<unique_fd> tcp_listener::accept(time_point deadline) {
    if (!impl_) {
        return errc::stream_closed;
    }
    return impl_->accept(deadline);
}

endpoint tcp_listener::local_endpoint() const {
    return impl_ ? impl_->local_endpoint() : endpoint{};
}

// As tcp_stream::close: the closer owns the implementation while it closes.
void tcp_listener::close() noexcept {
    if (auto impl = std::move(impl_)) {
        impl->close();
    }
}

bool tcp_listener::is_open() const noexcept {
    return impl_ && impl_->is_open();
}

receive_buffer_stats local_receive_buffer_stats() noexcept {
    scheduler* sched = this_scheduler();
    return sched != nullptr ? sched->io().buffer_stats() : receive_buffer_stats{};
}

// ---- serve ----

result<void> serve(tcp_listener& listener, runtime& rt, connection_handler handler,
                   fiber_options options) {
    auto shared_handler = std::make_shared<connection_handler>(std::move(handler));
    unsigned next = 0;
    for (;;) {
        auto fd = listener.accept();
        if (!fd) {
            const auto ec = fd.error();
            if (ec == errc::shutdown || ec == errc::stream_closed) {
                return ec;
            }
            // EMFILE and friends: say so, pause, keep serving what is connected.
            log::warn("accept failed: ", ec.message());
            if (auto slept = this_fiber::sleep_for(std::chrono::milliseconds(100)); !slept) {
                return slept.error();
            }
            continue;
        }
        scheduler& target = rt.at(next++ % rt.size());
        target.spawn(
            [fd = std::move(*fd), shared_handler]() mutable {
                auto stream = tcp_stream::adopt(std::move(fd));
                if (!stream) {
                    log::warn("cannot adopt an accepted connection: ", stream.error().message());
                    return;
                }
                (*shared_handler)(std::move(*stream));
            },
            options);
    }
}

}  // namespace stampede::runtime
