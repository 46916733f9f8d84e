// stampede-journal: the operator's view of a data directory, read-only (it
// refuses while a broker holds the directory).
//
//   stampede-journal list   DIR            queues, subscriptions, damage found
//   stampede-journal dump   DIR QUEUE [--limit N] [--full]
//                                          a queue's pending messages (QUEUE: name or #id)
//   stampede-journal verify DIR            exit 0 if the journal is sound, 2 if damaged
//
// A quarantined queue (its records damaged) is listed with the reason, and
// dump reads whatever of it is still readable.

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <string_view>

#include "stampede/storage/journal.hpp"

using namespace stampede::storage;

namespace {

int usage() {
    std::cerr << "usage: stampede-journal list DIR\n"
                 "       stampede-journal dump DIR QUEUE [--limit N] [--full]\n"
                 "       stampede-journal verify DIR\n";
    return 64;
}

std::string printable(std::string_view bytes, std::size_t limit) {
    std::string out;
    for (std::size_t i = 0; i < bytes.size() && i < limit; ++i) {
        const auto c = static_cast<unsigned char>(bytes[i]);
        if (c == '\n') {
            out += "\\n";
        } else if (c == '\\') {
            out += "\\\\";
        } else if (c < 0x20 || c >= 0x7f) {
            char hex[8];
            std::snprintf(hex, sizeof hex, "\\x%02x", c);
            out += hex;
        } else {
            out += static_cast<char>(c);
        }
    }
    if (bytes.size() > limit) {
        out += "... (" + std::to_string(bytes.size()) + " bytes)";
    }
    return out;
}

const char* kind_name(damage_report::kind k) {
    switch (k) {
        case damage_report::kind::torn_tail:
            return "torn tail";
        case damage_report::kind::damaged:
            return "damaged";
        case damage_report::kind::missing_segment:
            return "missing segment";
    }
    return "?";
}

void print_damage(const recovery_report& r) {
    for (const auto& d : r.damage) {
        std::cout << kind_name(d.what) << ": " << d.file << " at offset " << d.offset << ": "
                  << d.detail << "\n";
    }
    for (const auto& note : r.notes) {
        std::cout << "note: " << note << "\n";
    }
}

int list(journal& j) {
    const auto& r = j.recovery();
    std::cout << "segments " << r.segments << ", records " << r.records << ", read in "
              << r.seconds << " s\n";
    for (const auto& q : j.queues()) {
        std::cout << "queue #" << q.id << " " << (q.name.empty() ? "(name lost)" : q.name) << ": "
                  << q.messages << " pending, " << q.bytes << " bytes, ids " << q.first << ".."
                  << q.next_id;
        if (q.quarantined) {
            std::cout << ", QUARANTINED: " << q.reason;
        }
        std::cout << "\n";
    }
    for (const auto& s : j.subscriptions()) {
        std::cout << "subscription " << s.name << " on " << s.destination << " -> queue #"
                  << s.queue << (s.selector.empty() ? "" : " selector " + s.selector) << "\n";
    }
    print_damage(r);
    return 0;
}

int dump(journal& j, std::string_view which, std::size_t limit, bool full) {
    queue_id id = 0;
    for (const auto& q : j.queues()) {
        if ((which.starts_with('#') && std::to_string(q.id) == which.substr(1)) || q.name == which) {
            id = q.id;
        }
    }
    if (id == 0) {
        std::cerr << "stampede-journal: no queue " << which << "\n";
        return 1;
    }
    message_id from = 1;
    std::size_t shown = 0;
    const std::size_t body_limit = full ? std::string::npos : 200;
    while (shown < limit) {
        auto batch = j.read_now(id, from, {.max_messages = 256, .max_bytes = 4u << 20});
        if (!batch) {
            std::cerr << "stampede-journal: read failed at id " << from << ": "
                      << batch.error().message() << "\n";
            return 1;
        }
        if (batch->empty()) {
            break;
        }
        for (const auto& m : *batch) {
            if (shown++ == limit) {
                break;
            }
            std::cout << "id " << m.id << " priority " << int(m.properties.priority)
                      << " deliveries " << m.properties.deliveries << " expires "
                      << m.properties.expires_at_ms << " deliver_at " << m.properties.deliver_at_ms
                      << "\n  headers " << printable(m.headers, body_limit) << "\n  body "
                      << printable(m.body, body_limit) << "\n";
            from = m.id + 1;
        }
    }
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 3) {
        return usage();
    }
    const std::string_view command = argv[1];
    journal_options options;
    options.directory = argv[2];
    options.read_only = true;
    std::string why;
    auto opened = journal::open(options, &why);
    if (!opened) {
        std::cerr << "stampede-journal: " << (why.empty() ? opened.error().message() : why) << "\n";
        return 1;
    }
    journal& j = **opened;
    if (command == "list" && argc == 3) {
        return list(j);
    }
    if (command == "verify" && argc == 3) {
        print_damage(j.recovery());
        const bool sound = j.recovery().damage.empty();
        std::cout << (sound ? "journal is sound\n" : "journal has damage\n");
        return sound ? 0 : 2;
    }
    if (command == "dump" && argc >= 4) {
        std::size_t limit = std::string::npos;
        bool full = false;
        for (int i = 4; i < argc; ++i) {
            const std::string_view arg = argv[i];
            if (arg == "--limit" && i + 1 < argc) {
                limit = std::strtoull(argv[++i], nullptr, 10);
            } else if (arg == "--full") {
                full = true;
            } else {
                return usage();
            }
        }
        return dump(j, argv[3], limit, full);
    }
    return usage();
}
