// Retrieval quality: mAP@k under each of the literature's normalisations, precision@k, the
// paper's protocol, hash-lookup curves; and the unsupervised baselines LSH and ITQ.

#include <pybind11/stl.h>

#include <memory>
#include <string>
#include <vector>

#include "arrays.hpp"
#include "bindings.hpp"
#include "deephash/eval/baselines/itq.hpp"
#include "deephash/eval/baselines/lsh.hpp"
#include "deephash/eval/hamming_ranking.hpp"
#include "deephash/eval/protocol.hpp"
#include "deephash/eval/relevance.hpp"

namespace deephash::python {

namespace {

ApNormalization normalization_arg(const std::string& name) {
  for (ApNormalization n : {ApNormalization::RelevantRetrieved, ApNormalization::MinRelevantK, ApNormalization::AllRelevant})
    if (name == to_string(n)) return n;
  throw py::value_error("normalization must be \"relevant-retrieved\" (the paper's), \"min-relevant-k\" or \"all-relevant\", got \"" +
                        name + "\"");
}

// Multi-hot labels (items x labels, nonzero = has the label) as label lists.
std::vector<std::vector<int>> multi_hot_arg(const py::array& a, const std::string& name) {
  const char kind = a.dtype().kind();
  if (kind != 'b' && kind != 'i' && kind != 'u') throw py::type_error(name + " must be bool or integer multi-hot rows, got " + describe_dtype(a));
  const auto values = py::array_t<std::uint8_t, py::array::c_style | py::array::forcecast>::ensure(a);
  const std::size_t n = std::size_t(a.shape(0)), width = std::size_t(a.shape(1));
  std::vector<std::vector<int>> sets(n);
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = 0; j < width; ++j)
      if (values.data()[i * width + j]) sets[i].push_back(int(j));
  return sets;
}

// Calls f with the ground truth the labels describe: single labels (both 1-D, same class =
// relevant) or multi-hot rows (both 2-D, a shared label = relevant).
template <class F>
auto with_relevance(const py::handle& query_labels, const py::handle& database_labels, F&& f) {
  const py::array q = as_array(query_labels, "query_labels"), d = as_array(database_labels, "database_labels");
  if (q.ndim() == 1 && d.ndim() == 1)
    return f(SingleLabelRelevance(labels_arg(q, "query_labels"), labels_arg(d, "database_labels")));
  if (q.ndim() == 2 && d.ndim() == 2)
    return f(MultiLabelRelevance(multi_hot_arg(q, "query_labels"), multi_hot_arg(d, "database_labels")));
  throw py::value_error("query_labels and database_labels must both be 1-D (one class per item) or both 2-D (multi-hot rows); got shapes " +
                        describe_shape(q) + " and " + describe_shape(d));
}

// A ranking given from Python: nq x width int64 ids, best first, -1 past the database.
struct RankingArg {
  py::array_t<idx_t> ids;
  std::size_t nq = 0, width = 0;
};

template <class Relevance>
RankingArg ranking_arg(const py::handle& object, const Relevance& relevance, idx_t depth) {
  const py::array a = as_array(object, "ranking");
  if (a.dtype().kind() != 'i' && a.dtype().kind() != 'u') throw py::type_error("ranking must hold integer ids, got " + describe_dtype(a));
  if (a.ndim() != 2) throw py::value_error("ranking must be 2-D (queries x ranks), got shape " + describe_shape(a));
  RankingArg r{py::array_t<idx_t, py::array::c_style | py::array::forcecast>::ensure(a), std::size_t(a.shape(0)), std::size_t(a.shape(1))};
  if (r.nq != relevance.num_queries())
    throw py::value_error("ranking has " + std::to_string(r.nq) + " rows but there are " + std::to_string(relevance.num_queries()) +
                          " query labels");
  if (depth < 1 || std::size_t(depth) > r.width)
    throw py::value_error("ranking has " + std::to_string(r.width) + " ranks per query; k and every cut-off must be between 1 and that, got " +
                          std::to_string(depth));
  const idx_t* ids = r.ids.data();
  for (std::size_t i = 0; i < r.nq * r.width; ++i)
    if (ids[i] < -1 || ids[i] >= idx_t(relevance.database_size()))
      throw py::value_error("ranking[" + std::to_string(i / r.width) + ", " + std::to_string(i % r.width) + "] = " + std::to_string(ids[i]) +
                            " is not an id of the " + std::to_string(relevance.database_size()) + " database items (or -1)");
  return r;
}

idx_t deepest(idx_t k, const std::vector<idx_t>& cutoffs) {
  idx_t d = k;
  for (idx_t c : cutoffs) {
    if (c < 1) throw py::value_error("cut-offs must be >= 1, got " + std::to_string(c));
    d = std::max(d, c);
  }
  return d;
}

RankingScores score(const py::handle& ranking, const py::handle& query_labels, const py::handle& database_labels, idx_t k,
                    const std::string& normalization, std::vector<idx_t> cutoffs) {
  const ApNormalization n = normalization_arg(normalization);
  if (k < 1) throw py::value_error("k must be >= 1, got " + std::to_string(k));
  if (cutoffs.empty()) cutoffs = default_precision_cutoffs(k);
  return with_relevance(query_labels, database_labels, [&](const auto& relevance) {
    const RankingArg r = ranking_arg(ranking, relevance, deepest(k, cutoffs));
    py::gil_scoped_release unlocked;
    ThreadPool pool(default_threads());
    return score_rankings(r.ids.data(), r.nq, r.width, relevance, k, n, cutoffs, pool);
  });
}

template <class Relevance>
void check_index_and_labels(const BinaryIndex& index, const CodesArg& queries, const Relevance& relevance) {
  if (queries.size() != relevance.num_queries())
    throw py::value_error(std::to_string(queries.size()) + " query codes but " + std::to_string(relevance.num_queries()) + " query labels");
  if (std::size_t(index.size()) != relevance.database_size())
    throw py::value_error("the index holds " + std::to_string(index.size()) + " codes but there are " +
                          std::to_string(relevance.database_size()) + " database labels");
  if (index.next_id() != index.size())
    throw py::value_error("the index's ids must be 0 .. n - 1 (the database labels' positions)");
}

// Evaluation over an index: the codes' labels are the database labels' rows.
template <class F>
auto with_index_relevance(const BinaryIndex& index, const py::handle& queries, const py::handle& query_labels,
                          const py::handle& database_labels, F&& f) {
  const CodesArg q(queries, index.bits(), "queries");
  const BitCodes codes = q.codes();
  return with_relevance(query_labels, database_labels, [&](const auto& relevance) {
    check_index_and_labels(index, q, relevance);
    py::gil_scoped_release unlocked;
    return f(codes, relevance);
  });
}

py::dict radius_curve_dict(const RadiusCurve& c) {
  py::dict d;
  d["precision"] = vector_to_numpy(c.precision);
  d["recall"] = vector_to_numpy(c.recall);
  d["empty_fraction"] = vector_to_numpy(c.empty_fraction);
  return d;
}

// fit / encode / loss of a baseline hasher over float32 features.
template <class Hasher>
void bind_hasher(py::class_<Hasher>& c) {
  c.def("fit", [](Hasher& h, const py::handle& x) {
     const MatrixArg m(x, "x");
     py::gil_scoped_release unlocked;
     ThreadPool pool(default_threads());
     h.fit(m.map(), pool);
   }, py::arg("x"), "Learns from training features (float32, samples x features).")
      .def("encode", [](const Hasher& h, const py::handle& x) {
        const MatrixArg m(x, "x");
        BitCodes codes;
        {
          py::gil_scoped_release unlocked;
          codes = h.encode(m.map());
        }
        return codes_to_numpy(std::move(codes));
      }, py::arg("x"), "Codes of features (uint8, FAISS's layout).")
      .def_property_readonly("bits", &Hasher::bits);
}

}  // namespace

