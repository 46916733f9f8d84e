#pragma once

#include <atomic>

namespace stampede::runtime::detail {

/// Node of `mpsc_queue`; embed it (first) in whatever is queued.
struct mpsc_node {
    std::atomic<mpsc_node*> next{nullptr};
};

/// Dmitry Vyukov's intrusive multi-producer single-consumer queue.
///
/// push() is wait-free and may be called from any thread; pop() and empty() only
/// from the single consumer (the owning scheduler). pop() can return nullptr while a
/// producer is between its two steps; empty() then says false, so the consumer
/// retries instead of sleeping on a message it has not seen yet.
class mpsc_queue {
  public:
    mpsc_queue() noexcept : head_(&stub_), tail_(&stub_) {}
    mpsc_queue(const mpsc_queue&) = delete;
    mpsc_queue& operator=(const mpsc_queue&) = delete;

    void push(mpsc_node* node) noexcept {
        node->next.store(nullptr, std::memory_order_relaxed);
        mpsc_node* prev = head_.exchange(node, std::memory_order_seq_cst);
        prev->next.store(node, std::memory_order_release);
    }

    mpsc_node* pop() noexcept {
        mpsc_node* tail = tail_;
        mpsc_node* next = tail->next.load(std::memory_order_acquire);
        if (tail == &stub_) {
            if (next == nullptr) {
                return nullptr;
            }
            tail_ = next;
            tail = next;
            next = next->next.load(std::memory_order_acquire);
        }
        if (next != nullptr) {
            tail_ = next;
            return tail;
        }
        if (tail != head_.load(std::memory_order_acquire)) {
            return nullptr;  // a producer has swapped head_ but not linked yet
        }
        push(&stub_);
        next = tail->next.load(std::memory_order_acquire);
        if (next != nullptr) {
            tail_ = next;
            return tail;
        }
        return nullptr;
    }

    /// True when nothing has been pushed that pop() has not returned.
    /// seq_cst so that it orders against the consumer's "going to sleep" store.
    bool empty() const noexcept {
        return tail_ == &stub_ && head_.load(std::memory_order_seq_cst) == &stub_;
    }

  private:
    alignas(64) std::atomic<mpsc_node*> head_;
    alignas(64) mpsc_node* tail_;
    mpsc_node stub_;
};

}  // namespace stampede::runtime::detail
