#include "hostile.hpp"

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <string_view>

#include "clock.hpp"
#include "stampede/runtime/scheduler.hpp"

namespace stampede::load {

namespace {

namespace rt = stampede::runtime;

constexpr double retry_seconds = 0.002;
constexpr std::size_t read_chunk = 256 * 1024;

}  // namespace

write_end raw_write(int fd, std::span<const char> bytes, std::int64_t deadline_ns,
                    std::uint64_t& written) {
    while (!bytes.empty()) {
        const ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n > 0) {
            written += static_cast<std::uint64_t>(n);
            bytes = bytes.subspan(static_cast<std::size_t>(n));
            continue;
        }
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
            return write_end::closed;
        }
        if (now_ns() >= deadline_ns) {
            return write_end::held;
        }
        if (!rt::this_fiber::sleep_for(seconds(retry_seconds))) {
            return write_end::held;
        }
    }
    return write_end::done;
}

rt::unique_fd raw_connect(const rt::endpoint& to, int rcvbuf, double timeout) {
    rt::unique_fd fd(::socket(to.data()->sa_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (!fd.valid()) {
        return fd;
    }
    if (rcvbuf > 0) {
        // Before connect(), so the window the broker sees is this small from the start.
        ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    }
    if (::connect(fd.get(), to.data(), to.size()) == 0) {
        return fd;
    }
    if (errno != EINPROGRESS) {
        return rt::unique_fd();
    }
    // Not blocking the scheduler while a full backlog makes the kernel retry SYNs.
    const std::int64_t deadline = now_ns() + static_cast<std::int64_t>(timeout * 1e9);
    for (;;) {
        pollfd p{fd.get(), POLLOUT, 0};
        if (::poll(&p, 1, 0) > 0) {
            int err = 0;
            socklen_t len = sizeof err;
            ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len);
            if (err != 0) {
                errno = err;
                return rt::unique_fd();
            }
            return fd;
        }
        if (now_ns() >= deadline || !rt::this_fiber::sleep_for(seconds(retry_seconds))) {
            errno = ETIMEDOUT;
            return rt::unique_fd();
        }
    }
}

peer_said read_what_came(int fd, double quiet_seconds, std::int64_t deadline_ns) {
    peer_said out;
    auto buf = std::make_unique<char[]>(read_chunk);
    std::string head;  // the start of the frame being read, up to its first 4 KiB
    bool in_frame = false;
    std::int64_t last = now_ns();
    while (now_ns() < deadline_ns) {
        const ssize_t n = ::recv(fd, buf.get(), read_chunk, MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
            out.closed = true;
            out.close_reason = n == 0 ? "end of stream" : std::strerror(errno);
            break;
        }
        if (n < 0) {
            if (static_cast<double>(now_ns() - last) / 1e9 > quiet_seconds) {
                break;
            }
            (void)rt::this_fiber::sleep_for(seconds(retry_seconds * 5));
            continue;
        }
        last = now_ns();
        out.bytes += static_cast<std::uint64_t>(n);
        // Frames end with NUL; look only at each frame's command and headers.
        for (const char c : std::string_view(buf.get(), static_cast<std::size_t>(n))) {
            if (c == '\0') {
                ++out.frames;
                const auto start = head.find_first_not_of("\r\n");
                const std::string_view f = start == std::string::npos
                                               ? std::string_view()
                                               : std::string_view(head).substr(start);
                if (f.starts_with("RECEIPT")) {
                    ++out.receipts;
                } else if (f.starts_with("ERROR") && !out.error) {
                    const auto m = f.find("\nmessage:");
                    out.error = m == std::string_view::npos
                                    ? std::string("(no message header)")
                                    : std::string(f.substr(m + 9, f.find('\n', m + 9) - (m + 9)));
                }
                head.clear();
                in_frame = false;
            } else if (head.size() < 4096) {
                head.push_back(c);
                in_frame = true;
            }
        }
    }
    (void)in_frame;
    return out;
}

std::string outcome_of(const std::optional<std::string>& error, bool closed) {
    if (error) {
        return closed ? "ERROR, closed" : "ERROR, left open";
    }
    return closed ? "closed without ERROR" : "still open";
}

}  // namespace stampede::load
