#pragma once

// MANIFEST: which segment files make up the journal, the queues each sealed
// segment holds records of, and the id high-water marks. Rewritten (to a
// temporary file, synced, renamed, directory synced) when a segment is added
// or deleted, so that recovery can tell a segment compaction deleted from one
// that went missing, name the queues a missing segment held, and never hand
// out an id twice after the records that used it were compacted away.
//
//   stampede-journal-manifest 1
//   next_queue 4
//   queue 3 5001
//   segment 7 sealed 1 3
//   segment 8 active
//   checksum 0123456789abcdef

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "stampede/storage/file_ops.hpp"
#include "stampede/storage/store.hpp"

namespace stampede::storage::detail {

struct manifest {
    struct segment_entry {
        std::uint32_t number = 0;
        bool sealed = false;
        std::vector<queue_id> queues;  ///< sealed segments only
    };
    std::vector<segment_entry> segments;  ///< ascending
    queue_id next_queue = 1;
    std::vector<std::pair<queue_id, message_id>> next_ids;

    const segment_entry* find(std::uint32_t number) const noexcept;
};

inline constexpr const char* manifest_file = "MANIFEST";

std::string render_manifest(const manifest& m);

/// Parses a manifest's text; nothing if it is malformed or its checksum fails.
std::optional<manifest> parse_manifest(std::string_view text);

/// Reads DIR/MANIFEST: nothing with `absent` true when there is none, nothing
/// with `absent` false when it is unreadable or damaged.
std::optional<manifest> read_manifest(const std::filesystem::path& dir, bool& absent);

/// Replaces DIR/MANIFEST atomically and durably. 0 or -errno.
int write_manifest(const std::filesystem::path& dir, const manifest& m, file_ops& files);

/// fsync(2) of a directory, so that a create, rename or unlink in it is durable. 0 or -errno.
int sync_directory(const std::filesystem::path& dir);

}  // namespace stampede::storage::detail
