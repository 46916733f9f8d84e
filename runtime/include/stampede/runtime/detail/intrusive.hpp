#pragma once

#include <cassert>
#include <cstddef>

namespace stampede::runtime::detail {

/// A singly linked FIFO over nodes that carry their own `next` pointer.
/// Not thread-safe: owned by one scheduler.
template <class T, T* T::*Next>
class intrusive_fifo {
  public:
    bool empty() const noexcept { return head_ == nullptr; }
    std::size_t size() const noexcept { return size_; }

    void push_back(T* node) noexcept {
        node->*Next = nullptr;
        if (tail_ != nullptr) {
            tail_->*Next = node;
        } else {
            head_ = node;
        }
        tail_ = node;
        ++size_;
    }

    void push_front(T* node) noexcept {
        node->*Next = head_;
        head_ = node;
        if (tail_ == nullptr) {
            tail_ = node;
        }
        ++size_;
    }

    T* pop_front() noexcept {
        T* node = head_;
        if (node != nullptr) {
            head_ = node->*Next;
            if (head_ == nullptr) {
                tail_ = nullptr;
            }
            node->*Next = nullptr;
            --size_;
        }
        return node;
    }

    T* front() const noexcept { return head_; }

  private:
    T* head_ = nullptr;
    T* tail_ = nullptr;
    std::size_t size_ = 0;
};

/// Hook for `intrusive_list`; a node may sit in one list per hook it has.
struct list_hook {
    list_hook* prev = nullptr;
    list_hook* next = nullptr;
    bool linked() const noexcept { return next != nullptr; }
};

/// A circular doubly linked list with O(1) unlink of any member.
/// Not thread-safe: owned by one scheduler.
template <class T, list_hook T::*Hook>
class intrusive_list {
  public:
    intrusive_list() noexcept { root_.prev = root_.next = &root_; }
    intrusive_list(const intrusive_list&) = delete;
    intrusive_list& operator=(const intrusive_list&) = delete;

    bool empty() const noexcept { return root_.next == &root_; }
    std::size_t size() const noexcept { return size_; }

    void push_back(T* node) noexcept {
        list_hook* h = &(node->*Hook);
        assert(!h->linked());
        h->prev = root_.prev;
        h->next = &root_;
        root_.prev->next = h;
        root_.prev = h;
        ++size_;
    }

    void erase(T* node) noexcept {
        list_hook* h = &(node->*Hook);
        assert(h->linked());
        h->prev->next = h->next;
        h->next->prev = h->prev;
        h->prev = h->next = nullptr;
        --size_;
    }

    T* front() const noexcept { return empty() ? nullptr : owner(root_.next); }

    T* pop_front() noexcept {
        T* node = front();
        if (node != nullptr) {
            erase(node);
        }
        return node;
    }

    /// Calls fn(T*) for each member; fn may unlink the member it is given.
    template <class Fn>
    void for_each(Fn&& fn) {
        list_hook* h = root_.next;
        while (h != &root_) {
            list_hook* next = h->next;
            fn(owner(h));
            h = next;
        }
    }

  private:
    static T* owner(list_hook* h) noexcept {
        // The usual container_of: the hook's offset within T is fixed.
        const auto offset = reinterpret_cast<std::size_t>(&(static_cast<T*>(nullptr)->*Hook));
        return reinterpret_cast<T*>(reinterpret_cast<char*>(h) - offset);
    }

    list_hook root_;
    std::size_t size_ = 0;
};

}  // namespace stampede::runtime::detail
