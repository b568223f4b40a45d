#pragma once
// Bytes of a file that something else may keep pointing into: either the file mapped read-only
// into memory (its pages come from the page cache, so every process that maps the same file
// shares them, and nothing is read until it is touched), or the file read whole into a
// cache-line aligned buffer. Indexes over a mappable index file keep a shared_ptr to the region
// and point their codes and ids straight into it.
//
// deephash never changes a file in place (saves write a temporary file and rename it over the
// old one), so a mapping always sees the file as it was when opened, even while it is replaced.

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>

#include "deephash/core/aligned_buffer.hpp"
#include "deephash/core/byte_io.hpp"
#include "deephash/core/error.hpp"

namespace deephash {

class FileRegion {
 public:
  virtual ~FileRegion() = default;
  const std::uint8_t* data() const { return data_; }
  std::size_t size() const { return size_; }
  const std::string& path() const { return path_; }
  // Whether the bytes are the file's mapped pages (rather than a private copy).
  virtual bool mapped() const = 0;

  FileRegion(const FileRegion&) = delete;
  FileRegion& operator=(const FileRegion&) = delete;

 protected:
  explicit FileRegion(std::string path) : path_(std::move(path)) {}
  const std::uint8_t* data_ = nullptr;
  std::size_t size_ = 0;
  std::string path_;
};

// The whole file mapped read-only and shared.
class MappedFile : public FileRegion {
 public:
  explicit MappedFile(const std::string& path) : FileRegion(path) {
    require_not_directory(path);
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw Error(path, std::string("cannot open file for reading (") + std::strerror(errno) + ")");
    struct stat st;
    if (::fstat(fd, &st) != 0) {
      const int err = errno;
      ::close(fd);
      throw Error(path, std::string("cannot determine the file size (") + std::strerror(err) + ")");
    }
    if (!S_ISREG(st.st_mode)) {
      ::close(fd);
      throw Error(path, "is not a regular file, so it cannot be mapped");
    }
    size_ = std::size_t(st.st_size);
    if (size_ > 0) {
      void* p = ::mmap(nullptr, size_, PROT_READ, MAP_SHARED, fd, 0);
      if (p == MAP_FAILED) {
        const int err = errno;
        ::close(fd);
        throw Error(path, std::string("cannot map the file into memory (") + std::strerror(err) + ")");
      }
      data_ = static_cast<const std::uint8_t*>(p);
    }
    ::close(fd);  // the mapping keeps the file open
  }
  ~MappedFile() override {
    if (data_ != nullptr) ::munmap(const_cast<std::uint8_t*>(data_), size_);
  }
  bool mapped() const override { return true; }
};

// A private, cache-line aligned copy of bytes (read from a file, or handed over).
class FileCopy : public FileRegion {
 public:
  // Reads the whole file.
  explicit FileCopy(const std::string& path)
      : FileRegion(path), bytes_(read_file_bytes<AlignedVector<std::uint8_t>>(path)) {
    data_ = bytes_.data();
    size_ = bytes_.size();
  }
  // A copy of `size` bytes that came from `path`.
  FileCopy(const std::uint8_t* bytes, std::size_t size, const std::string& path)
      : FileRegion(path), bytes_(bytes, bytes + size) {
    data_ = bytes_.data();
    size_ = bytes_.size();
  }
  bool mapped() const override { return false; }

 private:
  AlignedVector<std::uint8_t> bytes_;
};

}  // namespace deephash
