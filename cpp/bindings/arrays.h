// Array checks at the Python/C++ boundary. The Python layer hands over 2-D
// row blocks with contiguous rows; these checks make sure a caller of the
// private module cannot crash the process either.
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <stdexcept>
#include <string>

#include "fastsoftmax/dispatch.h"
#include "fastsoftmax/threads.h"

namespace fastsoftmax {
namespace py = pybind11;

template <class T>
struct Rows {
  T* data = nullptr;
  int64_t rows = 0, n = 0, ld = 0;
};

template <class T>
bool has_dtype(const py::array& a) {
  // equivalence, not identity: an unpickled array has its own descriptor object
  return py::detail::npy_api::get().PyArray_EquivTypes_(a.dtype().ptr(), py::dtype::of<T>().ptr());
}

inline std::string shape_str(const py::array& a) {
  std::string s = "(";
  for (py::ssize_t i = 0; i < a.ndim(); ++i) s += (i ? ", " : "") + std::to_string(a.shape(i));
  return s + (a.ndim() == 1 ? ",)" : ")");
}

// The kernels load whole elements: a view at an odd byte offset is refused
// (the Python layer copies such views first).
inline void require_aligned(const py::array& a, const char* name) {
  if (a.size() > 0 && !(a.flags() & py::detail::npy_api::NPY_ARRAY_ALIGNED_))
    throw py::value_error(std::string(name) + ": array must be aligned");
}

template <class T>
Rows<T> rows_of(const py::array& a, const char* name, bool writable) {
  if (!has_dtype<T>(a))
    throw py::type_error(std::string(name) + ": expected dtype " + std::string(py::str(py::dtype::of<T>())) +
                         ", got " + std::string(py::str(a.dtype())));
  if (a.ndim() != 2) throw py::value_error(std::string(name) + ": expected a 2-D array, got shape " + shape_str(a));
  const auto sz = static_cast<py::ssize_t>(sizeof(T));
  const bool empty = a.shape(0) == 0 || a.shape(1) == 0;  // no element is addressed
  if (!empty && a.shape(1) > 1 && a.strides(1) != sz)
    throw py::value_error(std::string(name) + ": rows must be contiguous");
  if (!empty && a.strides(0) % sz != 0) throw py::value_error(std::string(name) + ": array must be aligned");
  require_aligned(a, name);
  if (writable && !a.writeable()) throw py::value_error(std::string(name) + ": array is read-only");
  Rows<T> r;
  r.data = static_cast<T*>(const_cast<void*>(a.data()));
  r.rows = a.shape(0);
  r.n = a.shape(1);
  r.ld = a.shape(0) > 1 ? a.strides(0) / sz : r.n;
  return r;
}

template <class T>
T* vector_of(const py::array& a, const char* name, int64_t n, bool writable) {
  if (!has_dtype<T>(a))
    throw py::type_error(std::string(name) + ": expected dtype " + std::string(py::str(py::dtype::of<T>())) +
                         ", got " + std::string(py::str(a.dtype())));
  if (a.ndim() != 1 || a.shape(0) != n)
    throw py::value_error(std::string(name) + ": expected shape (" + std::to_string(n) + ",), got " + shape_str(a));
  if (n > 1 && a.strides(0) != static_cast<py::ssize_t>(sizeof(T)))
    throw py::value_error(std::string(name) + ": must be contiguous");
  require_aligned(a, name);
  if (writable && !a.writeable()) throw py::value_error(std::string(name) + ": array is read-only");
  return static_cast<T*>(const_cast<void*>(a.data()));
}

inline void same_shape(const py::array& a, const char* an, const py::array& b, const char* bn) {
  bool same = a.ndim() == b.ndim();
  for (py::ssize_t i = 0; same && i < a.ndim(); ++i) same = a.shape(i) == b.shape(i);
  if (!same)
    throw py::value_error(std::string(an) + " has shape " + shape_str(a) + " but " + bn + " has shape " + shape_str(b));
}

// A writable output of `like`'s shape (name: its argument), or no rows when none is given.
template <class T>
Rows<T> optional_rows_like(const py::object& o, const py::array& like, const char* like_name, const char* name) {
  if (o.is_none()) return Rows<T>();
  const py::array a = o.cast<py::array>();
  same_shape(like, like_name, a, name);
  return rows_of<T>(a, name, true);
}

// Calls f.template operator()<float>() or <double>() by the dtype of a.
template <class F>
auto by_dtype(const py::array& a, const char* name, F&& f) {
  if (has_dtype<float>(a)) return f(float{});
  if (has_dtype<double>(a)) return f(double{});
  throw py::type_error(std::string(name) + ": expected float32 or float64, got " + std::string(py::str(a.dtype())));
}

// The context every kernel call gets: the thread count set now.
inline Context current_context() { return Context{get_num_threads()}; }

// Runs the registry's kernel `op` (a KernelTable slot: FSM_ROW_KERNELS) on
// arguments of either dtype, with the GIL released.
template <template <class> class Args, class T>
void run_kernel(TypedKernel<Args> KernelTable::*op, const Args<T>& a) {
  const Context ctx = current_context();
  const TypedKernel<Args>& kernel = kernels().*op;
  py::gil_scoped_release nogil;
  kernel(ctx, a);
}

void bind_softmax(py::module_& m);
void bind_xent(py::module_& m);
void bind_sampled(py::module_& m);
void bind_util(py::module_& m);

}  // namespace fastsoftmax
