#include "stampede/runtime/timer.hpp"

#include <cassert>

namespace stampede::runtime::detail {

void timer_heap::arm(timer_node& node, time_point deadline) {
    if (node.armed()) {
        disarm(node);
    }
    node.deadline = deadline;
    node.sequence = next_sequence_++;
    heap_.push_back(&node);
    node.heap_index = heap_.size() - 1;
    sift_up(node.heap_index);
}

void timer_heap::disarm(timer_node& node) noexcept {
    if (node.armed()) {
        remove_at(node.heap_index);
    }
}

std::optional<time_point> timer_heap::next_deadline() const noexcept {
    if (heap_.empty()) {
        return std::nullopt;
    }
    return heap_.front()->deadline;
}

std::size_t timer_heap::fire_expired(time_point now) {
    std::size_t fired = 0;
    while (!heap_.empty() && heap_.front()->deadline <= now) {
        timer_node* node = heap_.front();
        remove_at(0);
        ++fired;
        node->fire(*node);  // may re-arm the node or arm others
    }
    return fired;
}

bool timer_heap::before(std::size_t a, std::size_t b) const noexcept {
    const timer_node* x = heap_[a];
    const timer_node* y = heap_[b];
    return x->deadline < y->deadline || (x->deadline == y->deadline && x->sequence < y->sequence);
}

void timer_heap::place(std::size_t index, timer_node* node) noexcept {
    heap_[index] = node;
    node->heap_index = index;
}

void timer_heap::sift_up(std::size_t index) noexcept {
    while (index > 0) {
        const std::size_t parent = (index - 1) / 2;
        if (!before(index, parent)) {
            break;
        }
        timer_node* moving = heap_[index];
        place(index, heap_[parent]);
        place(parent, moving);
        index = parent;
    }
}

void timer_heap::sift_down(std::size_t index) noexcept {
    const std::size_t n = heap_.size();
    for (;;) {
        const std::size_t left = 2 * index + 1;
        const std::size_t right = left + 1;
        std::size_t smallest = index;
        if (left < n && before(left, smallest)) {
            smallest = left;
        }
        if (right < n && before(right, smallest)) {
            smallest = right;
        }
        if (smallest == index) {
            return;
        }
        timer_node* moving = heap_[index];
        place(index, heap_[smallest]);
        place(smallest, moving);
        index = smallest;
    }
}

void timer_heap::remove_at(std::size_t index) noexcept {
    assert(index < heap_.size());
    timer_node* removed = heap_[index];
    timer_node* last = heap_.back();
    heap_.pop_back();
    removed->heap_index = timer_node::not_armed;
    if (removed == last) {
        return;
    }
    place(index, last);
    sift_up(index);
    sift_down(last->heap_index);
}

}  // namespace stampede::runtime::detail
