#pragma once
// Multi-index hashing (Norouzi, Punjani, Fleet, "Fast Search in Hamming Space with Multi-Index
// Hashing", CVPR 2012): exact Hamming k-NN and radius search that looks at a small part of the
// database, with results identical to the flat index (same distances, ties by ascending id).
//
// Each code is cut into m disjoint substrings (lengths differ by at most one bit when
// bits % m != 0) and table j maps every value of substring j to the codes that have it. By the
// pigeonhole principle a code within distance d of the query has some substring within
// floor(d / m) of the query's. The search therefore probes, for r = 0, 1, 2, ... and each table j
// in turn, every key at distance exactly r from the query's substring j. After probing (r, j)
// every code at distance <= m r + j has been found (an unfound code differs by >= r + 1 in
// substrings 0..j and by >= r in the rest), so the k-NN search stops as soon as k found codes lie
// within that bound, and a radius search once the bound reaches its radius.
//
// A code is counted only where it is first found: at (r, j) with r its smallest substring
// distance and j the first substring at that distance. That needs no per-query "seen" set.
//
// The tables hold distinct codes, each with its positions (ascending): codes of a trained model
// repeat massively, and a k-NN whose last distance ties needs only the first positions of each
// code's list there. Norouzi et al. choose m for codes spread uniformly; codes that crowd around
// class centres want fewer, longer substrings, so the index picks m on a sample (rebuild()).
//
// When the probes of a query would cost more than scanning (far neighbours, very long codes,
// small databases) the query is searched by pivots instead (pivot_shells.hpp: the triangle
// inequality over shells around the class centres, which answers queries far from every code
// without reading the crowded centres), and if that too would read more than a share of the
// codes, by the flat scan: budgets proportional to the database size, so that a query costs at
// most about two scans.
//
// Tables are rebuilt after changes that are not appends (ids in between, removals), and when
// codes appended since the last build outgrow a fraction of the database: until then those codes
// are scanned. Memory: per code, the code and 4 bytes of position (plus 8 for an id when ids are
// not 0..n-1); per distinct code, its words again, 4 bytes of list start and 4 per table; per
// table, 2^s bucket starts of 4 bytes when s <= 28 and that is not much larger than the number
// of distinct codes, else 12 bytes per distinct key (found by binary search); and the pivot
// shells' 4 bytes and words per distinct code.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstring>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "deephash/codes/bit_codes.hpp"
#include "deephash/core/error.hpp"
#include "deephash/core/stored_array.hpp"
#include "deephash/core/thread_pool.hpp"
#include "deephash/io/container/index_payload.hpp"
#include "deephash/search/block_scanner.hpp"
#include "deephash/search/id_ordered_codes.hpp"
#include "deephash/search/pivot_shells.hpp"
#include "deephash/search/stored_codes_index.hpp"
#include "deephash/search/top_k.hpp"

namespace deephash {

// The number of substrings Norouzi et al. recommend: substrings of about log2(n) bits, so that a
// table has about as many buckets as codes; but substrings of at most 28 bits, so that every
// table is an array indexed by key (a longer key needs a binary search, a cache miss per step).
inline int default_mih_tables(int bits, std::size_t n) {
  const double log_n = std::log2(double(std::max<std::size_t>(n, 2)));
  const int m = std::max(int(std::lround(double(bits) / std::max(1.0, log_n))), (bits + 27) / 28);
  return std::clamp(m, 1, bits);
}

template <class Backend = simd::DefaultBackend>
class BasicMultiIndexHashing : public StoredCodesIndex {
 public:
  // tables == 0: chosen at each rebuild (see rebuild()).
  explicit BasicMultiIndexHashing(int bits, int tables = 0, unsigned num_threads = default_num_threads())
      : StoredCodesIndex("MultiIndexHashing", bits, num_threads), requested_tables_(tables) {
    require(tables == 0 || (tables >= words_for_bits(bits) && tables <= bits), "MultiIndexHashing",
            "the number of tables must be between " + std::to_string(words_for_bits(bits)) + " (substrings of at most 64 bits) and " +
                std::to_string(bits) + " for " + std::to_string(bits) + "-bit codes, got " + std::to_string(tables));
  }

  // An index over codes already stored (what load_index builds); the tables are built now.
  BasicMultiIndexHashing(IdOrderedCodes codes, int tables, unsigned num_threads)
      : BasicMultiIndexHashing(codes.bits(), tables, num_threads) {
    codes_ = std::move(codes);
    codes_.check_all();  // the tables read every code: those of a mapped file are checked first
    rebuild();
  }
  // An index over the contents of an index file: the tables its sections hold (MIHX version 3:
  // viewed where they lie, nothing rebuilt, each chunk checked when first read), else built now.
  BasicMultiIndexHashing(IndexFileContents file, unsigned num_threads)
      : BasicMultiIndexHashing(file.codes.bits(), file.tables, num_threads) {
    codes_ = std::move(file.codes);
    if (file.sections.empty()) {
      codes_.check_all();
      rebuild();
      return;
    }
    adopt_sections(file);
    if (file.verification == Verification::now) check_all_sections();
    // An index saved before its first build (fewer codes than a build waits for) is built now, as
    // a version 2 file's: a few thousand codes at most.
    if (tables_.empty() && codes_.size() > 0) {
      codes_.check_all();
      rebuild();
    }
  }

