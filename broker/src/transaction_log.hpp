#pragma once

// A connection's open transactions: the frames each holds until COMMIT, and
// the bytes they hold, charged when each SEND arrives. Pure bookkeeping.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "errc.hpp"
#include "message.hpp"
#include "stampede/protocol/frame.hpp"

namespace stampede::broker {

/// One SEND, ACK or NACK held for COMMIT.
struct transaction_frame {
    protocol::command cmd = protocol::command::send;
    std::string destination;       ///< SEND
    std::shared_ptr<message> msg;  ///< SEND
    std::uint64_t delivery = 0;    ///< ACK/NACK
    std::string ack_id;            ///< ACK/NACK: the id as the client wrote it, for errors
};

struct transaction_limits {
    std::size_t max_transactions = 16;
    std::size_t max_frames = 10'000;   ///< per transaction
    std::size_t max_bytes = 16 << 20;  ///< summed over the connection's open transactions
};

class transaction_log {
  public:
    explicit transaction_log(transaction_limits limits) noexcept : limits_(limits) {}

    /// errc::transaction_open, errc::too_many_transactions.
    [[nodiscard]] result<void> begin(std::string_view name);

    /// Adds a frame to transaction `name`, charging `bytes` (a SEND's message
    /// footprint; 0 for ACK/NACK). errc::no_such_transaction,
    /// errc::transaction_frames, errc::transaction_bytes; on the last two the
    /// transaction is aborted (its frames discarded, its bytes freed).
    [[nodiscard]] result<void> add(std::string_view name, transaction_frame frame,
                                   std::size_t bytes);

    /// Takes the frames of `name` for COMMIT and closes it. errc::no_such_transaction.
    [[nodiscard]] result<std::vector<transaction_frame>> take(std::string_view name);

    /// Discards `name`. errc::no_such_transaction.
    [[nodiscard]] result<void> abort(std::string_view name);

    void clear() noexcept;

    std::size_t open() const noexcept { return open_.size(); }
    std::size_t bytes() const noexcept { return bytes_; }
    const transaction_limits& limits() const noexcept { return limits_; }

  private:
    struct transaction {
        std::vector<transaction_frame> frames;
        std::size_t bytes = 0;
    };

    void discard(std::unordered_map<std::string, transaction>::iterator it) noexcept;

    transaction_limits limits_;
    std::unordered_map<std::string, transaction> open_;
    std::size_t bytes_ = 0;
};

}  // namespace stampede::broker
