#pragma once
// The hot loop: stream blocks of database codes past a few queries at once and hand the
// survivors (distance below the sink's bound) to each query's sink in increasing id order.
//
// Templates over the number of 64-bit words per code (1 .. kMaxUnrolledWords; 0 means a run-time
// count, for long codes) and over the number of queries sharing each load of the database. Per
// block the fast path is xor, popcount, compare and a single branch; survivors are rare and take
// the slow path.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "deephash/search/code_blocks.hpp"
#include "deephash/search/popcount.hpp"

namespace deephash {

inline constexpr int kMaxUnrolledWords = 8;
inline constexpr int kMaxWords = words_for_bits(kMaxCodeBits);

namespace detail {

// Distances of one register of codes starting at `codes` (word w at codes + w * kBlockCodes),
// for a run-time number of words.
template <class Backend>
typename Backend::reg distance_any_length(const std::uint64_t* codes, const typename Backend::reg* q,
                                          int words) {
  auto total = Backend::zero();
  for (int w0 = 0; w0 < words; w0 += Backend::max_words_per_count) {
    const int w1 = std::min(words, w0 + Backend::max_words_per_count);
    auto counts = Backend::zero();
    for (int w = w0; w < w1; ++w)
      counts = Backend::add(counts, Backend::count(Backend::bitwise_xor(
                                        Backend::load(codes + std::size_t(w) * kBlockCodes), q[w])));
    total = Backend::add(total, Backend::finish(counts));
  }
  return total;
}

}  // namespace detail

// How many queries share each database load: enough to reuse the loaded registers, few enough
// to keep queries, codes and distances in registers.
template <int Words, class Backend>
constexpr int queries_per_pass() {
  if (Words == 0) return 1;
  constexpr int regs = Words * int(kBlockCodes / Backend::lanes);
  return regs <= 2 ? 4 : regs <= 4 ? 2 : 1;
}

// Scans blocks [first_block, last_block) for Group queries: queries[g] has db.words() words and
// its survivors go to sinks[g].
template <int Words, int Group, class Backend, class Sink>
void scan_blocks(const CodeBlocks& db, std::size_t first_block, std::size_t last_block,
                 const std::uint64_t* const* queries, Sink* const* sinks) {
  using reg = typename Backend::reg;
  constexpr std::size_t lanes = Backend::lanes;
  constexpr std::size_t regs_per_word = kBlockCodes / lanes;
  static_assert(kBlockCodes % lanes == 0, "a block must hold whole registers");
  static_assert(Words == 0 || Group == 1 || Words <= Backend::max_words_per_count, "");
  static_assert(Words > 0 || Group == 1, "long codes are scanned one query at a time");

  const int words = Words > 0 ? Words : db.words();
  const std::uint64_t mask = last_word_mask(db.bits());
  reg q[Group][Words > 0 ? Words : kMaxWords];
  reg bound[Group];
  for (int g = 0; g < Group; ++g) {
    for (int w = 0; w < words; ++w)
      q[g][w] = Backend::broadcast(queries[g][w] & (w == words - 1 ? mask : ~std::uint64_t(0)));
    bound[g] = Backend::broadcast(std::uint64_t(sinks[g]->bound()));
  }

  const std::size_t n = db.size();
  const std::size_t stride = db.words_per_block();
  const std::uint64_t* block = db.block(first_block);
  for (std::size_t b = first_block; b < last_block; ++b, block += stride) {
    reg d[Group][regs_per_word];
    unsigned any = 0;
    if constexpr (Words > 0) {
      reg x[regs_per_word][Words];
      for (std::size_t r = 0; r < regs_per_word; ++r)
        for (int w = 0; w < Words; ++w) x[r][w] = Backend::load(block + std::size_t(w) * kBlockCodes + r * lanes);
      for (int g = 0; g < Group; ++g)
        for (std::size_t r = 0; r < regs_per_word; ++r) {
          reg counts = Backend::count(Backend::bitwise_xor(x[r][0], q[g][0]));
          for (int w = 1; w < Words; ++w)
            counts = Backend::add(counts, Backend::count(Backend::bitwise_xor(x[r][w], q[g][w])));
          d[g][r] = Backend::finish(counts);
          any |= Backend::any_below(d[g][r], bound[g]);
        }
    } else {
      for (std::size_t r = 0; r < regs_per_word; ++r) {
        d[0][r] = detail::distance_any_length<Backend>(block + r * lanes, q[0], words);
        any |= Backend::any_below(d[0][r], bound[0]);
      }
    }
    if (__builtin_expect(any != 0, 0)) {
      // One bit per (query, code) of this block, walked in one loop: a single hard-to-predict
      // branch per visit rather than one per register.
      static_assert(Group * kBlockCodes <= 64, "survivor bits must fit one word");
      std::uint64_t survivors = 0;
      alignas(64) std::uint64_t dist[Group][kBlockCodes];
      for (int g = 0; g < Group; ++g)
        for (std::size_t r = 0; r < regs_per_word; ++r) {
          survivors |= std::uint64_t(Backend::lanes_below(d[g][r], bound[g]))
                       << (std::size_t(g) * kBlockCodes + r * lanes);
          Backend::store(dist[g] + r * lanes, d[g][r]);
        }
      const std::size_t first_id = b * kBlockCodes;
      do {
        const unsigned bit = unsigned(__builtin_ctzll(survivors));
        survivors &= survivors - 1;
        const std::size_t g = bit / kBlockCodes, c = bit % kBlockCodes;
        const int distance = int(dist[g][c]);
        if (first_id + c < n && distance < sinks[g]->bound()) sinks[g]->add(idx_t(first_id + c), distance);
      } while (survivors != 0);
      for (int g = 0; g < Group; ++g) bound[g] = Backend::broadcast(std::uint64_t(sinks[g]->bound()));
    }
  }
}

// One query.
template <int Words, class Backend, class Sink>
void scan_blocks(const CodeBlocks& db, std::size_t first_block, std::size_t last_block,
                 const std::uint64_t* query, Sink& sink) {
  Sink* sinks[1] = {&sink};
  scan_blocks<Words, 1, Backend>(db, first_block, last_block, &query, sinks);
}

// Adds the distances from `query` to every code of the given blocks to histogram[0 .. bits]. Used
// on a small sample of the database to estimate how far away the k-th neighbour will be.
template <class Backend>
void add_distance_histogram(const CodeBlocks& db, const std::size_t* blocks, std::size_t num_blocks,
                            const std::uint64_t* query, std::uint32_t* histogram) {
  using reg = typename Backend::reg;
  constexpr std::size_t lanes = Backend::lanes;
  const int words = db.words();
  const std::uint64_t mask = last_word_mask(db.bits());
  reg q[kMaxWords];
  for (int w = 0; w < words; ++w)
    q[w] = Backend::broadcast(query[w] & (w == words - 1 ? mask : ~std::uint64_t(0)));
  alignas(64) std::uint64_t dist[lanes];
  for (std::size_t i = 0; i < num_blocks; ++i) {
    const std::size_t b = blocks[i];
    const std::size_t valid = std::min(kBlockCodes, db.size() - b * kBlockCodes);
    for (std::size_t r = 0; r * lanes < valid; ++r) {
      Backend::store(dist, detail::distance_any_length<Backend>(db.block(b) + r * lanes, q, words));
      for (std::size_t l = 0; l < lanes && r * lanes + l < valid; ++l) ++histogram[dist[l]];
    }
  }
}

// Calls body(std::integral_constant<int, W>{}) with W = words when words <= kMaxUnrolledWords,
// else with W = 0 (run-time word count).
template <class Body>
decltype(auto) dispatch_words(int words, Body&& body) {
  switch (words) {
    case 1: return body(std::integral_constant<int, 1>{});
    case 2: return body(std::integral_constant<int, 2>{});
    case 3: return body(std::integral_constant<int, 3>{});
    case 4: return body(std::integral_constant<int, 4>{});
    case 5: return body(std::integral_constant<int, 5>{});
    case 6: return body(std::integral_constant<int, 6>{});
    case 7: return body(std::integral_constant<int, 7>{});
    case 8: return body(std::integral_constant<int, 8>{});
    default: return body(std::integral_constant<int, 0>{});
  }
}

}  // namespace deephash
