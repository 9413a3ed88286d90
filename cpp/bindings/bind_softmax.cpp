// softmax, log_softmax, logsumexp and their backward passes.
#include "arrays.h"

namespace fastsoftmax {

namespace {

// The remainder 1/T - s of s = inv_temp rounded to T, given
// inv_temp_lo = 1/T - inv_temp.
template <class T>
double temperature_rest(double inv_temp, double inv_temp_lo) {
  return (inv_temp - static_cast<double>(static_cast<T>(inv_temp))) + inv_temp_lo;
}

void softmax_rows(const py::array& x, const py::array& out, double inv_temp, double inv_temp_lo, bool log) {
  same_shape(x, "x", out, "out");
  by_dtype(x, "x", [&](auto tag) {
    using T = decltype(tag);
    const Rows<T> xr = rows_of<T>(x, "x", false), yr = rows_of<T>(out, "out", true);
    SoftmaxArgs<T> a{xr.data, xr.ld, yr.data, yr.ld, xr.rows, xr.n, static_cast<T>(inv_temp),
                     temperature_rest<T>(inv_temp, inv_temp_lo), log};
    run_kernel(&KernelTable::softmax, a);
  });
}

void logsumexp_rows(const py::array& x, const py::object& b, const py::array& out, const py::object& sign,
                    double inv_temp, double inv_temp_lo) {
  by_dtype(x, "x", [&](auto tag) {
    using T = decltype(tag);
    const Rows<T> xr = rows_of<T>(x, "x", false);
    Rows<T> br;
    if (!b.is_none()) {
      py::array ba = b.cast<py::array>();
      same_shape(x, "x", ba, "b");
      br = rows_of<T>(ba, "b", false);
    }
    T* o = vector_of<T>(out, "out", xr.rows, true);
    T* sg = sign.is_none() ? nullptr : vector_of<T>(sign.cast<py::array>(), "sign", xr.rows, true);
    LogSumExpArgs<T> a{xr.data, xr.ld, br.data, br.ld, o, sg, xr.rows, xr.n, static_cast<T>(inv_temp),
                       temperature_rest<T>(inv_temp, inv_temp_lo)};
    run_kernel(&KernelTable::logsumexp, a);
  });
}

template <class T>
RowSummaries<T> summaries_of(const py::array& max, const py::array& sumexp, int64_t rows) {
  return {vector_of<T>(max, "max", rows, true), vector_of<T>(sumexp, "sumexp", rows, true)};
}

void row_statistics_rows(const py::array& x, const py::array& max, const py::array& sumexp) {
  by_dtype(x, "x", [&](auto tag) {
    using T = decltype(tag);
    const Rows<T> xr = rows_of<T>(x, "x", false);
    RowStatisticsArgs<T> a{xr.data, xr.ld, xr.rows, xr.n, summaries_of<T>(max, sumexp, xr.rows)};
    run_kernel(&KernelTable::row_statistics, a);
  });
}

void merge_statistics_rows(const py::array& maxes, const py::array& sums, const py::array& max,
                           const py::array& sumexp) {
  same_shape(maxes, "maxes", sums, "sums");
  by_dtype(maxes, "maxes", [&](auto tag) {
    using T = decltype(tag);
    const Rows<T> mr = rows_of<T>(maxes, "maxes", false), sr = rows_of<T>(sums, "sums", false);
    MergeStatisticsArgs<T> a{mr.data, mr.ld, sr.data, sr.ld, mr.rows, mr.n, summaries_of<T>(max, sumexp, mr.rows)};
    run_kernel(&KernelTable::merge_statistics, a);
  });
}

void softmax_backward_rows(const py::array& g, const py::array& y, const py::array& out, double inv_temp, bool log) {
  same_shape(g, "grad", y, "y");
  same_shape(g, "grad", out, "out");
  by_dtype(g, "grad", [&](auto tag) {
    using T = decltype(tag);
    const Rows<T> gr = rows_of<T>(g, "grad", false), yr = rows_of<T>(y, "y", false), dr = rows_of<T>(out, "out", true);
    SoftmaxBackwardArgs<T> a{gr.data, gr.ld, yr.data, yr.ld, dr.data, dr.ld, gr.rows, gr.n, static_cast<T>(inv_temp), log};
    run_kernel(&KernelTable::softmax_backward, a);
  });
}

}  // namespace

void bind_softmax(py::module_& m) {
  m.def("softmax_rows", &softmax_rows, py::arg("x"), py::arg("out"), py::arg("inv_temp"), py::arg("inv_temp_lo"),
        py::arg("log"),
        "softmax (log=False) or log_softmax (log=True) of each row of a 2-D block into out");
  m.def("logsumexp_rows", &logsumexp_rows, py::arg("x"), py::arg("b"), py::arg("out"), py::arg("sign"),
        py::arg("inv_temp"), py::arg("inv_temp_lo"),
        "log(sum(b * exp(x * inv_temp))) of each row into out (and its sign); inv_temp_lo = 1/T - inv_temp");
  m.def("row_statistics_rows", &row_statistics_rows, py::arg("x"), py::arg("max"), py::arg("sumexp"),
        "each row's max M and sum(exp(x - M)) into max and sumexp");
  m.def("merge_statistics_rows", &merge_statistics_rows, py::arg("maxes"), py::arg("sums"), py::arg("max"),
        py::arg("sumexp"), "merges each row's (max, sumexp) pairs into one (max, sumexp)");
  m.def("softmax_backward_rows", &softmax_backward_rows, py::arg("grad"), py::arg("y"), py::arg("out"),
        py::arg("inv_temp"), py::arg("log"), "vector-Jacobian product of softmax / log_softmax per row");
}

}  // namespace fastsoftmax
