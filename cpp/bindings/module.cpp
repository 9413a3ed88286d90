// The private compiled module fastsoftmax._core.
#include "arrays.h"

PYBIND11_MODULE(_core, m) {
  m.doc() = "fastsoftmax compiled kernels (private: use the fastsoftmax package)";
  m.attr("__version__") = FASTSOFTMAX_VERSION;
  fastsoftmax::bind_softmax(m);
  fastsoftmax::bind_xent(m);
  fastsoftmax::bind_sampled(m);
  fastsoftmax::bind_util(m);
}
