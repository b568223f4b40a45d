#pragma once
// Reading the bytes of a file without holding it whole: in order, as a stream (a plain file, or
// a gzip file decompressed on the fly), or at given offsets (pread, for random access to the
// records of an uncompressed file from several threads at once).

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "deephash/core/error.hpp"
#include "deephash/core/file_path.hpp"
#include "deephash/data/gzip.hpp"
#include "deephash/data/inflate.hpp"

namespace deephash {

// Bytes read in order.
class ByteStream {
 public:
  virtual ~ByteStream() = default;
  // Copies up to n bytes to dest (nullptr: drops them); fewer only at the end.
  virtual std::size_t read(std::uint8_t* dest, std::size_t n) = 0;
  // Passes over n bytes; returns how many there were.
  virtual std::uint64_t skip(std::uint64_t n) = 0;
  // Bytes read or skipped so far: for a plain file, the file offset.
  virtual std::uint64_t position() const = 0;
  virtual const std::string& source() const = 0;
};

class PlainFileStream : public ByteStream {
 public:
  explicit PlainFileStream(std::string path) : source_(std::move(path)) {
    require_not_directory(source_);
    file_.reset(std::fopen(source_.c_str(), "rb"));
    if (!file_) throw Error(source_, "cannot open file for reading");
  }
  std::size_t read(std::uint8_t* dest, std::size_t n) override {
    if (dest == nullptr) return std::size_t(skip(n));
    const std::size_t got = std::fread(dest, 1, n, file_.get());
    if (got < n && std::ferror(file_.get())) throw Error(source_, "read failed");
    position_ += got;
    return got;
  }
  // Seeks, then checks the file is that long: a member's data cut short is reported here.
  std::uint64_t skip(std::uint64_t n) override {
    if (n == 0) return 0;
    if (size_ < 0) {
      if (std::fseek(file_.get(), 0, SEEK_END) != 0) throw Error(source_, "cannot seek");
      size_ = std::ftell(file_.get());
    }
    const std::uint64_t left = std::uint64_t(size_) > position_ ? std::uint64_t(size_) - position_ : 0;
    const std::uint64_t k = n < left ? n : left;
    position_ += k;
    if (std::fseek(file_.get(), long(position_), SEEK_SET) != 0) throw Error(source_, "cannot seek");
    return k;
  }
  std::uint64_t position() const override { return position_; }
  const std::string& source() const override { return source_; }

 private:
  struct FileClose {
    void operator()(std::FILE* f) const { std::fclose(f); }
  };
  std::string source_;
  std::unique_ptr<std::FILE, FileClose> file_;
  std::uint64_t position_ = 0;
  long size_ = -1;
};

// Bytes already in memory (which must outlive the stream), read as a stream: for archives held
// whole, and for tests and fuzzers that feed the streaming readers without a file.
class MemoryStream : public ByteStream {
 public:
  MemoryStream(const std::uint8_t* data, std::size_t size, std::string source)
      : data_(data), size_(size), source_(std::move(source)) {}
  std::size_t read(std::uint8_t* dest, std::size_t n) override {
    const std::size_t k = std::size_t(skip(n));
    if (dest != nullptr && k > 0) std::memcpy(dest, data_ + position_ - k, k);
    return k;
  }
  std::uint64_t skip(std::uint64_t n) override {
    const std::uint64_t k = std::min<std::uint64_t>(n, size_ - position_);
    position_ += std::size_t(k);
    return k;
  }
  std::uint64_t position() const override { return position_; }
  const std::string& source() const override { return source_; }

 private:
  const std::uint8_t* data_;
  std::size_t size_, position_ = 0;
  std::string source_;
};

class GzipFileStream : public ByteStream {
 public:
  explicit GzipFileStream(const std::string& path) : gz_(path) {}
  std::size_t read(std::uint8_t* dest, std::size_t n) override { return gz_.read(dest, n); }
  std::uint64_t skip(std::uint64_t n) override { return gz_.skip(n); }
  std::uint64_t position() const override { return gz_.position(); }
  const std::string& source() const override { return gz_.source(); }

 private:
  GzipFileReader gz_;
};

// True when the file starts with gzip's magic bytes (whatever its name).
inline bool is_gzip_file(const std::string& path) {
  require_not_directory(path);
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!f) throw Error(path, "cannot open file for reading");
  std::uint8_t magic[2] = {0, 0};
  const std::size_t n = std::fread(magic, 1, 2, f.get());
  return looks_gzipped(magic, n);
}

// The file's bytes in order, decompressed when it is gzip data.
inline std::unique_ptr<ByteStream> open_byte_stream(const std::string& path) {
  if (is_gzip_file(path)) return std::make_unique<GzipFileStream>(path);
  return std::make_unique<PlainFileStream>(path);
}

// A file read at offsets; one object may be shared by threads (pread has no file position).
class RandomAccessFile {
 public:
  explicit RandomAccessFile(std::string path) : source_(std::move(path)) {
    require_not_directory(source_);
    fd_ = ::open(source_.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) throw Error(source_, "cannot open file for reading (" + std::string(std::strerror(errno)) + ")");
    const off_t end = ::lseek(fd_, 0, SEEK_END);
    if (end < 0) {
      ::close(fd_);
      throw Error(source_, "cannot determine the file size");
    }
    size_ = std::uint64_t(end);
  }
  ~RandomAccessFile() { ::close(fd_); }
  RandomAccessFile(const RandomAccessFile&) = delete;
  RandomAccessFile& operator=(const RandomAccessFile&) = delete;

  std::uint64_t size() const { return size_; }
  const std::string& source() const { return source_; }

  // Exactly n bytes at `offset` into dest; `what` names them in errors.
  void read_at(std::uint64_t offset, std::size_t n, std::uint8_t* dest, const std::string& what) const {
    if (offset > size_ || n > size_ - offset)
      throw Error(source_, "truncated: " + what + " needs " + std::to_string(n) + " bytes at offset " +
                               std::to_string(offset) + ", the file has " + std::to_string(size_));
    std::size_t done = 0;
    while (done < n) {
      const ssize_t got = ::pread(fd_, dest + done, n - done, off_t(offset + done));
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0)
        throw Error(source_, "read failed at offset " + std::to_string(offset + done) +
                                 (got < 0 ? " (" + std::string(std::strerror(errno)) + ")" : ": the file shrank"));
      done += std::size_t(got);
    }
  }

 private:
  std::string source_;
  int fd_ = -1;
  std::uint64_t size_ = 0;
};

}  // namespace deephash
