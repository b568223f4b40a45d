// The indexes, FAISS's way: index.add(codes), D, I = index.search(queries, k),
// lims, D, I = index.range_search(queries, radius), ids and removal, save / load, bytes and
// pickling; and the paper's coarse-to-fine rerank on top of any of them.

#include <pybind11/stl.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <string>
#include <tuple>

#include "arrays.hpp"
#include "bindings.hpp"
#include "deephash/io/container/index_file.hpp"
#include "deephash/search/coarse_to_fine.hpp"
#include "deephash/search/hamming_index.hpp"
#include "deephash/search/multi_index_hashing.hpp"

namespace deephash::python {

namespace {

const StoredCodesIndex& stored(const BinaryIndex& index) {
  const auto* s = dynamic_cast<const StoredCodesIndex*>(&index);
  if (!s) throw py::type_error("a " + index.kind() + " index cannot be handled from Python");
  return *s;
}

// `index`, made with threads_or_default(num_threads) (which a loaded multi-index hashing builds
// its tables with), searching with the module's shared pool when no count was given:
// deephash.set_num_threads then applies to it whenever it was made.
template <class Index>
std::unique_ptr<Index> with_threads(std::unique_ptr<Index> index, int num_threads) {
  if (num_threads == 0) const_cast<StoredCodesIndex&>(stored(*index)).use_thread_pool(shared_thread_pool());
  return index;
}

// k as Python searches with it: positive, and at most the index's size, as the deephash command
// shows at most the database. Results are nq x k, so an uncapped k = 10**9 would allocate 12 GB a
// query (FAISS pads such ranks with -1) before a single distance is computed.
idx_t capped_k(const BinaryIndex& index, idx_t k, const char* name = "k") {
  if (k <= 0) throw py::value_error(std::string(name) + " must be >= 1, got " + std::to_string(k));
  return std::min(k, index.size());
}

std::tuple<py::array_t<std::int32_t>, py::array_t<idx_t>> search(const BinaryIndex& index, const py::handle& queries, idx_t k) {
  k = capped_k(index, k);
  const CodesArg q(queries, index.bits(), "queries");
  const py::ssize_t nq = py::ssize_t(q.size());
  py::array_t<std::int32_t> distances({nq, py::ssize_t(k)});
  py::array_t<idx_t> labels({nq, py::ssize_t(k)});
  std::int32_t* d = distances.mutable_data();
  idx_t* l = labels.mutable_data();
  {
    py::gil_scoped_release unlocked;
    index.search(idx_t(nq), q.words(), k, d, l);
  }
  return {distances, labels};
}

std::tuple<py::array_t<std::uint64_t>, py::array_t<std::int32_t>, py::array_t<idx_t>> range_search(const BinaryIndex& index,
                                                                                                     const py::handle& queries,
                                                                                                     int radius) {
  if (radius < 0) throw py::value_error("radius must be >= 0, got " + std::to_string(radius));
  const CodesArg q(queries, index.bits(), "queries");
  RangeSearchResult r;
  {
    py::gil_scoped_release unlocked;
    r = index.range_search(idx_t(q.size()), q.words(), radius);
  }
  std::vector<std::uint64_t> lims(r.lims.begin(), r.lims.end());
  return {vector_to_numpy(std::move(lims)), vector_to_numpy(std::move(r.distances)), vector_to_numpy(std::move(r.labels))};
}

void add(BinaryIndex& index, const py::handle& codes, const py::handle& ids) {
  const CodesArg c(codes, index.bits(), "codes");
  if (ids.is_none()) {
    py::gil_scoped_release unlocked;
    index.add(idx_t(c.size()), c.words());
    return;
  }
  const std::vector<idx_t> i = ids_arg(ids, "ids");
  if (i.size() != c.size())
    throw py::value_error(std::to_string(c.size()) + " codes but " + std::to_string(i.size()) + " ids");
  py::gil_scoped_release unlocked;
  index.add_with_ids(idx_t(c.size()), c.words(), i.data());
}

py::bytes to_bytes(const BinaryIndex& index) {
  std::vector<std::uint8_t> bytes;
  {
    py::gil_scoped_release unlocked;
    bytes = stored(index).to_bytes();
  }
  return py::bytes(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

std::unique_ptr<BinaryIndex> from_bytes(const py::bytes& data, int num_threads) {
  const std::string_view view(data);
  std::vector<std::uint8_t> bytes(view.begin(), view.end());
  const unsigned threads = threads_or_default(num_threads);
  py::gil_scoped_release unlocked;
  return with_threads(parse_index(bytes, "index bytes", threads), num_threads);
}

// Unpickling into the class that was pickled: the bytes say which kind they hold.
template <class Index>
std::unique_ptr<Index> unpickle(const py::bytes& data) {
  std::unique_ptr<BinaryIndex> index = from_bytes(data, 0);
  if (!dynamic_cast<Index*>(index.get())) throw py::value_error("the pickled bytes hold a " + index->kind() + " index");
  return std::unique_ptr<Index>(static_cast<Index*>(index.release()));
}

constexpr const char* kIndexDoc = R"(What every index offers, shaped like FAISS's IndexBinary.

Codes are numpy uint8 rows in FAISS's layout (ceil(bits / 8) bytes, bit j in byte j // 8 at
position j % 8) or bool rows of `bits` values; one code may be given as a 1-D row. Results are
ordered by (distance, id): ties by ascending id. k must be >= 1 and is capped at the index's
size: search(queries, k) returns nq x min(k, ntotal) results (FAISS would pad the ranks past
ntotal with id -1; deephash does not allocate them). Searches release the GIL: threads may search
one index at once; nothing may change it meanwhile.)";

}  // namespace

void bind_index(py::module_& m) {
  py::class_<BinaryIndex>(m, "BinaryIndex", kIndexDoc)
      .def_property_readonly("bits", &BinaryIndex::bits, "Code length in bits.")
      .def_property_readonly("code_size", [](const BinaryIndex& i) { return faiss_code_size(i.bits()); },
                             "Bytes per code in FAISS's layout: ceil(bits / 8).")
      .def_property_readonly("ntotal", &BinaryIndex::size, "Number of codes (FAISS's name).")
      .def_property_readonly("kind", &BinaryIndex::kind, "\"flat\" or \"mih\".")
      .def("__len__", &BinaryIndex::size)
      .def("__contains__", &BinaryIndex::contains, py::arg("id"))
      .def("add", [](BinaryIndex& i, const py::handle& codes) { add(i, codes, py::none()); }, py::arg("codes"),
           "Adds codes; they get the ids next_id, next_id + 1, ... (0, 1, 2, ... for a fresh index).")
      .def("add_with_ids", &add, py::arg("codes"), py::arg("ids"),
           "Adds codes with their ids: non-negative int64, unique in the index.")
      .def("search", &search, py::arg("queries"), py::arg("k"),
           "D, I = index.search(queries, k): int32 Hamming distances and int64 ids, both nq x min(k, ntotal);\n"
           "k must be >= 1.")
      .def("range_search", &range_search, py::arg("queries"), py::arg("radius"),
           R"(lims, D, I = index.range_search(queries, radius): every code within Hamming distance
<= radius; query i's results are D[lims[i]:lims[i + 1]] and I[lims[i]:lims[i + 1]].)")
      .def("remove_ids", [](BinaryIndex& i, const py::handle& ids) {
             const std::vector<idx_t> v = ids_arg(ids, "ids");
             py::gil_scoped_release unlocked;
             return i.remove_ids(v);
           }, py::arg("ids"), "Removes the codes of these ids (absent ids are ignored); returns how many went.")
      .def("reset", &BinaryIndex::reset, "Removes every code.")
      .def("ids", [](const BinaryIndex& i) { return vector_to_numpy(i.ids()); }, "Every id, ascending (int64).")
      .def_property_readonly("next_id", &BinaryIndex::next_id, "One past the largest id (0 when empty).")
      .def("reconstruct", [](const BinaryIndex& i, idx_t id) {
             BitCodes c(1, i.bits());
             i.reconstruct(id, c.data());
             return codes_to_numpy(std::move(c)).attr("reshape")(faiss_code_size(i.bits()));
           }, py::arg("id"), "The code of one id (uint8, ceil(bits / 8) bytes).")
      .def("codes", [](const BinaryIndex& i) { return codes_to_numpy(i.codes()); }, "Every code, in ascending id order (uint8).")
      .def("save", [](const BinaryIndex& i, const std::string& path) {
             py::gil_scoped_release unlocked;
             i.save(path);
           }, py::arg("path"), "Writes the index to a checksummed file, atomically (a failed save keeps the old file).")
      .def("to_bytes", &to_bytes, "The bytes save() writes (index_from_bytes reads them back; pickling uses them).")
      .def_property("num_threads", [](const BinaryIndex& i) { return stored(i).num_threads(); },
                    [](BinaryIndex& i, long long n) {
                      const_cast<StoredCodesIndex&>(stored(i)).set_num_threads(check_num_threads(n, "num_threads"));
                    }, R"(Threads the index searches with (1 to 1024). An index made without a count follows
deephash.set_num_threads until it is given one here.)")
      .def_property_readonly("memory_bytes", &BinaryIndex::memory_bytes, "Bytes the index holds in memory.")
      .def("__repr__", [](const BinaryIndex& i) {
        return "<deephash " + std::string(i.kind() == "mih" ? "MultiIndexHashing" : "HammingIndex") + ": " +
               std::to_string(i.size()) + " codes of " + std::to_string(i.bits()) + " bits>";
      });

  py::class_<HammingIndex, BinaryIndex>(m, "HammingIndex", R"(Exact Hamming search by scanning every code with SIMD popcount
(FAISS's IndexBinaryFlat; IndexBinaryIDMap2 when codes are added with ids).

HammingIndex(bits, num_threads=0): num_threads 0 follows deephash.set_num_threads.)")
      .def(py::init([](int bits, int num_threads) {
             return with_threads(std::make_unique<HammingIndex>(bits, threads_or_default(num_threads)), num_threads);
           }),
           py::arg("bits"), py::arg("num_threads") = 0)
      .def_property_readonly_static("backend", [](const py::object&) { return std::string(HammingIndex::backend_name()); },
                                    "The SIMD kernel this build runs (e.g. avx512-vpopcntdq).")
      .def(py::pickle([](const HammingIndex& i) { return to_bytes(i); }, &unpickle<HammingIndex>));

  py::class_<MultiIndexHashing, BinaryIndex>(m, "MultiIndexHashing", R"(Exact Hamming k-NN and radius search that reads a small part of the database
(Norouzi et al., CVPR 2012), with results identical to HammingIndex.

MultiIndexHashing(bits, tables=0, num_threads=0): tables 0 lets the index choose them on its
codes at each rebuild.)")
      .def(py::init([](int bits, int tables, int num_threads) {
             return with_threads(std::make_unique<MultiIndexHashing>(bits, tables, threads_or_default(num_threads)), num_threads);
           }),
           py::arg("bits"), py::arg("tables") = 0, py::arg("num_threads") = 0)
      .def_property_readonly("tables", &MultiIndexHashing::tables, "Tables (substrings) in use.")
      .def(py::pickle([](const MultiIndexHashing& i) { return to_bytes(i); }, &unpickle<MultiIndexHashing>));

  m.def("load_index", [](const std::string& path, int num_threads, bool mmap, int bits) {
          require_file(path);
          if (bits < 0) throw py::value_error("bits must be >= 0, got " + std::to_string(bits));
          const unsigned threads = threads_or_default(num_threads);
          py::gil_scoped_release unlocked;
          return with_threads(mmap ? map_index(path, threads, Verification::on_first_use, bits) : load_index(path, threads, bits),
                              num_threads);
        },
        py::arg("path"), py::arg("num_threads") = 0, py::arg("mmap") = false, py::arg("bits") = 0,
        R"(Reads an index file back as the kind that wrote it (HammingIndex or MultiIndexHashing),
checking every checksum. mmap=True maps the file instead: it opens at once whatever its size and
processes mapping one file share its pages; each chunk is checked when first read.

FAISS's binary index files (faiss.write_index_binary of an IndexBinaryFlat, or an
IndexBinaryIDMap / IDMap2 around one; `deephash index --format faiss`) are read as a HammingIndex
with the file's ids, mmap or not. FAISS stores whole bytes: bits gives the true code length of a
file whose codes were padded to them (e.g. 12 for 12-bit codes stored as 16; 0: as stored).)");
  m.def("index_from_bytes", &from_bytes, py::arg("data"), py::arg("num_threads") = 0,
        "An index from the bytes of index.to_bytes() (or of an index file).");

  // The benchmark's anchor (bench/bench_python.py): the same search timed inside C++, queries
  // converted and results allocated once, so that the difference is what Python adds.
  m.def("_search_seconds", [](const BinaryIndex& index, const py::handle& queries, idx_t k, int repeats) {
          const CodesArg q(queries, index.bits(), "queries");
          std::vector<std::int32_t> d(q.size() * std::size_t(k));
          std::vector<idx_t> l(d.size());
          std::vector<double> seconds;
          py::gil_scoped_release unlocked;
          for (int r = 0; r < repeats; ++r) {
            const auto start = std::chrono::steady_clock::now();
            index.search(idx_t(q.size()), q.words(), k, d.data(), l.data());
            seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
          }
          return seconds;
        },
        py::arg("index"), py::arg("queries"), py::arg("k"), py::arg("repeats"));

  m.def("rerank", [](const BinaryIndex& index, const py::handle& database_features, const py::handle& query_codes,
                     const py::handle& query_features, idx_t k, idx_t pool, int radius) {
          const MatrixArg db(database_features, "database_features"), qf(query_features, "query_features");
          const CodesArg q(query_codes, index.bits(), "query_codes");
          const BitCodes queries = q.codes();
          if (pool <= 0 && radius < 0) throw py::value_error("give a candidate pool: pool > 0 (nearest codes) or radius >= 0");
          // Both allocate nq x k (or pool) results: capped at the index's size as search is.
          k = capped_k(index, k);
          if (pool > 0) pool = std::max<idx_t>(1, capped_k(index, pool, "pool"));
          RerankedResult r;
          {
            py::gil_scoped_release unlocked;
            r = coarse_to_fine_search(index, db.map(), queries, qf.map(),
                                      pool > 0 ? CandidatePool::top(pool) : CandidatePool::within_radius(radius), k);
          }
          const py::ssize_t nq = py::ssize_t(r.nq), kk = py::ssize_t(r.k);
          return std::make_tuple(vector_to_numpy(std::move(r.euclidean)).attr("reshape")(nq, kk),
                                 vector_to_numpy(std::move(r.labels)).attr("reshape")(nq, kk),
                                 vector_to_numpy(std::move(r.hamming)).attr("reshape")(nq, kk));
        },
        py::arg("index"), py::arg("database_features"), py::arg("query_codes"), py::arg("query_features"), py::arg("k"),
        py::arg("pool") = 0, py::arg("radius") = -1,
        R"(The paper's coarse-to-fine retrieval: the index gives each query a candidate pool (its `pool`
nearest codes, or every code within `radius`), re-ranked by Euclidean distance between float
features (fc7). database_features: one float32 row per id. Returns E, I, H, each nq x k:
Euclidean distances, ids (-1 past the pool) and Hamming distances; k (>= 1) and pool are capped
at the index's size as in search.)");
}

}  // namespace deephash::python
