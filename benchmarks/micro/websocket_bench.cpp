// bench_websocket: the cost of WebSocket framing on the server, ours against
// Boost.Beast's websocket::stream, with plain TCP as the yardstick.
//
//   bench_websocket [--io uring|asio] [--messages N] [--size BYTES] [--batch B]
//                   [--reps R] [--idle K]
//
// Prints one JSON document. Three server transports, each in turn per
// repetition (so the machine's noise falls on all alike):
//   tcp    the runtime's stream, what a STOMP session writes today;
//   ws     transport::websocket_accept's stream (this module);
//   beast  beast::websocket::stream over an adapter that makes the runtime's
//          fiber-blocking stream a Beast SyncStream (the suggestion).
// Phases:
//   send     the server writes N messages of BYTES in batches of B (the
//            broker's writer hands over what is queued, many frames at once);
//            a raw TCP reader on the other scheduler discards the bytes.
//            Figure: messages/s, and CPU microseconds per message.
//   receive  a raw TCP writer sends N client frames (masked, as browsers
//            must) prepared in advance; the server reads the payload.
//   idle     K connections upgraded and left idle: heap bytes per connection
//            on the server beyond plain TCP's (mallinfo2), the client side
//            being the same raw sockets for every transport.

#include <malloc.h>
#include <sys/resource.h>

#include <boost/asio/io_context.hpp>
#include <boost/beast/core/buffers_range.hpp>
#include <boost/beast/websocket.hpp>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "micro_support.hpp"
#include "stampede/runtime/io.hpp"
#include "stampede/runtime/runtime.hpp"
#include "stampede/runtime/sync.hpp"
#include "stampede/transport/stream.hpp"
#include "stampede/transport/websocket.hpp"
#include "websocket_frame.hpp"

namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace rt = stampede::runtime;
namespace tr = stampede::transport;
using namespace stampede::bench;
using namespace std::chrono_literals;

// ---- Beast over the runtime ----

// The runtime's fiber-blocking TCP stream as a Beast SyncStream. Reads hand
// out the lent receive buffer piece by piece; writes gather the buffer
// sequence into one writev. The executor only constructs Beast's (unused)
// timer: nothing runs on it.
class fiber_sync_stream {
  public:
    using executor_type = net::any_io_executor;

    fiber_sync_stream(rt::tcp_stream tcp, net::io_context& io) : tcp_(std::move(tcp)), io_(&io) {}

    executor_type get_executor() noexcept { return io_->get_executor(); }
    rt::tcp_stream& tcp() noexcept { return tcp_; }

