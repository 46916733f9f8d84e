#pragma once

// Wildcard topic subscriptions: which subscriptions does a published topic name reach?
//
// Names are segments separated by '.'. In a pattern, a segment that is exactly '*' matches
// one segment, exactly '#' zero or more (RabbitMQ's topic exchange), and exactly '>' is read as
// '#' (ActiveMQ; "a.>" also matches "a", as ActiveMQ's DestinationMap does). Any other segment,
// including "a*" or an empty one, matches itself only. The empty name has no segments (as
// RabbitMQ splits routing keys): "" is matched by "#" only; "a..b" has three segments.
// Published names are literal: '*' in a published name matches a pattern's '*' or a literal
// "*" segment, never as a wildcard.
//
// The index is a trie of pattern segments. match() walks it with a set of live nodes, one
// step per segment of the name, so its cost depends on the name and on how many wildcard
// branches the trie has along it, not on how many subscriptions there are. No recursion:
// the walk and the removal loop are iterative.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace stampede::routing {

/// Calls `fn(segment)` for each '.'-separated segment of `name`; none for the empty name.
template <class Fn>
void for_each_segment(std::string_view name, Fn&& fn) {
    if (name.empty()) {
        return;
    }
    std::size_t start = 0;
    for (;;) {
        const std::size_t dot = name.find('.', start);
        if (dot == std::string_view::npos) {
            fn(name.substr(start));
            return;
        }
        fn(name.substr(start, dot - start));
        start = dot + 1;
    }
}

/// Whether `name` contains a '*', '#' or '>' segment (and so needs the wildcard index).
bool is_wildcard_pattern(std::string_view name) noexcept;

/// Whether `pattern` matches `name`, without an index (for tests and one-off checks). Linear
/// in |pattern| x |name| segments, iterative.
bool pattern_matches(std::string_view pattern, std::string_view name);

/// A set of (pattern, T) subscriptions, matched against topic names.
///
/// Not thread-safe, not even for concurrent match() calls (match() reuses scratch space):
/// one actor owns an index.
template <class T>
class subscription_index {
  public:
    /// Names one added subscription; stays valid until removed.
    struct handle {
        std::uint32_t slot = std::numeric_limits<std::uint32_t>::max();
        std::uint32_t generation = 0;
        bool operator==(const handle&) const = default;
    };

    subscription_index() { nodes_.emplace_back(); }

    /// Adds `value` under `pattern`; the same pattern may be added any number of times.
    handle add(std::string_view pattern, T value) {
        std::uint32_t node = 0;
        for_each_segment(pattern, [&](std::string_view seg) { node = child(node, seg); });
        const std::uint32_t slot = allocate_entry();
        entry& e = entries_[slot];
        e.value = std::move(value);
        e.node = node;
        e.position = static_cast<std::uint32_t>(nodes_[node].entries.size());
        e.live = true;
        nodes_[node].entries.push_back(slot);
        ++size_;
        return {slot, e.generation};
    }

    /// Removes the subscription `h` names; false if it was already removed. Nodes left with
    /// no subscription and no children are freed, up the trie.
    bool remove(handle h) {
        if (h.slot >= entries_.size() || !entries_[h.slot].live ||
            entries_[h.slot].generation != h.generation) {
            return false;
        }
        entry& e = entries_[h.slot];
        node_type& n = nodes_[e.node];
        const std::uint32_t last = n.entries.back();
        n.entries[e.position] = last;
        entries_[last].position = e.position;
        n.entries.pop_back();
        const std::uint32_t node = e.node;
        e.live = false;
        e.value = T{};
        ++e.generation;
        free_entries_.push_back(h.slot);
        --size_;
        prune(node);
        return true;
    }

    /// The value of a live subscription, or nullptr.
    const T* find(handle h) const {
        if (h.slot >= entries_.size() || !entries_[h.slot].live ||
            entries_[h.slot].generation != h.generation) {
            return nullptr;
        }
        return &entries_[h.slot].value;
    }

    /// Calls `visit(const T&)` once for every subscription whose pattern matches `name`.
    /// The index must not be changed from inside `visit`.
    template <class Visit>
    void match(std::string_view name, Visit&& visit) const {
        ++stamp_;
        current_.clear();
        enter(0, current_);
        for_each_segment(name, [&](std::string_view seg) {
            ++stamp_;
            next_.clear();
            for (const std::uint32_t id : current_) {
                const node_type& n = nodes_[id];
                if (n.via_hash) {
                    enter(id, next_);  // '#' takes this segment too
                }
                if (n.star != none) {
                    enter(n.star, next_);
                }
                if (n.literal_children != 0) {
                    const auto it = edges_.find(edge_probe{id, seg});
                    if (it != edges_.end()) {
                        enter(it->second, next_);
                    }
                }
            }
            current_.swap(next_);
        });
        for (const std::uint32_t id : current_) {
            for (const std::uint32_t slot : nodes_[id].entries) {
                visit(entries_[slot].value);
            }
        }
    }