  std::string kind() const override { return "mih"; }
  // Tables asked for (0: automatic) and tables in use now.
  int requested_tables() const { return requested_tables_; }
  int tables() const { return int(tables_.size()); }
  // A query gives up probing and is scanned once its probes (keys looked up plus candidates
  // checked) would cost more than a scan: about this many codes scanned per probe. 0: never
  // scan (pure multi-index hashing, for measurements and tests).
  double scan_codes_per_probe() const { return scan_codes_per_probe_; }
  void set_scan_codes_per_probe(double codes) {
    require(codes >= 0, "MultiIndexHashing", "scan codes per probe must be >= 0");
    scan_codes_per_probe_ = codes;
  }
  // Likewise for the pivot search of a query the probes gave up on: a code read there costs about
  // this many codes of a scan (0: never scan; the pivot search then always finishes).
  double scan_codes_per_shell_code() const { return scan_codes_per_shell_code_; }
  void set_scan_codes_per_shell_code(double codes) {
    require(codes >= 0, "MultiIndexHashing", "scan codes per shell code must be >= 0");
    scan_codes_per_shell_code_ = codes;
  }

  // How the queries searched so far were answered: by the tables' probes, by pivots, or by the
  // flat scan (tests and benchmarks check which path a workload takes).
  // pilots: batches timed on a pilot (search_batch); batch_scans: those whose pilot found the scan
  // faster, and whose other queries it answered (counted in `scanned`); last_pilot_tables_s and
  // last_pilot_scan_s: the latest pilot's two times (the scan's scaled to all codes), which is
  // what decided (a decision by the clock: tests check it followed them, benchmarks its worth).
  struct QueryCounts {
    std::size_t probed = 0, by_pivots = 0, scanned = 0, pilots = 0, batch_scans = 0;
    double last_pilot_tables_s = 0, last_pilot_scan_s = 0;
  };
  QueryCounts query_counts() const {
    return {counts_->probed.load(),           counts_->by_pivots.load(),        counts_->scanned.load(),
            counts_->pilots.load(),           counts_->batch_scans.load(),      counts_->last_pilot_tables_s.load(),
            counts_->last_pilot_scan_s.load()};
  }
  // Whether a large batch is timed on a pilot and scanned when the scan is faster (search_batch);
  // on by default. Off: every query goes to the tables (for measurements and tests).
  bool pick_scan() const { return pick_scan_; }
  void set_pick_scan(bool on) { pick_scan_ = on; }

  void reset() override {
    codes_.clear();
    rebuild();
  }

  // Builds the tables over every code now (add() does when needed).
  //
  // Without a number of tables asked for, a large database tries every count from bits / 64 up to
  // Norouzi et al.'s (default_mih_tables) and keeps the one whose probes cost least for a sample
  // of its own codes as queries: their rule assumes codes spread uniformly, and codes of a
  // trained model do not (they crowd around class centres, where short substrings match whole
  // classes and longer ones pay).
  void rebuild() {
    indexed_ = codes_.size() - codes_.size() % kBlockCodes;  // the scanned rest starts a block
    group_distinct_codes();
    shells_.build(distinct_.data(), distinct_count(), bits(), [&](std::uint32_t c) { return repeats(c); }, *pool_);
    const int norouzi = default_mih_tables(bits(), indexed_);
    if (requested_tables_ != 0 || indexed_ < kTuneFrom || norouzi - words_for_bits(bits()) > 8) {
      build_tables(requested_tables_ ? requested_tables_ : norouzi);
      return;
    }
    int best = norouzi;
    double best_cost = std::numeric_limits<double>::infinity();
    for (int m = words_for_bits(bits()); m <= norouzi; ++m) {
      build_tables(m);
      const double cost = sample_probe_cost();
      if (cost < best_cost) {
        best_cost = cost;
        best = m;
      }
    }
    if (best != tables()) build_tables(best);
  }

  std::size_t memory_bytes() const override {
    std::size_t bytes = codes_.memory_bytes();
    for (const Table& t : tables_)
      bytes += t.starts.memory_bytes() + t.entries.memory_bytes() + t.keys.memory_bytes();
    bytes += distinct_.memory_bytes() + posting_starts_.memory_bytes() + postings_.memory_bytes();
    return bytes + shells_.memory_bytes();
  }


 protected:
  // Kind "MIHX": the codes, ids and tables asked for, and the tables themselves (kMihSectionNames).
  IndexFileFormat file_format() const override { return {kMihIndexFileKind, kMihIndexFileVersion, requested_tables_}; }
  std::vector<IndexSectionBytes> file_sections(SectionBuffers& buffers) const override {
    check_all_sections();  // never re-seal corrupted tables read from a file under fresh checksums
    buffers.assign(4, {});
    std::vector<std::uint8_t>& layout = buffers[0];
    const auto put = [](std::vector<std::uint8_t>& to, const void* data, std::size_t bytes) {
      const auto* b = static_cast<const std::uint8_t*>(data);
      to.insert(to.end(), b, b + bytes);
    };
    const auto put_u64 = [&](std::uint64_t v) { put(layout, &v, 8); };
    put_u64(tables_.size());
    put_u64(indexed_);
    put_u64(distinct_count());
    for (const Table& t : tables_) {
      for (std::uint64_t v : {std::uint64_t(t.offset), std::uint64_t(t.length), std::uint64_t(t.direct),
                              std::uint64_t(t.keys.size()), std::uint64_t(t.starts.size())})
        put_u64(v);
      put(buffers[1], t.keys.data(), t.keys.size() * 8);
      put(buffers[2], t.starts.data(), t.starts.size() * 4);
      put(buffers[3], t.entries.data(), t.entries.size() * 4);
    }
    const CodeBlocks& shell_codes = shells_.blocks();
    return {{layout.data(), layout.size()},
            {distinct_.data(), distinct_.size() * 8},
            {posting_starts_.data(), posting_starts_.size() * 4},
            {postings_.data(), postings_.size() * 4},
            {buffers[1].data(), buffers[1].size()},
            {buffers[2].data(), buffers[2].size()},
            {buffers[3].data(), buffers[3].size()},
            {shells_.pivots().data(), shells_.pivots().size() * 8},
            {shells_.block_starts().data(), shells_.block_starts().size() * 4},
            {shells_.members().data(), shells_.members().size() * 4},
            {shell_codes.num_blocks() ? shell_codes.block(0) : nullptr, shell_codes.num_blocks() * shell_codes.words_per_block() * 8}};
  }
  void add_codes(std::size_t n, const std::uint64_t* codes, const idx_t* ids) override {
    require(codes_.size() + n <= kMaxCodes, "MultiIndexHashing::add",
            "an index holds at most " + std::to_string(kMaxCodes) + " codes; shard larger collections");
    const bool appended = store(n, codes, ids);
    if (!appended || codes_.size() - indexed_ > tail_limit()) rebuild();
  }
  std::size_t remove_codes(std::size_t n, const idx_t* ids) override {
    const std::size_t removed = codes_.remove(n, ids);
    if (removed) rebuild();
    return removed;
  }

