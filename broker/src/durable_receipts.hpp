#pragma once

// The order of a session's RECEIPTs while durable operations are under way.
// A RECEIPT says its frame, and every frame before it, has been processed; a
// persistent SEND is processed only once the journal has stored it. So while
// a durable operation of this session is pending, every later RECEIPT waits
// behind it, and receipts always leave in the order their frames came.

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <vector>

namespace stampede::broker {

class receipt_order {
  public:
    /// Nothing is pending: a RECEIPT may go at once.
    bool idle() const noexcept { return entries_.empty(); }
    /// Durable operations not yet done.
    std::size_t pending() const noexcept { return pending_; }

    /// A durable operation (token) has started.
    void expect(std::uint64_t token);

    /// Holds RECEIPT `receipt_id` behind what is pending. Only when !idle().
    void hold(std::string receipt_id);

    /// What done() found.
    struct outcome {
        std::vector<std::string> due;  ///< RECEIPTs to send now, in order
        std::optional<std::string>
            failed_for;  ///< on failure: the receipt it concerned ("" if none)
    };

    /// Operation `token` is done (`failed`: not stored). Unknown tokens are
    /// ignored.
    outcome done(std::uint64_t token, bool failed);

  private:
    struct entry {
        std::uint64_t token = 0;  ///< 0: a held RECEIPT
        std::string receipt_id;
        bool done = false;
    };
    std::deque<entry> entries_;
    std::size_t pending_ = 0;
};

}  // namespace stampede::broker