    /// How many subscriptions the index holds.
    std::size_t size() const noexcept { return size_; }
    bool empty() const noexcept { return size_ == 0; }
    /// How many trie nodes are in use (the root included), for tests and statistics.
    std::size_t node_count() const noexcept { return nodes_.size() - free_nodes_.size(); }

  private:
    static constexpr std::uint32_t none = std::numeric_limits<std::uint32_t>::max();

    struct node_type {
        std::uint32_t parent = none;
        std::uint32_t star = none;  ///< child by '*'
        std::uint32_t hash = none;  ///< child by '#' (or '>')
        std::uint32_t literal_children = 0;
        bool via_hash = false;  ///< this node is a '#' child: it takes any segment
        bool in_use = true;
        std::string segment;  ///< the literal segment from the parent, for removal
        std::vector<std::uint32_t> entries;
        mutable std::uint64_t seen = 0;  ///< match(): stamp of the last step this joined
    };

    struct entry {
        T value{};
        std::uint32_t node = 0;
        std::uint32_t position = 0;  ///< index in nodes_[node].entries
        std::uint32_t generation = 0;
        bool live = false;
    };

    struct edge_key {
        std::uint32_t parent;
        std::string segment;
    };
    struct edge_probe {
        std::uint32_t parent;
        std::string_view segment;
    };
    struct edge_hash {
        using is_transparent = void;
        std::size_t operator()(const edge_probe& k) const noexcept {
            return std::hash<std::string_view>{}(k.segment) ^
                   (std::size_t{k.parent} * 0x9E3779B97F4A7C15ull);
        }
        std::size_t operator()(const edge_key& k) const noexcept {
            return (*this)(edge_probe{k.parent, k.segment});
        }
    };
    struct edge_equal {
        using is_transparent = void;
        template <class A, class B>
        bool operator()(const A& a, const B& b) const noexcept {
            return a.parent == b.parent &&
                   std::string_view(a.segment) == std::string_view(b.segment);
        }
    };

    /// Adds `id` to `set` unless this step has it already, then follows its '#' children
    /// (zero segments taken), iteratively: "a.#.#" has a chain of them.
    void enter(std::uint32_t id, std::vector<std::uint32_t>& set) const {
        while (id != none && nodes_[id].seen != stamp_) {
            nodes_[id].seen = stamp_;
            set.push_back(id);
            id = nodes_[id].hash;
        }
    }

    std::uint32_t new_node(std::uint32_t parent) {
        std::uint32_t id = 0;
        if (!free_nodes_.empty()) {
            id = free_nodes_.back();
            free_nodes_.pop_back();
            nodes_[id] = node_type{};
        } else {
            id = static_cast<std::uint32_t>(nodes_.size());
            nodes_.emplace_back();
        }
        nodes_[id].parent = parent;
        return id;
    }

    /// The child of `node` by pattern segment `seg`, created if missing.
    std::uint32_t child(std::uint32_t node, std::string_view seg) {
        if (seg == "*") {
            if (nodes_[node].star == none) {
                const std::uint32_t id = new_node(node);
                nodes_[node].star = id;
            }
            return nodes_[node].star;
        }
        if (seg == "#" || seg == ">") {
            if (nodes_[node].hash == none) {
                const std::uint32_t id = new_node(node);
                nodes_[id].via_hash = true;
                nodes_[node].hash = id;
            }
            return nodes_[node].hash;
        }
        const auto it = edges_.find(edge_probe{node, seg});
        if (it != edges_.end()) {
            return it->second;
        }
        const std::uint32_t id = new_node(node);
        nodes_[id].segment = std::string(seg);
        edges_.emplace(edge_key{node, std::string(seg)}, id);
        ++nodes_[node].literal_children;
        return id;
    }

    /// Frees `id` and its ancestors while they hold nothing.
    void prune(std::uint32_t id) {
        while (id != 0) {
            node_type& n = nodes_[id];
            if (!n.entries.empty() || n.star != none || n.hash != none || n.literal_children != 0) {
                return;
            }
            node_type& parent = nodes_[n.parent];
            if (parent.star == id) {
                parent.star = none;
            } else if (parent.hash == id) {
                parent.hash = none;
            } else {
                edges_.erase(edges_.find(edge_probe{n.parent, n.segment}));
                --parent.literal_children;
            }
            const std::uint32_t up = n.parent;
            n = node_type{};
            n.in_use = false;
            free_nodes_.push_back(id);
            id = up;
        }
    }

    std::uint32_t allocate_entry() {
        if (!free_entries_.empty()) {
            const std::uint32_t slot = free_entries_.back();
            free_entries_.pop_back();
            return slot;
        }
        entries_.emplace_back();
        return static_cast<std::uint32_t>(entries_.size() - 1);
    }

    std::vector<node_type> nodes_;
    std::vector<std::uint32_t> free_nodes_;
    std::unordered_map<edge_key, std::uint32_t, edge_hash, edge_equal> edges_;
    std::vector<entry> entries_;
    std::vector<std::uint32_t> free_entries_;
    std::size_t size_ = 0;
    mutable std::uint64_t stamp_ = 0;
    mutable std::vector<std::uint32_t> current_;
    mutable std::vector<std::uint32_t> next_;
};

}  // namespace stampede::routing
