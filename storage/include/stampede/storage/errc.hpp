#pragma once

#include <boost/system/error_code.hpp>
#include <boost/system/result.hpp>

namespace stampede::storage {

/// Why a storage operation failed, beyond the operating system's own errno values.
enum class errc {
    locked = 1,        ///< The data directory is held by another process (its LOCK file).
    bad_directory,     ///< The data directory could not be created, listed or read.
    no_space,          ///< The disk is full: a segment could not be allocated or written.
    write_failed,      ///< A write failed (EIO and the like); the records were not stored.
    sync_failed,       ///< fdatasync failed; the journal writes nothing more until reopened.
    record_too_large,  ///< The record does not fit in one segment.
    unknown_queue,     ///< No open queue has that id (never opened, or deleted).
    quarantined,       ///< The queue's records are damaged; it is held for the operator tool.
    corrupt,           ///< A record read back failed its checksum.
    read_only,         ///< The journal was opened read-only (the operator tool).
    closed,            ///< The journal is closing; the operation was not performed.
    invalid_argument,  ///< An option or argument is out of range.
};

/// The error category of `errc` ("stampede.storage").
const boost::system::error_category& storage_category() noexcept;

inline boost::system::error_code make_error_code(errc e) noexcept {
    return {static_cast<int>(e), storage_category()};
}

/// Result of an operation that can fail: a value or an error code.
template <class T>
using result = boost::system::result<T>;

}  // namespace stampede::storage

namespace boost::system {
template <>
struct is_error_code_enum<stampede::storage::errc> : std::true_type {};
}  // namespace boost::system
