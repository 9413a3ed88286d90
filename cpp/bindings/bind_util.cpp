// Configuration (threads, SIMD level) and the benchmark floors.
#include "arrays.h"

namespace fastsoftmax {

namespace {

void exp_elementwise(const py::array& x, const py::array& out) {
  same_shape(x, "x", out, "out");
  by_dtype(x, "x", [&](auto tag) {
    using T = decltype(tag);
    const int64_t n = x.ndim() == 1 ? x.shape(0) : -1;
    const T* xp = vector_of<T>(x, "x", n, false);
    T* yp = vector_of<T>(out, "out", n, true);
    const auto& k = kernels();
    const Context ctx = current_context();
    py::gil_scoped_release nogil;
    if constexpr (sizeof(T) == 4) k.exp_f32(ctx, xp, yp, n); else k.exp_f64(ctx, xp, yp, n);
  });
}

void log_elementwise(const py::array& x, const py::array& out) {
  same_shape(x, "x", out, "out");
  const int64_t n = x.ndim() == 1 ? x.shape(0) : -1;
  const double* xp = vector_of<double>(x, "x", n, false);
  double* yp = vector_of<double>(out, "out", n, true);
  const auto& k = kernels();
  py::gil_scoped_release nogil;
  k.log_f64(xp, yp, n);
}

double exp_sum(const py::array& x) {
  return by_dtype(x, "x", [&](auto tag) {
    using T = decltype(tag);
    if (!(x.flags() & py::array::c_style)) throw py::value_error("x: must be C-contiguous");
    const T* p = static_cast<const T*>(x.data());
    const int64_t n = x.size();
    const auto& k = kernels();
    const Context ctx = current_context();
    py::gil_scoped_release nogil;
    if constexpr (sizeof(T) == 4) return k.exp_sum_f32(ctx, p, n); else return k.exp_sum_f64(ctx, p, n);
  });
}

void parallel_copy(const py::array& src, const py::array& dst) {
  if (!(src.flags() & py::array::c_style) || !(dst.flags() & py::array::c_style))
    throw py::value_error("copy: both arrays must be C-contiguous");
  if (src.nbytes() != dst.nbytes()) throw py::value_error("copy: src and dst differ in size");
  if (!dst.writeable()) throw py::value_error("copy: dst is read-only");
  const void* s = src.data();
  void* d = const_cast<void*>(dst.data());
  const int64_t bytes = src.nbytes();
  const auto& k = kernels();
  const Context ctx = current_context();
  py::gil_scoped_release nogil;
  k.copy(ctx, d, s, bytes);
}

void set_threads(int64_t n) {
  if (n < 1 || n > max_threads())
    throw py::value_error("set_num_threads: n must be between 1 and " + std::to_string(max_threads()) + ", got " +
                          std::to_string(n));
  set_num_threads(static_cast<int>(n));
}

}  // namespace

void bind_util(py::module_& m) {
  m.def("simd_level", [] { return std::string(kernels().name); }, "the instruction set the kernels use");
  m.def("supported_simd_levels", &supported_simd_levels, "levels of this build the CPU can run, lowest first");
  m.def("requested_simd_level", &requested_simd_level, "FASTSOFTMAX_SIMD as read at import ('' if unset)");
  m.def("simd_request_problem", &simd_request_problem, "why FASTSOFTMAX_SIMD was not honoured ('' if it was)");
  m.def("set_num_threads", &set_threads, py::arg("n"));
  m.def("get_num_threads", &get_num_threads);
  m.def("openmp_enabled", &openmp_enabled);
  m.def("max_threads", &max_threads, "the most threads set_num_threads accepts (a few per processor)");
  m.def("thread_request_problem", &thread_request_problem,
        "what was wrong with FASTSOFTMAX_NUM_THREADS / OMP_NUM_THREADS ('' if nothing)");
  m.def("exp", &exp_elementwise, py::arg("x"), py::arg("out"), "the kernels' vectorised exp, element-wise (1-D)");
  m.def("log", &log_elementwise, py::arg("x"), py::arg("out"), "the kernels' vectorised float64 log, element-wise (1-D)");
  m.def("exp_sum", &exp_sum, py::arg("x"), "sum(exp(x)) in one vectorised pass with no output: the exp floor");
  m.def("parallel_copy", &parallel_copy, py::arg("src"), py::arg("dst"), "copy with every thread: the memory floor");
}

}  // namespace fastsoftmax
