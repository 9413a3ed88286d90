// Candidate samplers: the generator's state lives in a uint64[4] array the
// Python sampler owns, advanced in place by each draw.
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

}  // namespace

void bind_sampled(py::module_& m) {
  m.def("seed_state", &seed_state, py::arg("seed"), py::arg("state"), "seeds a sampler's uint64[4] generator state");
  m.def("draw_candidates", &draw, py::arg("kind"), py::arg("range"), py::arg("alias_prob"), py::arg("alias"),
        py::arg("state"), py::arg("num_sampled"), py::arg("unique"), py::arg("out"),
        "candidate ids into out (kind 0 uniform, 1 log-uniform, 2 unigram by its alias table), advancing state; "
        "returns the number of draws made");
  m.def("alias_table", &alias_table, py::arg("weights"), py::arg("prob"), py::arg("alias"),
        "Vose's alias table of the distribution proportional to weights");
}

}  // namespace fastsoftmax
