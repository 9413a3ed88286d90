// Candidate samplers (the generator's state lives in a uint64[4] array the
// Python sampler owns, advanced in place by each draw) and the candidate
// correction of sampled logits.
#include <string>

#include "arrays.h"
#include "fastsoftmax/sampling.h"

namespace fastsoftmax {
namespace {

uint64_t* state_of(const py::array& state) { return vector_of<uint64_t>(state, "state", 4, true); }

void seed_state(uint64_t seed, const py::array& state) { seed_generator(seed, state_of(state)); }

// Draws num_sampled ids of sampler `kind` into out (int64[num_sampled]);
// returns the draws made. The caller checks that unique draws can finish.
int64_t draw(int kind, int64_t range, const py::object& alias_prob, const py::object& alias, const py::array& state,
             int64_t num_sampled, bool unique, const py::array& out) {
  if (kind < kUniformSampler || kind > kUnigramSampler) throw py::value_error("kind: expected 0, 1 or 2");
  if (range < 1) throw py::value_error("range: expected at least 1, got " + std::to_string(range));
  if (num_sampled < 0) throw py::value_error("num_sampled: expected at least 0");
  if (unique && num_sampled > range) throw py::value_error("num_sampled: more unique ids than the range holds");
  SamplerSpec spec{kind, range};
  if (kind == kUnigramSampler) {
    spec.alias_prob = vector_of<double>(alias_prob.cast<py::array>(), "alias_prob", range, false);
    spec.alias = vector_of<int64_t>(alias.cast<py::array>(), "alias", range, false);
  }
  uint64_t* s = state_of(state);
  int64_t* ids = vector_of<int64_t>(out, "out", num_sampled, true);
  py::gil_scoped_release nogil;
  return draw_candidates(spec, s, num_sampled, unique, ids);
}

void alias_table(const py::array& weights, const py::array& prob, const py::array& alias) {
  const int64_t n = weights.ndim() == 1 ? weights.shape(0) : -1;
  if (n < 1) throw py::value_error("weights: expected a non-empty 1-D array");
  const double* w = vector_of<double>(weights, "weights", n, false);
  double* p = vector_of<double>(prob, "prob", n, true);
  int64_t* a = vector_of<int64_t>(alias, "alias", n, true);
  py::gil_scoped_release nogil;
  build_alias_table(w, n, p, a);
}

// out = logits + the columns' shifts, then the listed accidental hits -inf
// (sampled-inl.h). out is logits itself or an array that does not overlap it.
void candidate_correction_rows(const py::array& logits, const py::array& out, const py::array& true_shift,
                               const py::object& sampled_shift, const py::array& hit_row, const py::array& hit_col) {
  by_dtype(logits, "logits", [&](auto tag) {
    using T = decltype(tag);
    const Rows<T> xr = rows_of<T>(logits, "logits", false);
    same_shape(logits, "logits", out, "out");
    const Rows<T> yr = rows_of<T>(out, "out", true);
    const Rows<T> tr = rows_of<T>(true_shift, "true_shift", false);
    if (tr.rows != xr.rows || tr.n > xr.n)
      throw py::value_error("true_shift: expected (" + std::to_string(xr.rows) + ", num_true <= " +
                            std::to_string(xr.n) + "), got " + shape_str(true_shift));
    CandidateCorrectionArgs<T> a{};
    a.x = xr.data; a.ldx = xr.ld;
    a.out = yr.data; a.ldo = yr.ld;
    a.rows = xr.rows; a.num_true = tr.n; a.S = xr.n - tr.n;
    a.true_shift = tr.data; a.ldt = tr.ld;
    if (!sampled_shift.is_none()) a.sampled_shift = vector_of<T>(sampled_shift.cast<py::array>(), "sampled_shift", a.S, false);
    a.hits = hit_row.ndim() == 1 ? hit_row.shape(0) : -1;
    a.hit_row = vector_of<int64_t>(hit_row, "hit_row", a.hits, false);
    a.hit_col = vector_of<int64_t>(hit_col, "hit_col", a.hits, false);
    for (int64_t k = 0; k < a.hits; ++k)
      if (a.hit_row[k] < 0 || a.hit_row[k] >= a.rows || a.hit_col[k] < 0 || a.hit_col[k] >= a.S)
        throw py::index_error("hit_row, hit_col: hit " + std::to_string(k) + " lies outside the rows and candidates");
    run_kernel(&KernelTable::candidate_correction, a);
  });
}

}  // namespace

void bind_sampled(py::module_& m) {
  m.def("seed_state", &seed_state, py::arg("seed"), py::arg("state"), "seeds a sampler's uint64[4] generator state");
  m.def("draw_candidates", &draw, py::arg("kind"), py::arg("range"), py::arg("alias_prob"), py::arg("alias"),
        py::arg("state"), py::arg("num_sampled"), py::arg("unique"), py::arg("out"),
        "candidate ids into out (kind 0 uniform, 1 log-uniform, 2 unigram by its alias table), advancing state; "
        "returns the number of draws made");
  m.def("alias_table", &alias_table, py::arg("weights"), py::arg("prob"), py::arg("alias"),
        "Vose's alias table of the distribution proportional to weights");
  m.def("candidate_correction_rows", &candidate_correction_rows, py::arg("logits"), py::arg("out"),
        py::arg("true_shift"), py::arg("sampled_shift"), py::arg("hit_row"), py::arg("hit_col"),
        "out = logits plus the label columns' true_shift (rows x num_true) and the sampled columns' sampled_shift "
        "(S, or None), then the sampled entries (hit_row, hit_col) -inf; out is logits or does not overlap it");
}

}  // namespace fastsoftmax
