#pragma once

#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "stampede/broker/config.hpp"
#include "stampede/runtime/io.hpp"

namespace stampede::broker {

struct broker_context;
class listener_state;

/// The STOMP broker: a runtime, its destination registry and relays, and a
/// listener whose connections become sessions.
///
/// start(), stop() and snapshot() are for the thread that owns the broker
/// (main(), a test), never a runtime thread.
class broker {
  public:
    explicit broker(config cfg);
    ~broker();
    broker(const broker&) = delete;
    broker& operator=(const broker&) = delete;

    /// Starts the runtime and listens. Throws std::runtime_error when it
    /// cannot (the address is in use, io_uring was demanded but refused...).
    void start();

    /// The address listened on, with the kernel's port if port 0 was asked:
    /// the first plain listener's (the one --listen sets), else the first one's.
    runtime::endpoint listening() const { return listening_; }

    /// Every listener's name and address, in configuration order.
    std::vector<std::pair<std::string, runtime::endpoint>> listeners() const;

    /// The admin endpoint's address, if it is serving.
    std::optional<runtime::endpoint> admin_listening() const { return admin_listening_; }

    /// The I/O backend running ("uring" or "asio").
    const std::string& io_backend() const;

    /// Stops accepting, asks every connection to close (each gets an ERROR
    /// saying the broker is shutting down, then its socket is closed once its
    /// queued frames are written, within shutdown_timeout_ms), then stops the
    /// runtime. Idempotent.
    void stop();

    /// SIGHUP: swaps in the users and permissions of the configuration that
    /// `read` returns. New logins use the new users; connected sessions keep
    /// running and their permissions follow the new file from their next
    /// frame. If `read` throws or the new users or permissions cannot be
    /// used, the old ones stay and the reason is logged. Counted in /stats
    /// (auth.reloads, auth.reload_failures). False: the reload failed.
    bool reload_auth(const std::function<config()>& read);

    /// Reads every TLS listener's certificate, key and CA files again (the
    /// admin endpoint's too) and uses them for later handshakes; connections
    /// already open keep theirs. A listener whose files cannot be used keeps
    /// its old context and the reason is logged. Counted in /stats
    /// (tls.reloads, tls.reload_failures). False: some listener failed.
    bool reload_tls();

    /// Counters of the broker, every destination and every connection, and
    /// the stack high-water marks by fiber kind, as one JSON document.
    nlohmann::json snapshot();

  private:
    void start_actors();
    void start_listeners();
    void start_admin();
    std::size_t open_connections();

    config cfg_;
    std::unique_ptr<runtime::runtime> rt_;
    std::unique_ptr<broker_context> ctx_;
    std::vector<std::unique_ptr<listener_state>> listeners_;
    runtime::endpoint listening_;
    std::optional<runtime::endpoint> admin_listening_;
    std::unique_ptr<listener_state> admin_state_;  ///< the admin endpoint's address and TLS
    bool stopped_ = false;
};

}  // namespace stampede::broker
