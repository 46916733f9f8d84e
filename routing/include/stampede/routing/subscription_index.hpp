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

    subscription_index() {
        nodes_.emplace_back();
        cold_.emplace_back();
    }

    /// Adds `value` under `pattern`; the same pattern may be added any number of times.
    handle add(std::string_view pattern, T value) {
        std::uint32_t node = 0;
        for_each_segment(pattern, [&](std::string_view seg) { node = child(node, seg); });
        const std::uint32_t slot = allocate_entry();
        entry& e = entries_[slot];
        e.value = std::move(value);
        e.node = node;
        e.position = static_cast<std::uint32_t>(cold_[node].entries.size());
        e.live = true;
        cold_[node].entries.push_back(slot);
        ++nodes_[node].entry_count;
        ++size_;
        return {slot, e.generation};
    }

    /// Removes the subscription `h` names; false if it was already removed. Nodes left with
    /// no subscription and no children are freed, up the trie.
    bool remove(handle h) {
        if (find(h) == nullptr) {
            return false;
        }
        entry& e = entries_[h.slot];
        std::vector<std::uint32_t>& list = cold_[e.node].entries;
        const std::uint32_t last = list.back();
        list[e.position] = last;
        entries_[last].position = e.position;
        list.pop_back();
        --nodes_[e.node].entry_count;
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
            const std::size_t seg_hash = std::hash<std::string_view>{}(seg);
            for (const std::uint32_t id : current_) {
                const node_type& n = nodes_[id];
                if (n.via_hash) {
                    enter(id, next_);  // '#' takes this segment too
                }
                if (n.star != none) {
                    enter(n.star, next_);
                }
                if (n.literal_children != 0) {
                    const std::uint32_t c = edges_.find(id, seg, seg_hash, cold_);
                    if (c != none) {
                        enter(c, next_);
                    }
                }
            }
            current_.swap(next_);
        });
        for (const std::uint32_t id : current_) {
            if (nodes_[id].entry_count == 0) {
                continue;
            }
            for (const std::uint32_t slot : cold_[id].entries) {
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

    // A node is split in two: what match() reads at every step (32 bytes), and the rest.
    struct node_type {
        std::uint32_t parent = none;
        std::uint32_t star = none;  ///< child by '*'
        std::uint32_t hash = none;  ///< child by '#' (or '>')
        std::uint32_t literal_children = 0;
        std::uint32_t entry_count = 0;
        bool via_hash = false;           ///< this node is a '#' child: it takes any segment
        mutable std::uint64_t seen = 0;  ///< match(): stamp of the last step this joined
    };
    struct cold_node {
        std::string segment;  ///< the literal segment from the parent
        std::vector<std::uint32_t> entries;
    };

    struct entry {
        T value{};
        std::uint32_t node = 0;
        std::uint32_t position = 0;  ///< index in cold_[node].entries
        std::uint32_t generation = 0;
        bool live = false;
    };

    /// Literal edges (parent, segment) -> child: open addressing with linear probing and
    /// backward-shift deletion, 16 bytes a slot, the segment itself kept in the child's
    /// cold node. Denser than std::unordered_map, which matters once the trie outgrows the
    /// caches: a lookup touches one slot and, on a hash match, the child's segment.
    class edge_table {
      public:
        std::uint32_t find(std::uint32_t parent, std::string_view seg, std::size_t seg_hash,
                           const std::vector<cold_node>& cold) const {
            if (slots_.empty()) {
                return none;
            }
            const std::uint64_t h = mix(parent, seg_hash);
            for (std::size_t i = h & mask_;; i = (i + 1) & mask_) {
                const slot& s = slots_[i];
                if (s.hash == 0) {
                    return none;
                }
                if (s.hash == h && s.parent == parent && cold[s.child].segment == seg) {
                    return s.child;
                }
            }
        }
        void insert(std::uint32_t parent, std::string_view seg, std::uint32_t child) {
            if ((count_ + 1) * 2 > slots_.size()) {
                grow();
            }
            place(slot{mix(parent, std::hash<std::string_view>{}(seg)), parent, child});
            ++count_;
        }
        void erase(std::uint32_t parent, std::uint32_t child, std::string_view seg) {
            const std::uint64_t h = mix(parent, std::hash<std::string_view>{}(seg));
            std::size_t i = h & mask_;
            while (
                !(slots_[i].parent == parent && slots_[i].child == child && slots_[i].hash == h)) {
                i = (i + 1) & mask_;
            }
            // Backward shift: pull later entries of the probe run into the hole.
            for (std::size_t j = (i + 1) & mask_; slots_[j].hash != 0; j = (j + 1) & mask_) {
                const std::size_t home = slots_[j].hash & mask_;
                if (((j - home) & mask_) >= ((j - i) & mask_)) {
                    slots_[i] = slots_[j];
                    i = j;
                }
            }
            slots_[i] = slot{};
            --count_;
        }

      private:
        struct slot {
            std::uint64_t hash = 0;  ///< 0: empty
            std::uint32_t parent = 0;
            std::uint32_t child = 0;
        };
        // splitmix64's finalizer over both inputs: linear probing needs well-spread low bits.
        static std::uint64_t mix(std::uint32_t parent, std::size_t seg_hash) {
            std::uint64_t h = seg_hash + std::uint64_t{parent} * 0x9E3779B97F4A7C15ull;
            h = (h ^ (h >> 30)) * 0xBF58476D1CE4E5B9ull;
            h = (h ^ (h >> 27)) * 0x94D049BB133111EBull;
            h ^= h >> 31;
            return h | 1;  // never 0, the empty mark
        }
        void place(slot s) {
            std::size_t i = s.hash & mask_;
            while (slots_[i].hash != 0) {
                i = (i + 1) & mask_;
            }
            slots_[i] = s;
        }
        void grow() {
            std::vector<slot> old = std::move(slots_);
            slots_.assign(old.empty() ? 16 : old.size() * 2, slot{});
            mask_ = slots_.size() - 1;
            for (const slot& s : old) {
                if (s.hash != 0) {
                    place(s);
                }
            }
        }

        std::vector<slot> slots_;
        std::size_t mask_ = 0;
        std::size_t count_ = 0;
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
            cold_[id] = cold_node{};
        } else {
            id = static_cast<std::uint32_t>(nodes_.size());
            nodes_.emplace_back();
            cold_.emplace_back();
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
        const std::uint32_t found =
            edges_.find(node, seg, std::hash<std::string_view>{}(seg), cold_);
        if (found != none) {
            return found;
        }
        const std::uint32_t id = new_node(node);
        cold_[id].segment = std::string(seg);
        edges_.insert(node, seg, id);
        ++nodes_[node].literal_children;
        return id;
    }

    /// Frees `id` and its ancestors while they hold nothing.
    void prune(std::uint32_t id) {
        while (id != 0) {
            node_type& n = nodes_[id];
            if (n.entry_count != 0 || n.star != none || n.hash != none || n.literal_children != 0) {
                return;
            }
            node_type& parent = nodes_[n.parent];
            if (parent.star == id) {
                parent.star = none;
            } else if (parent.hash == id) {
                parent.hash = none;
            } else {
                edges_.erase(n.parent, id, cold_[id].segment);
                --parent.literal_children;
            }
            const std::uint32_t up = n.parent;
            n = node_type{};
            cold_[id] = cold_node{};
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
    std::vector<cold_node> cold_;
    std::vector<std::uint32_t> free_nodes_;
    edge_table edges_;
    std::vector<entry> entries_;
    std::vector<std::uint32_t> free_entries_;
    std::size_t size_ = 0;
    mutable std::uint64_t stamp_ = 0;
    mutable std::vector<std::uint32_t> current_;
    mutable std::vector<std::uint32_t> next_;
};

}  // namespace stampede::routing
