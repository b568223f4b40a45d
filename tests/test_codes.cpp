// Packed codes, thresholding, and the FAISS byte layout.
#include <doctest/doctest.h>

#include <deephash/codes/binarize.hpp>
#include <deephash/codes/faiss_layout.hpp>

#include "support.hpp"

using namespace deephash;

TEST_CASE("bit j of a code is bit j % 64 of word j / 64, least significant first") {
  BitCodes c(2, 130);
  CHECK(c.words_per_code() == 3);
  c.set_bit(0, 0, true);
  c.set_bit(0, 63, true);
  c.set_bit(0, 64, true);
  c.set_bit(1, 129, true);
  CHECK(c.code(0)[0] == (1ull | 1ull << 63));
  CHECK(c.code(0)[1] == 1ull);
  CHECK(c.code(1)[2] == 2ull);
  CHECK(c.bit(1, 129));
  CHECK_FALSE(c.bit(1, 128));
  c.set_bit(0, 63, false);
  CHECK(c.code(0)[0] == 1ull);
}

TEST_CASE("bit_columns takes the same bits of every code, across word boundaries") {
  BitCodes c(2, 130);
  for (int j : {3, 62, 63, 64, 70, 129}) c.set_bit(0, j, true);
  c.set_bit(1, 61, true);
  const BitCodes mid = c.bit_columns(62, 10);  // bits 62 .. 71
  CHECK(mid.bits() == 10);
  CHECK(mid.size() == 2);
  CHECK(mid.code(0)[0] == (1ull << 0 | 1ull << 1 | 1ull << 2 | 1ull << 8));
  CHECK(mid.code(1)[0] == 0);
  CHECK(c.bit_columns(0, 130) == c);
  CHECK_THROWS_AS(c.bit_columns(121, 10), Error);
  CHECK_THROWS_AS(c.bit_columns(0, 0), Error);
}

TEST_CASE("binarize: > 0.5 for sigmoid outputs, sign for +-1 outputs, exact 0.5 is a 0 bit") {
  const float act[] = {0.9f, 0.5f, 0.5000001f, 0.1f, 1.0f, 0.0f};
  const BitCodes c = binarize(act, 2, 3);
  CHECK(c.bits() == 3);
  CHECK(c.code(0)[0] == 0b101);  // 0.9 > .5, 0.5 is not, 0.5000001 is
  CHECK(c.code(1)[0] == 0b010);  // 0.1, 1.0, 0.0
  Eigen::MatrixXd signs(1, 3);
  signs << -0.2, 0.0, 3.0;
  CHECK(binarize_sign(signs).code(0)[0] == 0b100);
}

TEST_CASE("binarize refuses NaN and names its position") {
  const float act[] = {0.9f, std::numeric_limits<float>::quiet_NaN()};
  CHECK_THROWS_WITH_AS(binarize(act, 1, 2), doctest::Contains("row 0, column 1 is NaN"), Error);
  const float inf[] = {std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity()};
  CHECK(binarize(inf, 1, 2).code(0)[0] == 0b01);
}

TEST_CASE("code lengths from 1 to 4096 bits") {
  for (int bits : {1, 12, 48, 64, 1000, 4096}) {
    std::vector<float> act(static_cast<std::size_t>(bits));
    for (int j = 0; j < bits; ++j) act[std::size_t(j)] = j % 3 == 0 ? 0.9f : 0.1f;
    const BitCodes c = binarize(act.data(), 1, bits);
    for (int j = 0; j < bits; ++j) CHECK(c.bit(0, j) == (j % 3 == 0));
  }
  CHECK_THROWS_AS(BitCodes(1, 4097), Error);
  CHECK_THROWS_AS(BitCodes(1, 0), Error);
}

TEST_CASE("FAISS byte layout round trip, and bit j lands in byte j / 8 at j % 8") {
  const BitCodes c = test::random_codes(50, 100, 3);
  const std::vector<std::uint8_t> bytes = to_faiss_bytes(c);
  CHECK(bytes.size() == 50u * 13u);
  for (std::size_t i = 0; i < c.size(); ++i)
    for (int j = 0; j < 100; ++j) CHECK(bool((bytes[i * 13 + std::size_t(j / 8)] >> (j % 8)) & 1) == c.bit(i, j));
  CHECK(from_faiss_bytes(bytes.data(), 50, 100) == c);
}

TEST_CASE("append, slice and select keep codes and refuse mismatched lengths") {
  BitCodes a = test::random_codes(5, 48, 1);
  const BitCodes b = test::random_codes(3, 48, 2);
  a.append(b);
  CHECK(a.size() == 8);
  CHECK(a.slice(5, 8) == b);
  CHECK(a.select({6, 5}).code(1)[0] == b.code(0)[0]);
  CHECK_THROWS_WITH_AS(a.append(test::random_codes(1, 32, 3)), doctest::Contains("code lengths differ"), Error);
  CHECK_THROWS_AS(a.select({8}), Error);
  CHECK_THROWS_AS(a.slice(3, 9), Error);
}