  void search_codes(std::size_t nq, const std::uint64_t* queries, std::size_t k, std::int32_t* distances,
                    idx_t* labels) const override {
    search_batch(
        nq, queries, k, -1,
        [&](std::size_t q, std::vector<Neighbor>& found) { write_knn(found, codes_, k, distances + q * k, labels + q * k); },
        [&](const BlockScanner<Backend>& s, std::size_t n, const std::uint64_t* qs, double share, auto&& done) {
          s.knn(n, qs, std::max<std::size_t>(1, std::size_t(std::ceil(double(k) * share))), done);
        },
        k);
  }

  RangeSearchResult range_search_codes(std::size_t nq, const std::uint64_t* queries, int radius) const override {
    std::vector<std::vector<Neighbor>> results(nq);
    search_batch(
        nq, queries, 0, radius, [&](std::size_t q, std::vector<Neighbor>& all) { results[q] = std::move(all); },
        [&](const BlockScanner<Backend>& s, std::size_t n, const std::uint64_t* qs, double, auto&& done) {
          s.within(n, qs, radius, done);
        },
        ~std::size_t(0));
    return gather_ranges(results, codes_);
  }


 private:
  static constexpr std::size_t kMaxCodes = 0xFFFFFFFFu;  // positions are 32-bit
  static constexpr std::size_t kTuneFrom = 1 << 16;       // codes; below, Norouzi's rule

  void build_tables(int m) {
    tables_.assign(std::size_t(m), Table{});
    for (int j = 0; j < m; ++j) {
      Table& t = tables_[std::size_t(j)];
      t.offset = int(std::int64_t(bits()) * j / m);
      t.length = int(std::int64_t(bits()) * (j + 1) / m) - t.offset;
    }
    pool_->parallel_for(std::size_t(m), [&](std::size_t j) { build_table(tables_[j]); });
  }

  // Every table and shell array of a mapped file checked against its checksums (and bounds).
  void check_all_sections() const {
    distinct_.check_all();
    posting_starts_.check_all();
    postings_.check_all();
    for (const Table& t : tables_) {
      t.keys.check_all();
      t.starts.check_all();
      t.entries.check_all();
    }
    shells_.members().check_all();
    shells_.blocks().check_all();
  }