void bind_eval(py::module_& m) {
  py::class_<RankingScores>(m, "RankingScores", "mAP over the top k and mean precision at each cut-off.")
      .def_readonly("k", &RankingScores::k)
      .def_property_readonly("normalization", [](const RankingScores& s) { return std::string(to_string(s.normalization)); })
      .def_readonly("map", &RankingScores::map, "Mean average precision over the top k.")
      .def_property_readonly("cutoffs", [](const RankingScores& s) { return vector_to_numpy(s.cutoffs); })
      .def_property_readonly("precision", [](const RankingScores& s) { return vector_to_numpy(s.precision); },
                             "Mean precision at each cut-off.")
      .def_property_readonly("average_precision", [](const RankingScores& s) { return vector_to_numpy(s.average_precision); },
                             "AP of each query.")
      .def("__repr__", [](const RankingScores& s) {
        return "<RankingScores mAP@" + std::to_string(s.k) + " " + std::to_string(s.map) + " (" + to_string(s.normalization) + ")>";
      });

  constexpr const char* kNormalizations =
      R"(normalization: "relevant-retrieved" (the paper's: AP divided by the relevant items found in
the top k, 0 if none), "min-relevant-k" (by min(R, k)) or "all-relevant" (by R), R being the
query's relevant items in the whole database. Labels: 1-D class ids (same class = relevant) or
2-D multi-hot rows (a shared label = relevant).)";

  m.def("score_rankings", &score, py::arg("ranking"), py::arg("query_labels"), py::arg("database_labels"), py::arg("k") = 1000,
        py::arg("normalization") = "relevant-retrieved", py::arg("cutoffs") = std::vector<idx_t>{},
        (std::string("Scores rankings already computed (e.g. I of index.search): ranking is nq x width int64 ids,\n"
                     "best first, -1 past the database. Returns RankingScores.\n") + kNormalizations).c_str());
  m.def("map_at_k", [](const py::handle& ranking, const py::handle& q, const py::handle& d, idx_t k, const std::string& n) {
          return score(ranking, q, d, k, n, {k}).map;
        },
        py::arg("ranking"), py::arg("query_labels"), py::arg("database_labels"), py::arg("k") = 1000,
        py::arg("normalization") = "relevant-retrieved",
        (std::string("mAP over the first k ranks of each query's ranking (nq x >= k int64 ids).\n") + kNormalizations).c_str());
  m.def("precision_at_k", [](const py::handle& ranking, const py::handle& q, const py::handle& d, idx_t k) {
          return score(ranking, q, d, k, "relevant-retrieved", {k}).precision.front();
        },
        py::arg("ranking"), py::arg("query_labels"), py::arg("database_labels"), py::arg("k"),
        "Mean fraction of the first k ranks that hold a relevant item.");
  m.def("evaluate", [](const BinaryIndex& index, const py::handle& queries, const py::handle& q, const py::handle& d, idx_t k,
                       const std::string& n, std::vector<idx_t> cutoffs) {
          const ApNormalization norm = normalization_arg(n);
          if (k < 1) throw py::value_error("k must be >= 1, got " + std::to_string(k));
          deepest(k, cutoffs);
          return with_index_relevance(index, queries, q, d, [&](const BitCodes& codes, const auto& relevance) {
            return evaluate_hamming_ranking(index, codes, relevance, k, norm, cutoffs);
          });
        },
        py::arg("index"), py::arg("queries"), py::arg("query_labels"), py::arg("database_labels"), py::arg("k") = 1000,
        py::arg("normalization") = "relevant-retrieved", py::arg("cutoffs") = std::vector<idx_t>{},
        (std::string("Ranks the index (ids 0 .. n - 1, the rows of database_labels) by Hamming distance for every\n"
                     "query, ties in id order, and scores the top k: RankingScores.\n") + kNormalizations).c_str());
  m.def("map_full_ranking", [](const BinaryIndex& index, const py::handle& queries, const py::handle& q, const py::handle& d) {
          return with_index_relevance(index, queries, q, d, [&](const BitCodes& codes, const auto& relevance) {
            return map_full_ranking(index, codes, relevance);
          });
        },
        py::arg("index"), py::arg("queries"), py::arg("query_labels"), py::arg("database_labels"),
        "mAP over the whole ranking of the database (mAP@all, AP divided by all relevant items).");
  m.def("precision_recall_by_radius", [](const BinaryIndex& index, const py::handle& queries, const py::handle& q,
                                         const py::handle& d, int max_radius) {
          return radius_curve_dict(with_index_relevance(index, queries, q, d, [&](const BitCodes& codes, const auto& relevance) {
            return precision_recall_by_radius(index, codes, relevance, max_radius);
          }));
        },
        py::arg("index"), py::arg("queries"), py::arg("query_labels"), py::arg("database_labels"), py::arg("max_radius") = -1,
        R"(Hash lookup quality for each Hamming radius r = 0 .. max_radius (default: bits): a dict of
arrays "precision", "recall" and "empty_fraction" (queries that retrieved nothing count with
precision 0).)");
  m.def("precision_within_radius", [](const BinaryIndex& index, const py::handle& queries, const py::handle& q,
                                      const py::handle& d, int radius) {
          if (radius < 0) throw py::value_error("radius must be >= 0");
          return with_index_relevance(index, queries, q, d, [&](const BitCodes& codes, const auto& relevance) {
            return precision_within_radius(index, codes, relevance, radius);
          });
        },
        py::arg("index"), py::arg("queries"), py::arg("query_labels"), py::arg("database_labels"), py::arg("radius") = 2,
        "Mean precision of the codes within the radius (the usual \"precision within Hamming radius 2\").");

  py::class_<RetrievalProtocol>(m, "Protocol", "A named evaluation protocol: how a reported number was measured.")
      .def_readonly("name", &RetrievalProtocol::name)
      .def_readonly("num_queries", &RetrievalProtocol::num_queries, "0: any number")
      .def_readonly("database_size", &RetrievalProtocol::database_size, "0: any size")
      .def_readonly("top_k", &RetrievalProtocol::top_k)
      .def_property_readonly("normalization", [](const RetrievalProtocol& p) { return std::string(to_string(p.normalization)); })
      .def_readonly("description", &RetrievalProtocol::description)
      .def("__repr__", [](const RetrievalProtocol& p) { return "<Protocol " + p.name + ": " + p.description + ">"; });
  m.def("cifar10_lin2015_protocol", &cifar10_lin2015_protocol,
        "Lin et al. 2015 on CIFAR-10: 10,000 test queries against the 50,000 training images, mAP@1000\n"
        "(AP divided by the relevant items in the top 1000), ties in database order.");
  m.def("map_at_k_protocol", &map_at_k_protocol, py::arg("name"), py::arg("k") = 1000,
        "The paper's scoring (mAP@k, AP divided by the relevant items in the top k) on any split.");
  m.def("evaluate_protocol", [](const RetrievalProtocol& p, const BinaryIndex& index, const py::handle& queries,
                                const py::handle& q, const py::handle& d) {
          const CodesArg codes(queries, index.bits(), "queries");
          const BitCodes c = codes.codes();
          SingleLabelRelevance relevance(labels_arg(q, "query_labels"), labels_arg(d, "database_labels"));
          check_index_and_labels(index, codes, relevance);
          py::gil_scoped_release unlocked;
          const ProtocolResult r = evaluate_protocol(p, index, c, relevance);
          return std::make_tuple(r.scores, r.seconds);
        },
        py::arg("protocol"), py::arg("index"), py::arg("queries"), py::arg("query_labels"), py::arg("database_labels"),
        "Scores under a protocol, checking its numbers of queries and database items: (RankingScores, seconds).");

  py::class_<LshHasher> lsh(m, "LSH", R"(Locality-sensitive hashing by random projections (Charikar 2002): bit j = sign(w_j . (x - mean)),
w_j drawn from N(0, I). LSH(bits, seed=1).)");
  lsh.def(py::init<int, std::uint64_t>(), py::arg("bits"), py::arg("seed") = 1);
  bind_hasher(lsh);
  py::class_<ItqHasher> itq(m, "ITQ", R"(Iterative quantization (Gong & Lazebnik 2011): PCA to `bits` dimensions, then the rotation that
minimises the quantisation loss. ITQ(bits, iterations=50, seed=1).)");
  itq.def(py::init<int, int, std::uint64_t>(), py::arg("bits"), py::arg("iterations") = 50, py::arg("seed") = 1)
      .def("quantization_loss", [](const ItqHasher& h, const py::handle& x) { return h.quantization_loss(MatrixArg(x, "x").map()); },
           py::arg("x"), "Mean squared quantisation error ||sign(V R) - V R||^2 / n.");
  bind_hasher(itq);
}

}  // namespace deephash::python
