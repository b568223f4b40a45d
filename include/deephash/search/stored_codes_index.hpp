#pragma once
// What the CPU indexes have in common: their codes and ids (IdOrderedCodes) and their threads.
// Everything of BinaryIndex that only reads the stored codes lives here once; the flat index and
// multi-index hashing add searching, and their own bookkeeping on add and remove.

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "deephash/io/container/index_payload.hpp"
#include "deephash/search/binary_index.hpp"
#include "deephash/search/id_ordered_codes.hpp"

namespace deephash {

class StoredCodesIndex : public BinaryIndex {
 public:
  int bits() const override { return codes_.bits(); }
  idx_t size() const override { return idx_t(codes_.size()); }

  unsigned num_threads() const { return pool_->num_threads(); }
  ThreadPool& thread_pool() const override { return *pool_; }
  // A pool of its own of n threads.
  void set_num_threads(unsigned n) { pool_ = std::make_shared<ThreadPool>(n); }
  // Searches with `pool`, which other indexes may share: resizing it (ThreadPool::resize, safe
  // while they search) changes the threads of all of them, as the Python module's setting does.
  void use_thread_pool(std::shared_ptr<ThreadPool> pool) { pool_ = std::move(pool); }

  std::vector<idx_t> ids() const override { return codes_.ids(); }
  bool contains(idx_t id) const override { return codes_.find(id) != IdOrderedCodes::npos; }
  idx_t next_id() const override { return codes_.next_id(); }
  void reconstruct(idx_t id, std::uint64_t* out) const override {
    const std::size_t p = codes_.find(id);
    require(p != IdOrderedCodes::npos, name_ + "::reconstruct",
            "id " + std::to_string(id) + " is not in the index (" + std::to_string(size()) + " codes)");
    codes_.copy_code(p, out);
  }
  // The stored codes and ids.
  const IdOrderedCodes& stored() const { return codes_; }

  // Kind "HIDX" or "MIHX" (io/container/index_payload.hpp), atomically.
  void save(const std::string& path) const override {
    SectionBuffers buffers;
    write_index_file(path, file_format(), codes_, file_sections(buffers));
  }
  // The bytes save() writes, in memory (parse_index reads them back): for pickling, sending.
  std::vector<std::uint8_t> to_bytes() const {
    SectionBuffers buffers;
    return index_file_bytes(file_format(), codes_, file_sections(buffers));
  }

 protected:
  // `name` is the class, as errors name it.
  StoredCodesIndex(std::string name, int bits, unsigned num_threads)
      : name_(std::move(name)),
        codes_((check_code_bits(bits, name_), bits)),
        pool_(std::make_shared<ThreadPool>(num_threads)) {}
  StoredCodesIndex(std::string name, IdOrderedCodes codes, unsigned num_threads)
      : name_(std::move(name)), codes_(std::move(codes)), pool_(std::make_shared<ThreadPool>(num_threads)) {}

  // Stores n codes (ids as for add_with_ids); true when they were appended after every other.
  bool store(std::size_t n, const std::uint64_t* codes, const idx_t* ids) {
    return codes_.add(n, codes, ids, name_ + "::add_with_ids");
  }
  // The header its files are written with.
  virtual IndexFileFormat file_format() const = 0;
  // What its files hold beside the codes and ids (multi-index hashing's tables); `buffers` keeps
  // what had to be assembled for them until they are written.
  using SectionBuffers = std::vector<std::vector<std::uint8_t>>;
  virtual std::vector<IndexSectionBytes> file_sections(SectionBuffers&) const { return {}; }

  std::string name_;
  IdOrderedCodes codes_;
  std::shared_ptr<ThreadPool> pool_;
};

}  // namespace deephash