  // Points the tables and shells into the sections of a MIHX version 3 file (kMihSectionNames),
  // after checking that they describe tables over these codes: everything whose size or bounds a
  // search relies on, so that a file sealed with correct checksums around wrong tables is refused
  // rather than read out of bounds. Small sections are checked whole now; each chunk of the large
  // ones as it is first read, values included (an entry must name a distinct code, and so on).
  void adopt_sections(const IndexFileContents& file) {
    const std::string& path = file.sections[0].path;
    const auto refuse = [&](const std::string& what) {
      throw Error(path, "the multi-index hashing tables do not fit the index's codes: " + what);
    };
    const auto& sec = file.sections;
    sec[0].checks()->verify_all();
    const std::size_t layout_words = std::size_t(sec[0].bytes / 8);
    std::vector<std::uint64_t> layout(layout_words);
    if (layout_words) std::memcpy(layout.data(), sec[0].data, layout_words * 8);
    if (sec[0].bytes % 8 != 0 || layout_words < 3) refuse("the table layout is " + std::to_string(sec[0].bytes) + " bytes");
    const std::uint64_t m = layout[0], indexed = layout[1], distinct = layout[2];
    const std::size_t words = std::size_t(codes_.words()), n = codes_.size();
    if (m > std::uint64_t(bits()) || layout_words != 3 + 5 * m) refuse(std::to_string(m) + " tables");
    if (requested_tables_ != 0 && indexed > 0 && m != std::uint64_t(requested_tables_))
      refuse(std::to_string(m) + " tables where " + std::to_string(requested_tables_) + " were asked for");
    if (indexed > n || indexed % kBlockCodes != 0 || distinct > indexed || (distinct == 0) != (indexed == 0) ||
        (indexed > 0 && m == 0))
      refuse(std::to_string(indexed) + " codes in tables of " + std::to_string(distinct) + " distinct codes, of " +
             std::to_string(n) + " codes");
    const auto expect = [&](std::size_t s, std::uint64_t bytes) {
      if (sec[s].bytes != bytes)
        refuse("the " + sec[s].name + " are " + std::to_string(sec[s].bytes) + " bytes, not " + std::to_string(bytes));
    };
    // Values below `bound` (or the shells' padding, where `padding` says so).
    const auto u32_below = [](std::uint64_t bound, bool padding, const char* what) {
      return [bound, padding, what](const std::uint8_t* chunk, std::size_t offset, std::size_t length) -> std::string {
        for (std::size_t at = 0; at + 4 <= length; at += 4) {
          std::uint32_t v;
          std::memcpy(&v, chunk + at, 4);
          if (v >= bound && !(padding && v == PivotShells<Backend>::kPadding))
            return std::string(what) + " " + std::to_string((offset + at) / 4) + " is " + std::to_string(v) +
                   ", out of range (below " + std::to_string(bound) + ")";
        }
        return "";
      };
    };
    const auto ascending_up_to = [](std::uint64_t bound) {
      return [bound](const std::uint8_t* chunk, std::size_t offset, std::size_t length) -> std::string {
        for (std::size_t at = 0; at + 4 <= length; at += 4) {
          std::uint32_t v, previous = 0;
          std::memcpy(&v, chunk + at, 4);
          if (offset + at > 0) std::memcpy(&previous, chunk + at - 4, 4);  // the previous chunk's last too
          if (v < previous || v > bound)
            return "posting start " + std::to_string((offset + at) / 4) + " is " + std::to_string(v) +
                   ", not ascending up to " + std::to_string(bound);
        }
        return "";
      };
    };
    const auto code_bits = [b = bits()](const std::uint8_t* chunk, std::size_t offset, std::size_t length) {
      return detail::check_unused_bits(chunk, offset, length, b);
    };

    expect(1, distinct * words * 8);
    const std::uint64_t starts_count = distinct ? distinct + 1 : 0;
    expect(2, starts_count * 4);
    expect(3, indexed * 4);
    const auto& region = file.region;
    // Distinct codes are row-major: a code's last word carries the unused bits.
    distinct_ = StoredArray<std::uint64_t>::view(
        reinterpret_cast<const std::uint64_t*>(sec[1].data), std::size_t(distinct * words), region,
        sec[1].checks([b = bits(), words](const std::uint8_t* chunk, std::size_t offset, std::size_t length) -> std::string {
          const std::uint64_t unused = ~last_word_mask(b);
          for (std::size_t at = 0; at + 8 <= length; at += 8) {
            std::uint64_t w;
            std::memcpy(&w, chunk + at, 8);
            if ((offset + at) / 8 % words == words - 1 && (w & unused))
              return "distinct code " + std::to_string((offset + at) / 8 / words) + " has bits set past its " +
                     std::to_string(b) + " bits";
          }
          return "";
        }),
        0);
    posting_starts_ = StoredArray<std::uint32_t>::view(reinterpret_cast<const std::uint32_t*>(sec[2].data),
                                                       std::size_t(starts_count), region,
                                                       sec[2].checks(ascending_up_to(indexed)), 0);
    if (starts_count && (posting_starts_.at(0) != 0 || posting_starts_.at(std::size_t(distinct)) != indexed))
      refuse("the posting starts do not run from 0 to " + std::to_string(indexed));
    postings_ = StoredArray<std::uint32_t>::view(reinterpret_cast<const std::uint32_t*>(sec[3].data), std::size_t(indexed),
                                                 region, sec[3].checks(u32_below(indexed, false, "posting")), 0);

    // The tables, each a slice of the keys, starts and entries sections.
    const auto key_checks = sec[4].checks();
    const auto start_checks = sec[5].checks(u32_below(distinct + 1, false, "table start"));
    const auto entry_checks = sec[6].checks(u32_below(distinct, false, "table entry"));
    std::vector<Table> tables(static_cast<std::size_t>(m));
    std::uint64_t keys_at = 0, starts_at = 0;
    for (std::size_t j = 0; j < tables.size(); ++j) {
      const std::uint64_t* d = layout.data() + 3 + 5 * j;
      Table& t = tables[j];
      t.offset = int(std::int64_t(bits()) * std::int64_t(j) / std::int64_t(m));
      t.length = int(std::int64_t(bits()) * std::int64_t(j + 1) / std::int64_t(m)) - t.offset;
      const std::uint64_t keys = d[3], starts = d[4];
      const bool direct_ok = d[2] == 1 && t.length <= 28 && keys == 0 && starts == (std::uint64_t(1) << t.length) + 1;
      const bool search_ok = d[2] == 0 && keys <= distinct && starts == keys + 1;
      if (d[0] != std::uint64_t(t.offset) || d[1] != std::uint64_t(t.length) || !(direct_ok || search_ok))
        refuse("table " + std::to_string(j) + " is not laid out as " + std::to_string(m) + " tables over " +
               std::to_string(bits()) + " bits are");
      t.direct = d[2] == 1;
      if (keys_at + keys > sec[4].bytes / 8 || starts_at + starts > sec[5].bytes / 4)
        refuse("table " + std::to_string(j) + " lies past the table sections");
      t.keys = StoredArray<std::uint64_t>::view(reinterpret_cast<const std::uint64_t*>(sec[4].data) + keys_at,
                                                std::size_t(keys), region, key_checks, std::size_t(keys_at * 8));
      t.starts = StoredArray<std::uint32_t>::view(reinterpret_cast<const std::uint32_t*>(sec[5].data) + starts_at,
                                                  std::size_t(starts), region, start_checks, std::size_t(starts_at * 4));
      t.entries = StoredArray<std::uint32_t>::view(reinterpret_cast<const std::uint32_t*>(sec[6].data) + j * distinct,
                                                   std::size_t(distinct), region, entry_checks, std::size_t(j * distinct * 4));
      keys_at += keys;
      starts_at += starts;
    }
    expect(4, keys_at * 8);
    expect(5, starts_at * 4);
    expect(6, m * distinct * 4);

    // The pivot shells.
    const std::size_t shell_codes = std::size_t(sec[9].bytes / 4);
    expect(10, (shell_codes + kBlockCodes - 1) / kBlockCodes * kBlockCodes * words * 8);
    const bool shells_ok = shells_.adopt(
        bits(),
        StoredArray<std::uint64_t>::view(reinterpret_cast<const std::uint64_t*>(sec[7].data), std::size_t(sec[7].bytes / 8),
                                         region, sec[7].checks(), 0),
        StoredArray<std::uint32_t>::view(reinterpret_cast<const std::uint32_t*>(sec[8].data), std::size_t(sec[8].bytes / 4),
                                         region, sec[8].checks(), 0),
        StoredArray<std::uint32_t>::view(reinterpret_cast<const std::uint32_t*>(sec[9].data), shell_codes, region,
                                         sec[9].checks(u32_below(distinct, true, "shell member")), 0),
        CodeBlocks::view(bits(), shell_codes, reinterpret_cast<const std::uint64_t*>(sec[10].data), region,
                         sec[10].checks(code_bits)));
    if (!shells_ok || sec[7].bytes % 8 != 0 || sec[8].bytes % 4 != 0 || sec[9].bytes % 4 != 0)
      refuse("the pivot shells are not laid out over " + std::to_string(shell_codes) + " codes");
    tables_ = std::move(tables);
    indexed_ = std::size_t(indexed);
  }

