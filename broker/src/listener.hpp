#pragma once

// A configured listener at run time: its address, its TLS context (in a slot
// that a reload can swap) and its WebSocket settings.

#include <memory>
#include <string>

#include "stampede/broker/config.hpp"
#include "stampede/runtime/io.hpp"
#include "stampede/transport/tls.hpp"
#include "stampede/transport/websocket.hpp"

namespace stampede::broker {

class listener_state {
  public:
    /// Loads the TLS files of `cfg`, if any. Throws std::runtime_error naming
    /// the listener and the file OpenSSL could not use.
    explicit listener_state(listener_config cfg);

    const listener_config& config() const noexcept { return cfg_; }
    const std::string& name() const noexcept { return cfg_.name; }

    /// The TLS context for the next handshake; nullptr for a listener without TLS.
    std::shared_ptr<const transport::tls_context> tls() const noexcept {
        return tls_ ? tls_->current() : nullptr;
    }
    bool websocket() const noexcept { return cfg_.websocket.has_value(); }
    const transport::websocket_options& websocket_options() const noexcept { return ws_; }

    /// Loads the certificate files again and swaps the new context in for
    /// later handshakes (connections already open keep theirs). False, with
    /// the reason in `why`, if they cannot be used: the old context stays.
    bool reload_tls(std::string& why);

    /// "tcp", "tls", "ws" or "wss".
    std::string_view kind() const noexcept;

    /// One line for the log: name, kind, address (with the kernel's port).
    std::string describe() const;

    // Set by the broker on shard 0 (the acceptor's fiber).
    runtime::endpoint bound;
    runtime::tcp_listener* socket = nullptr;

  private:
    listener_config cfg_;
    std::unique_ptr<transport::tls_context_slot> tls_;
    transport::websocket_options ws_;
};

/// The TLS server options of a listener's `tls` block.
transport::tls_server_options tls_options_of(const listener_tls_config& tls);

}  // namespace stampede::broker