    template <class Buffers>
    std::size_t read_some(const Buffers& buffers, boost::system::error_code& ec) {
        ec = {};
        if (offset_ == input_.size()) {
            input_.reset();
            offset_ = 0;
            auto got = tcp_.receive();
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
            input_.reset();
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
        if (auto w = tcp_.writev(iov_); !w) {
            ec = w.error();
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
    rt::tcp_stream tcp_;
    net::io_context* io_;
    rt::rx_buffer input_;
    std::size_t offset_ = 0;
    std::vector<iovec> iov_;
};

void teardown(beast::role_type, fiber_sync_stream& s, boost::system::error_code& ec) {
    s.tcp().shutdown_send();
    ec = {};
}

using beast_ws = beast::websocket::stream<fiber_sync_stream>;

std::unique_ptr<beast_ws> beast_accept(rt::tcp_stream tcp, net::io_context& io) {
    auto ws = std::make_unique<beast_ws>(std::move(tcp), io);
    ws->auto_fragment(false);
    boost::system::error_code ec;
    ws->accept(ec);
    return ec ? nullptr : std::move(ws);
}

// ---- the client side: raw sockets ----

const std::string upgrade =
    "GET /ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

// Sends the upgrade request and reads the 101's head. False on failure.
bool raw_upgrade(rt::tcp_stream& tcp) {
    if (!tcp.write(upgrade)) {
        return false;
    }
    std::string head;
    while (head.find("\r\n\r\n") == std::string::npos) {
        auto got = tcp.receive(rt::deadline_after(10s));
        if (!got) {
            return false;
        }
        head.append(got->data().data(), got->size());
    }
    return head.rfind("HTTP/1.1 101", 0) == 0;
}

// A STOMP MESSAGE frame of `size` bytes (ASCII, so it goes as text).
std::string stomp_message(std::size_t size) {
    std::string m = "MESSAGE\ndestination:/topic/bench\nmessage-id:1\nsubscription:0\n\n";
    m.resize(size - 1, 'x');
    m += '\0';
    return m;
}

enum class kind { tcp, ws, beast };
const char* name_of(kind k) { return k == kind::tcp ? "tcp" : k == kind::ws ? "ws" : "beast"; }

struct options {
    rt::io_mode io = rt::io_mode::automatic;
    std::size_t messages = 200000;
    std::size_t size = 1024;
    std::size_t batch = 32;
    int reps = 5;
    std::size_t idle = 2000;
};

// ---- send: the server writes ----

double run_send(rt::runtime& runtime, net::io_context& io, kind k, const options& o) {
    return runtime.run_on(0, [&]() -> double {
        auto listener = rt::tcp_listener::listen(rt::endpoint::loopback(0));
        const auto port = listener->local_endpoint().port();
        bool reader_done = false;
        rt::event reader_exit;
        std::uint64_t received = 0;
        // The reader on the other scheduler: connect, upgrade, discard.
        runtime.at(1).spawn([&, k] {
            auto tcp = rt::tcp_stream::connect(rt::endpoint::loopback(port));
            if (tcp && (k == kind::tcp || raw_upgrade(*tcp))) {
                std::vector<char> buffer(256 * 1024);
                while (auto n = tcp->read_some(buffer)) {
                    received += *n;
                }
            }
            runtime.at(0).spawn([&] {
                reader_done = true;
                reader_exit.notify_all();
            });
        });
        auto fd = listener->accept();
        auto tcp = rt::tcp_stream::adopt(std::move(*fd));
        const std::string message = stomp_message(o.size);
        std::vector<iovec> parts;
        std::vector<std::uint32_t> sizes(o.batch, static_cast<std::uint32_t>(o.size));
        auto refill = [&] {
            parts.assign(o.batch, iovec{const_cast<char*>(message.data()), message.size()});
        };
        const auto start = bench_clock::now();
        if (k == kind::beast) {
            auto ws = beast_accept(std::move(*tcp), io);
            for (std::size_t sent = 0; ws && sent < o.messages; ++sent) {
                // As ours does: text when the frame is UTF-8.
                ws->text(stampede::transport::ws::is_utf8(message));
                boost::system::error_code ec;
                ws->write(net::buffer(message), ec);
            }
            if (ws) {
                ws->next_layer().tcp().shutdown_send();
            }
        } else {
            std::unique_ptr<tr::stream> s = tr::make_tcp_stream(std::move(*tcp));
            if (k == kind::ws) {
                auto accepted = tr::websocket_accept(std::move(s), {}, rt::deadline_after(10s));
                s = accepted ? std::move(*accepted) : nullptr;
            }
            for (std::size_t sent = 0; s && sent < o.messages; sent += o.batch) {
                refill();
                (void)s->write_messages(parts, sizes, rt::no_deadline);
            }
            if (s) {
                s->shutdown_send(tr::close_reason::normal);
            }
        }
        while (!reader_done) {
            (void)reader_exit.wait();
        }
        const double elapsed = seconds_since(start);
        keep(received);
        listener->close();
        return static_cast<double>(o.messages) / elapsed;
    });
}

// ---- receive: the server reads ----

// N masked client frames, back to back.
std::string client_frames(const options& o) {
    const std::string message = stomp_message(o.size);
    std::string out;
    out.reserve(o.messages * (o.size + 8));
    const std::array<std::uint8_t, 4> key{0x12, 0x34, 0x56, 0x78};
    for (std::size_t i = 0; i < o.messages; ++i) {
        std::array<std::uint8_t, stampede::transport::ws::max_header_size> header{};
        const std::size_t n = stampede::transport::ws::encode_header(
            header.data(), stampede::transport::ws::opcode::text, true, message.size(), &key);
        out.append(reinterpret_cast<const char*>(header.data()), n);
        const std::size_t at = out.size();
        out += message;
        stampede::transport::ws::apply_mask(std::span<char>(out.data() + at, message.size()), key,
                                            0);
    }
    return out;
}

double run_receive(rt::runtime& runtime, net::io_context& io, kind k, const options& o,
                   const std::string& frames, const std::string& plain) {
    return runtime.run_on(0, [&]() -> double {
        auto listener = rt::tcp_listener::listen(rt::endpoint::loopback(0));
        const auto port = listener->local_endpoint().port();
        runtime.at(1).spawn([&, k] {
            auto tcp = rt::tcp_stream::connect(rt::endpoint::loopback(port));
            if (tcp && (k == kind::tcp || raw_upgrade(*tcp))) {
                (void)tcp->write(k == kind::tcp ? plain : frames);
                tcp->shutdown_send();
                std::vector<char> sink(4096);
                while (tcp->read_some(sink)) {
                }
            }
        });
        auto fd = listener->accept();
        auto tcp = rt::tcp_stream::adopt(std::move(*fd));
        std::uint64_t payload = 0;
        bench_clock::time_point start;
        if (k == kind::beast) {
            auto ws = beast_accept(std::move(*tcp), io);
            start = bench_clock::now();
            std::vector<char> buffer(64 * 1024);
            boost::system::error_code ec;
            while (ws && !ec) {
                payload += ws->read_some(net::buffer(buffer), ec);
            }
        } else {
            std::unique_ptr<tr::stream> s = tr::make_tcp_stream(std::move(*tcp));
            if (k == kind::ws) {
                auto accepted = tr::websocket_accept(std::move(s), {}, rt::deadline_after(10s));
                s = accepted ? std::move(*accepted) : nullptr;
            }
            start = bench_clock::now();
            while (s) {
                auto got = s->receive(rt::no_deadline);
                if (!got) {
                    break;
                }
                payload += got->size();
            }
        }
        const double elapsed = seconds_since(start);
        listener->close();
        return payload == o.messages * o.size ? static_cast<double>(o.messages) / elapsed : 0.0;
    });
}

// ---- idle: bytes per upgraded connection ----

double run_idle(rt::runtime& runtime, net::io_context& io, kind k, const options& o) {
    return runtime.run_on(0, [&]() -> double {
        auto listener = rt::tcp_listener::listen(rt::endpoint::loopback(0));
        const auto port = listener->local_endpoint().port();
        std::vector<rt::tcp_stream> clients;
        std::vector<std::unique_ptr<tr::stream>> ours;
        std::vector<std::unique_ptr<beast_ws>> theirs;
        clients.reserve(o.idle);
        ours.reserve(o.idle);
        theirs.reserve(o.idle);
        ::malloc_trim(0);
        const std::size_t before = mallinfo2().uordblks;
        for (std::size_t i = 0; i < o.idle; ++i) {
            auto client = rt::tcp_stream::connect(rt::endpoint::loopback(port));
            auto fd = listener->accept();
            auto tcp = rt::tcp_stream::adopt(std::move(*fd));
            if (k != kind::tcp && !client->write(upgrade)) {
                return -1.0;
            }
            if (k == kind::beast) {
                theirs.push_back(beast_accept(std::move(*tcp), io));
            } else {
                std::unique_ptr<tr::stream> s = tr::make_tcp_stream(std::move(*tcp));
                if (k == kind::ws) {
                    auto accepted =
                        tr::websocket_accept(std::move(s), {}, rt::deadline_after(10s));
                    s = accepted ? std::move(*accepted) : nullptr;
                }
                ours.push_back(std::move(s));
            }
            // Take the 101 off the client's socket: nothing is left queued.
            if (k != kind::tcp) {
                std::vector<char> sink(4096);
                (void)client->read_some(sink, rt::deadline_after(10s));
            }
            clients.push_back(std::move(*client));
        }
        const std::size_t after = mallinfo2().uordblks;
        listener->close();
        return static_cast<double>(after - before) / static_cast<double>(o.idle);
    });
}

options parse(int argc, char** argv) {
    options o;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string flag = argv[i];
        const std::string value = argv[i + 1];
        if (flag == "--io") {
            rt::parse_io_mode(value, o.io);
        } else if (flag == "--messages") {
            o.messages = std::stoul(value);
        } else if (flag == "--size") {
            o.size = std::stoul(value);
        } else if (flag == "--batch") {
            o.batch = std::stoul(value);
        } else if (flag == "--reps") {
            o.reps = std::stoi(value);
        } else if (flag == "--idle") {
            o.idle = std::stoul(value);
        } else {
            std::fprintf(stderr, "bench_websocket: unknown flag %s\n", flag.c_str());
            std::exit(2);
        }
    }
    o.messages -= o.messages % o.batch;
    return o;
}

}  // namespace

int main(int argc, char** argv) {
    const options o = parse(argc, argv);
    rlimit limit{};
    ::getrlimit(RLIMIT_NOFILE, &limit);
    limit.rlim_cur = limit.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &limit);