  // Mean probe cost of 10-NN for 64 stored codes spread over the index, as queries (a query
  // over budget costs the whole budget). A lookup in a table without a key-indexed array is a
  // binary search: a cache miss per step.
  double sample_probe_cost() const {
    constexpr std::size_t kSample = 64;
    const std::size_t words = std::size_t(codes_.words());
    std::vector<double> cost(kSample, 0);
    pool_->parallel_for(kSample, [&](std::size_t i) {
      std::vector<std::uint64_t> query(words);
      codes_.copy_code(i * indexed_ / kSample, query.data());
      std::vector<Neighbor> out;
      probe(query.data(), 10, -1, out, &cost[i]);
    });
    double total = 0;
    for (double c : cost) total += c;
    return total / kSample;
  }

  struct Table {
    int offset = 0, length = 0;  // substring: bits [offset, offset + length)
    bool direct = false;         // starts indexed by key (2^length + 1), else by rank in keys
    StoredArray<std::uint64_t> keys;
    StoredArray<std::uint32_t> starts;
    StoredArray<std::uint32_t> entries;  // distinct codes, grouped by key
  };

  // Codes appended since the last build that are scanned rather than rebuilt for.
  std::size_t tail_limit() const { return std::max<std::size_t>(4096, indexed_ / 32); }

  static std::uint64_t low_bits(int n) { return n >= 64 ? ~std::uint64_t(0) : (std::uint64_t(1) << n) - 1; }

  // Bits [offset, offset + length) of a row-major code.
  static std::uint64_t substring(const std::uint64_t* code, int offset, int length) {
    const int w = offset / 64, shift = offset % 64;
    std::uint64_t v = code[w] >> shift;
    if (shift + length > 64) v |= code[w + 1] << (64 - shift);
    return v & low_bits(length);
  }
  std::size_t distinct_count() const { return posting_starts_.empty() ? 0 : posting_starts_.size() - 1; }
  const std::uint64_t* distinct_code(std::uint32_t c) const {
    const std::size_t words = std::size_t(codes_.words());
    return distinct_.checked(std::size_t(c) * words, (std::size_t(c) + 1) * words);
  }
  // How many tabled codes equal distinct code c.
  std::size_t repeats(std::uint32_t c) const {
    const std::uint32_t* starts = posting_starts_.checked(c, std::size_t(c) + 2);
    return starts[1] - starts[0];
  }

  // Groups the tabled codes by value: each distinct code once, with its positions ascending.
  void group_distinct_codes() {
    const std::size_t n = indexed_, words = std::size_t(codes_.words());
    std::vector<std::uint64_t> rows(n * words);
    for (std::size_t p = 0; p < n; ++p) codes_.copy_code(p, rows.data() + p * words);
    std::vector<std::uint32_t> order(n);
    for (std::size_t p = 0; p < n; ++p) order[p] = std::uint32_t(p);
    const auto row = [&](std::uint32_t p) { return rows.data() + std::size_t(p) * words; };
    const auto less = [&](std::uint32_t a, std::uint32_t b) {
      return std::lexicographical_compare(row(a), row(a) + words, row(b), row(b) + words);
    };
    std::stable_sort(order.begin(), order.end(), less);  // stable: positions ascend within a code
    std::vector<std::uint64_t> distinct;
    std::vector<std::uint32_t> starts;
    for (std::size_t i = 0; i < n; ++i)
      if (i == 0 || less(order[i - 1], order[i])) {
        distinct.insert(distinct.end(), row(order[i]), row(order[i]) + words);
        starts.push_back(std::uint32_t(i));
      }
    starts.push_back(std::uint32_t(n));
    distinct_ = std::move(distinct);
    posting_starts_ = std::move(starts);
    postings_ = std::move(order);
  }

