// Plain TCP under a session: the runtime's tcp_stream, with its lent receive
// buffer held between receive() calls.

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>

#include "stampede/transport/stream.hpp"

namespace stampede::transport {

namespace {

class tcp_transport final : public stream {
  public:
    explicit tcp_transport(runtime::tcp_stream tcp) : tcp_(std::move(tcp)) {
        if (auto at = runtime::endpoint::peer_of(tcp_.native_handle())) {
            peer_.address = at->to_string();
        } else {
            peer_.address = "?";
        }
    }

    runtime::result<std::span<char>> receive(runtime::time_point deadline) override {
        input_.reset();  // the previous lend ends here
        auto data = tcp_.receive(deadline);
        if (!data) {
            return data.error();
        }
        input_ = std::move(*data);
        return input_.data();
    }

    void release_input() noexcept override { input_.reset(); }

    runtime::result<void> write_messages(std::span<iovec> parts, std::span<const std::uint32_t>,
                                         runtime::time_point deadline) override {
        if (parts.size() == 1) {
            return tcp_.write({static_cast<const char*>(parts[0].iov_base), parts[0].iov_len},
                              deadline);
        }
        return tcp_.writev(parts, deadline);
    }

    void shutdown_send(close_reason) noexcept override { tcp_.shutdown_send(); }

    void close() noexcept override {
        input_.reset();
        tcp_.close();
    }

    bool is_open() const noexcept override { return tcp_.is_open(); }
    const peer_identity& peer() const noexcept override { return peer_; }
    std::string_view kind() const noexcept override { return "tcp"; }
    int native_handle() const noexcept override { return tcp_.native_handle(); }

  private:
    runtime::tcp_stream tcp_;
    runtime::rx_buffer input_;
    peer_identity peer_;
};

}  // namespace

std::unique_ptr<stream> make_tcp_stream(runtime::tcp_stream tcp) {
    return std::make_unique<tcp_transport>(std::move(tcp));
}

runtime::result<std::size_t> set_send_buffer(int fd, std::size_t bytes) noexcept {
    const int wanted = static_cast<int>(std::min<std::size_t>(bytes, 1u << 30));
    if (::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &wanted, sizeof wanted) != 0) {
        return runtime::errno_code(errno);
    }
    int granted = 0;
    socklen_t size = sizeof granted;
    if (::getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &granted, &size) != 0) {
        return runtime::errno_code(errno);
    }
    return static_cast<std::size_t>(granted);
}

}  // namespace stampede::transport