    rt::runtime_options ro;
    ro.schedulers = 2;
    ro.io = o.io;
    rt::runtime runtime(ro);
    runtime.start();
    net::io_context io;  // constructs Beast's timers; never run

    const std::string frames = client_frames(o);
    std::string plain;
    for (std::size_t i = 0; i < o.messages; ++i) {
        plain += stomp_message(o.size);
    }
    const kind kinds[] = {kind::tcp, kind::ws, kind::beast};
    std::map<std::string, std::vector<double>> send, send_cpu, receive, idle;
    for (int rep = 0; rep < o.reps; ++rep) {
        for (const kind k : kinds) {
            const double cpu0 = process_cpu_seconds();
            send[name_of(k)].push_back(run_send(runtime, io, k, o));
            send_cpu[name_of(k)].push_back((process_cpu_seconds() - cpu0) * 1e6 /
                                           static_cast<double>(o.messages));
            receive[name_of(k)].push_back(run_receive(runtime, io, k, o, frames, plain));
        }
        progress("rep %d/%d done", rep + 1, o.reps);
    }
    for (const kind k : kinds) {
        idle[name_of(k)].push_back(run_idle(runtime, io, k, o));
    }
    runtime.stop();

    json_writer j;
    j.open_object();
    j.field("benchmark", "bench_websocket");
    j.field("build_type", STAMPEDE_BUILD_TYPE);
    j.field("io", runtime.io_backend_name());
    j.field("messages", o.messages);
    j.field("message_bytes", o.size);
    j.field("batch", o.batch);
    j.field("reps", o.reps);
    j.open_object("send_messages_per_second");
    for (const kind k : kinds) {
        write_summary(j, name_of(k), send[name_of(k)]);
    }
    j.close_object();
    j.open_object("send_cpu_us_per_message");
    for (const kind k : kinds) {
        write_summary(j, name_of(k), send_cpu[name_of(k)]);
    }
    j.close_object();
    j.open_object("receive_messages_per_second");
    for (const kind k : kinds) {
        write_summary(j, name_of(k), receive[name_of(k)]);
    }
    j.close_object();
    const double tcp_idle = idle["tcp"].front();
    j.open_object("idle_heap_bytes_per_connection_over_tcp");
    j.field("ws", idle["ws"].front() - tcp_idle);
    j.field("beast", idle["beast"].front() - tcp_idle);
    j.close_object();
    j.open_object("ratios_of_medians");
    j.field("send_ws_over_tcp", summarize(send["ws"]).median / summarize(send["tcp"]).median);
    j.field("send_beast_over_tcp",
            summarize(send["beast"]).median / summarize(send["tcp"]).median);
    j.field("receive_ws_over_tcp",
            summarize(receive["ws"]).median / summarize(receive["tcp"]).median);
    j.field("receive_beast_over_tcp",
            summarize(receive["beast"]).median / summarize(receive["tcp"]).median);
    j.close_object();
    j.close_object();
    std::fputs(j.text().c_str(), stdout);
    return 0;
}