  void build_table(Table& t) const {
    const std::size_t n = distinct_count();
    t.direct = t.length <= 28 && (std::size_t(1) << t.length) <= 4 * n + 1024;
    std::vector<std::uint64_t> key(n);
    for (std::size_t c = 0; c < n; ++c) key[c] = substring(distinct_code(std::uint32_t(c)), t.offset, t.length);
    std::vector<std::uint32_t> entries(n), starts;
    std::vector<std::uint64_t> keys;
    if (t.direct) {  // counting sort by key
      starts.assign((std::size_t(1) << t.length) + 1, 0);
      for (std::size_t c = 0; c < n; ++c) ++starts[key[c] + 1];
      for (std::size_t b = 1; b < starts.size(); ++b) starts[b] += starts[b - 1];
      std::vector<std::uint32_t> next(starts.begin(), starts.end() - 1);
      for (std::size_t c = 0; c < n; ++c) entries[next[key[c]]++] = std::uint32_t(c);
    } else {
      for (std::size_t c = 0; c < n; ++c) entries[c] = std::uint32_t(c);
      std::sort(entries.begin(), entries.end(), [&](std::uint32_t a, std::uint32_t b) { return key[a] < key[b]; });
      for (std::size_t i = 0; i < n; ++i)
        if (i == 0 || key[entries[i]] != key[entries[i - 1]]) {
          keys.push_back(key[entries[i]]);
          starts.push_back(std::uint32_t(i));
        }
      starts.push_back(std::uint32_t(n));
    }
    t.keys = std::move(keys);
    t.starts = std::move(starts);
    t.entries = std::move(entries);
  }

  // The distinct codes of table t whose substring equals `key`: [first, last) of t.entries.
  static std::pair<std::uint32_t, std::uint32_t> bucket(const Table& t, std::uint64_t key) {
    if (t.direct) {
      const std::uint32_t* s = t.starts.checked(key, key + 2);
      return {s[0], s[1]};
    }
    std::size_t lo = 0, hi = t.keys.size();  // the first key >= `key`, in [lo, hi)
    while (lo < hi) {
      const std::size_t mid = lo + (hi - lo) / 2;
      if (t.keys.at(mid) < key) lo = mid + 1;
      else hi = mid;
    }
    if (lo == t.keys.size() || t.keys.at(lo) != key) return {0, 0};
    const std::uint32_t* s = t.starts.checked(lo, lo + 2);
    return {s[0], s[1]};
  }

  // Probes the tables for one query: its k nearest among the tabled codes (k > 0), or those within
  // `radius` (k == 0), into `out` ordered by (distance, position). Returns false when the probes
  // ran over budget and the query should be scanned instead.
  // `spent`, when given, receives the probes' cost.
  bool probe(const std::uint64_t* query, std::size_t k, int radius, std::vector<Neighbor>& out,
             double* spent = nullptr) const {
    out.clear();
    if (indexed_ == 0) return true;
    const int m = tables(), bits = this->bits();
    std::vector<std::uint64_t> query_key(std::size_t(m), 0);
    int longest = 0;
    for (int j = 0; j < m; ++j) {
      const Table& t = tables_[std::size_t(j)];
      query_key[std::size_t(j)] = substring(query, t.offset, t.length);
      longest = std::max(longest, t.length);
    }
    std::vector<Neighbor> found;  // (distance, distinct code)
    std::vector<std::size_t> at_distance(std::size_t(bits) + 1, 0);  // codes, with repeats
    const double full_budget = scan_codes_per_probe_ > 0 ? double(indexed_) / scan_codes_per_probe_ + 64
                                                         : std::numeric_limits<double>::infinity();
    double budget = full_budget;
    const auto done = [&](bool finished) {  // reports the cost however the probe ends
      if (spent) *spent = full_budget - budget;
      return finished;
    };

    for (int r = 0; r <= longest; ++r) {
      for (int j = 0; j < m; ++j) {
        const Table& t = tables_[std::size_t(j)];
        if (r <= t.length) {
          // Every key at distance exactly r from the query's substring j (Gosper's hack).
          const std::uint64_t limit = low_bits(t.length);
          std::uint64_t flip = low_bits(r);
          while (true) {
            const auto [first, last] = bucket(t, query_key[std::size_t(j)] ^ flip);
            const double lookup = t.direct ? 1 : std::log2(double(t.keys.size()) + 2);
            if ((budget -= lookup + double(last - first)) < 0) return done(false);
            const std::uint32_t* entries = t.entries.checked(first, std::max(first, last));
            for (std::uint32_t i = first; i < last; ++i) {
              const std::uint32_t c = entries[i - first];
              const int d = distance_if_first_found(distinct_code(c), query, j, r);
              if (d >= 0 && (k > 0 || d <= radius)) {
                found.push_back({d, idx_t(c)});
                at_distance[std::size_t(d)] += repeats(c);
              }
            }
            if (r == 0 || flip == (limit & ~low_bits(t.length - r))) break;
            const std::uint64_t c = flip & (~flip + 1), next = flip + c;
            flip = (((next ^ flip) >> 2) / c) | next;
          }
        }
        // Every code within m r + j is found now.
        const std::int64_t complete = std::int64_t(m) * r + j;
        if (k == 0 && complete >= radius) return done(expand(found, k, out));
        if (k > 0) {
          std::size_t codes = 0;
          for (std::int64_t d = 0; d <= std::min<std::int64_t>(complete, bits); ++d) codes += at_distance[std::size_t(d)];
          if (codes >= k) return done(expand(found, k, out));
        }
      }
    }
    return done(expand(found, k, out));
  }

  // One query by the probes, else by pivots (k-NN for k > 0, else within `radius`), counted; false
  // when both gave up and the query is to be scanned.
  bool answer(const std::uint64_t* query, std::size_t k, int radius, std::vector<Neighbor>& out) const {
    if (probe(query, k, radius, out)) {
      counts_->probed.fetch_add(1, std::memory_order_relaxed);
      return true;
    }
    if (search_shells(query, k, radius, out)) {
      counts_->by_pivots.fetch_add(1, std::memory_order_relaxed);
      return true;
    }
    counts_->scanned.fetch_add(1, std::memory_order_relaxed);
    return false;
  }

