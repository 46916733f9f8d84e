#pragma once

#include <sys/types.h>

#include <cstddef>

namespace stampede::storage {

/// The system calls the journal's writer makes on segment files, behind one
/// seam so that tests can inject failures (ENOSPC, EIO) or hold a sync.
/// Each returns 0 (or the byte count) on success and -errno on failure, and
/// may be called from several journal threads at once.
class file_ops {
  public:
    virtual ~file_ops() = default;

    /// pwrite(2) of the whole buffer; a short write is retried until done or failed.
    virtual ssize_t write_at(int fd, const void* data, std::size_t size, off_t offset);

    /// fdatasync(2).
    virtual int sync(int fd);

    /// Reserves `size` bytes for a new segment (fallocate(2), falling back to
    /// posix_fallocate), so that writes inside it cannot fail for space.
    virtual int allocate(int fd, off_t size);
};

}  // namespace stampede::storage