  // A query the probes gave up on, searched by pivots: as probe(), false past the budget.
  bool search_shells(const std::uint64_t* query, std::size_t k, int radius, std::vector<Neighbor>& out) const {
    if (shells_.empty() || scan_codes_per_probe_ == 0) return false;
    const double budget = scan_codes_per_shell_code_ > 0 ? double(indexed_) / scan_codes_per_shell_code_
                                                         : std::numeric_limits<double>::infinity();
    std::vector<Neighbor> found;
    const auto repeats = [&](std::uint32_t c) { return this->repeats(c); };
    if (!(k > 0 ? shells_.knn(query, k, budget, repeats, found) : shells_.within(query, radius, budget, found))) return false;
    out.clear();
    return expand(found, k, out);
  }

  // The distance of a distinct code to the query if (r, j) is where the probe first finds it:
  // substring j differs by exactly r, every earlier one by more, every later one by at least r.
  // Else -1.
  int distance_if_first_found(const std::uint64_t* code, const std::uint64_t* query, int j, int r) const {
    int total = 0;
    for (int i = 0; i < tables(); ++i) {
      const Table& t = tables_[std::size_t(i)];
      const int d = __builtin_popcountll(substring(code, t.offset, t.length) ^ substring(query, t.offset, t.length));
      if (i < j ? d <= r : d < r) return -1;
      total += d;
    }
    return total;
  }

  // Turns distinct codes found, (distance, code), into positions ordered by (distance, position):
  // the k best (k > 0) or all. Within the last distance a k-NN needs, only the first positions of
  // each code's list can be among them.
  bool expand(std::vector<Neighbor>& found, std::size_t k, std::vector<Neighbor>& out) const {
    std::sort(found.begin(), found.end());
    std::size_t need = k > 0 ? k : ~std::size_t(0);
    std::vector<std::uint32_t> level;
    for (std::size_t a = 0; a < found.size() && need > 0;) {
      std::size_t b = a;
      level.clear();
      for (; b < found.size() && found[b].distance == found[a].distance; ++b) {
        const std::uint32_t c = std::uint32_t(found[b].id);
        const std::uint32_t first = posting_starts_.at(c);
        const std::uint32_t last = first + std::uint32_t(std::min<std::size_t>(repeats(c), need));
        const std::uint32_t* positions = postings_.checked(first, last);
        level.insert(level.end(), positions, positions + (last - first));
      }
      const std::size_t keep = std::min(need, level.size());
      std::partial_sort(level.begin(), level.begin() + std::ptrdiff_t(keep), level.end());
      for (std::size_t i = 0; i < keep; ++i) out.push_back({found[a].distance, idx_t(level[i])});
      need -= keep;
      a = b;
    }
    return true;
  }

  // The queries `which` of a batch, row-major.
  std::vector<std::uint64_t> gather(const std::uint64_t* queries, const std::vector<std::size_t>& which) const {
    const std::size_t words = std::size_t(codes_.words());
    std::vector<std::uint64_t> out(which.size() * words);
    for (std::size_t i = 0; i < which.size(); ++i)
      std::copy(queries + which[i] * words, queries + (which[i] + 1) * words, out.begin() + std::ptrdiff_t(i * words));
    return out;
  }

  // Answers a batch (k-NN for k > 0, else within `radius`; done(q, results) finishes query q;
  // scan(scanner, n, queries, share, done) scans, for a k-NN the k * share nearest). Each query
  // goes to the tables (probes, else pivots, else the scan: answer()), whose budgets bound what a
  // query costs, but a query that gives up has spent up to about two scans before it is scanned,
  // and one that finishes just within budget about one: where most queries of a batch do (codes
  // spread evenly, large k, queries far from the codes) the tables are slower than the scan. So a
  // large batch first answers a pilot of its queries, spread over it, by the tables, and times
  // that against the scan of the same queries over a sixteenth of the codes (for the k / 16
  // nearest: the same share of each scanned block passes the bound) scaled up; the rest of the
  // batch goes to whichever was faster. Both are exact, so results are the same either way.
  template <class Done, class Scan>
  void search_batch(std::size_t nq, const std::uint64_t* queries, std::size_t k, int radius, Done&& done, Scan&& scan,
                    std::size_t keep) const {
    const std::size_t pilot_size = std::max<std::size_t>(32, 4 * std::size_t(pool_->num_threads()));
    std::vector<std::size_t> pilot, rest;
    const bool piloted = pick_scan_ && nq >= 4 * pilot_size && indexed_ >= kTuneFrom;
    for (std::size_t q = 0; q < nq; ++q)
      (piloted && q % (nq / pilot_size) == 0 && pilot.size() < pilot_size ? pilot : rest).push_back(q);
    if (!piloted) {
      by_tables(rest, queries, k, radius, done, scan, keep);
      return;
    }
    using Clock = std::chrono::steady_clock;
    const auto start = Clock::now();
    by_tables(pilot, queries, k, radius, done, scan, keep);
    const auto tabled = Clock::now();
    const std::size_t blocks = codes_.blocks().num_blocks(), sample = std::max<std::size_t>(1, blocks / 16);
    const std::vector<std::uint64_t> pilot_queries = gather(queries, pilot);
    scan(BlockScanner<Backend>(codes_.blocks(), *pool_, blocks - sample), pilot.size(), pilot_queries.data(),
         double(sample) / double(blocks), [](std::size_t, const std::vector<Neighbor>&) {});
    const auto sampled = Clock::now();
    const double tables_s = std::chrono::duration<double>(tabled - start).count();
    const double scan_s = std::chrono::duration<double>(sampled - tabled).count() * double(blocks) / double(sample);
    counts_->pilots.fetch_add(1, std::memory_order_relaxed);
    counts_->last_pilot_tables_s.store(tables_s, std::memory_order_relaxed);
    counts_->last_pilot_scan_s.store(scan_s, std::memory_order_relaxed);
    if (tables_s <= scan_s) {
      by_tables(rest, queries, k, radius, done, scan, keep);
      return;
    }
    counts_->scanned.fetch_add(rest.size(), std::memory_order_relaxed);
    counts_->batch_scans.fetch_add(1, std::memory_order_relaxed);
    const std::vector<std::uint64_t> qs = gather(queries, rest);
    scan(BlockScanner<Backend>(codes_.blocks(), *pool_), rest.size(), qs.data(), 1.0,
         [&](std::size_t i, std::vector<Neighbor> found) { done(rest[i], found); });
  }

  // Answers the queries `which` of a batch by the tables, each query on its own (answer()).
  template <class Done, class Scan>
  void by_tables(const std::vector<std::size_t>& which, const std::uint64_t* queries, std::size_t k, int radius,
                 Done& done, Scan& scan, std::size_t keep) const {
    if (which.empty()) return;
    const std::size_t words = std::size_t(codes_.words());
    const std::vector<std::uint64_t> qs = gather(queries, which);
    std::vector<std::vector<Neighbor>> found(which.size());
    std::vector<char> scanned(which.size(), 0);
    pool_->parallel_for(which.size(), [&](std::size_t i) { scanned[i] = !answer(qs.data() + i * words, k, radius, found[i]); });
    finish_with_scans(
        which.size(), qs.data(), scanned, found, [&](std::size_t i, std::vector<Neighbor>& r) { done(which[i], r); },
        [&](const BlockScanner<Backend>& s, std::size_t n, const std::uint64_t* q, auto&& d) { scan(s, n, q, 1.0, d); },
        keep);
  }

  // Completes a batch: the codes past the tables are scanned for every query and merged in; the
  // queries whose probes ran over budget are scanned over everything instead. scan(scanner, n,
  // queries, done) runs a k-NN or radius scan; done(q, results) finishes query q.
  template <class Done, class Scan>
  void finish_with_scans(std::size_t nq, const std::uint64_t* queries, const std::vector<char>& scanned,
                         std::vector<std::vector<Neighbor>>& from_tables, Done&& done, Scan&& scan,
                         std::size_t keep) const {
    std::vector<std::size_t> probed, fallback;
    for (std::size_t q = 0; q < nq; ++q) (scanned[q] ? fallback : probed).push_back(q);
    if (!fallback.empty()) {
      const std::vector<std::uint64_t> qs = gather(queries, fallback);
      scan(BlockScanner<Backend>(codes_.blocks(), *pool_), fallback.size(), qs.data(),
           [&](std::size_t i, std::vector<Neighbor> found) { done(fallback[i], found); });
    }
    if (probed.empty()) return;
    if (indexed_ == codes_.size()) {
      pool_->parallel_for(probed.size(), [&](std::size_t i) { done(probed[i], from_tables[probed[i]]); });
      return;
    }
    const std::vector<std::uint64_t> qs = gather(queries, probed);
    scan(BlockScanner<Backend>(codes_.blocks(), *pool_, indexed_ / kBlockCodes), probed.size(), qs.data(),
         [&](std::size_t i, std::vector<Neighbor> tail) {
           std::vector<Neighbor>& all = from_tables[probed[i]];
           const auto mid = all.size();
           all.insert(all.end(), tail.begin(), tail.end());
           std::inplace_merge(all.begin(), all.begin() + std::ptrdiff_t(mid), all.end());
           if (all.size() > keep) all.resize(keep);
           done(probed[i], all);
         });
  }

  int requested_tables_;
  struct AtomicCounts {
    std::atomic<std::size_t> probed{0}, by_pivots{0}, scanned{0}, pilots{0}, batch_scans{0};
    std::atomic<double> last_pilot_tables_s{0}, last_pilot_scan_s{0};
  };
  bool pick_scan_ = true;
  std::shared_ptr<AtomicCounts> counts_ = std::make_shared<AtomicCounts>();
  // A probe (a key looked up, or a candidate checked) is a cache miss, ~200 ns once the tables
  // outgrow the caches; a batched scan streams xor and popcount at ~0.05 ns per code (measured:
  // at 512, uniform 64-bit codes at 10^7 ran 5x slower than a scan; at 4096, 1.4x).
  double scan_codes_per_probe_ = 4096;
  std::size_t indexed_ = 0;  // codes [0, indexed_) are in the tables; the rest are scanned
  std::vector<Table> tables_;
  // The tabled codes grouped by value: distinct code c is distinct_[c * words ..], and its
  // positions are postings_[posting_starts_[c] .. posting_starts_[c + 1]), ascending.
  StoredArray<std::uint64_t> distinct_;
  StoredArray<std::uint32_t> posting_starts_, postings_;
  PivotShells<Backend> shells_;  // the distinct codes again, by pivot and distance to it
  // A code read from a shell (one query, the SIMD kernel over the shell's blocks) against a
  // batched scan's code. Measured (10^7 64-bit codes, 1,024 queries, k = 1 / 10 / 1000): 32 gave
  // clustered codes 89x / 41x / 5.1x the scan and uniform codes 0.62-0.81x; 16 gave 126x / 35x /
  // 5.1x and 0.50-0.75x; 4 gave 68x / 26x / 4.8x and 0.23-0.37x (uniform queries read a quarter of
  // the codes before giving up); 64 gave 4.6x / 9.7x / 3.5x and 0.65-0.84x.
  double scan_codes_per_shell_code_ = 32;
};

using MultiIndexHashing = BasicMultiIndexHashing<>;

#ifdef DEEPHASH_PRECOMPILED  // compiled once, in search/index_instances.cpp (see nn/layer_factory.hpp)
extern template class BasicMultiIndexHashing<simd::DefaultBackend>;
#endif

}  // namespace deephash
