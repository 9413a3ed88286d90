// cross_entropy and binary_cross_entropy_with_logits.
#include "arrays.h"

namespace fastsoftmax {

namespace {

// (first bad index or -1, count of indices that are not ignore_index): labels-inl.h.
py::tuple check_labels(const py::array& target, int64_t C, int64_t ignore_index) {
  const int64_t n = target.ndim() == 1 ? target.shape(0) : -1;
  const int64_t* t = vector_of<int64_t>(target, "target", n, false);
  LabelCheck r;
  {
    py::gil_scoped_release nogil;
    r = kernels().scan_labels(t, n, C, ignore_index);
  }
  return py::make_tuple(r.bad, r.valid);
}

void cross_entropy_rows(const py::array& x, const py::object& target, const py::object& probs,
                        const py::object& weight, int64_t ignore_index, double label_smoothing, double z_loss,
                        double grad_scale, const py::array& row_loss, const py::object& grad, const py::object& lse,
                        int64_t class_offset, int64_t num_classes) {
  by_dtype(x, "logits", [&](auto tag) {
    using T = decltype(tag);
    const Rows<T> xr = rows_of<T>(x, "logits", false);
    CrossEntropyArgs<T> a{};
    a.x = xr.data; a.ldx = xr.ld; a.rows = xr.rows; a.C = xr.n;
    a.class_offset = 0;
    a.num_classes = xr.n;
    if (!lse.is_none()) {
      if (target.is_none()) throw py::value_error("lse: takes class-index targets, not probabilities");
      if (class_offset < 0 || num_classes < xr.n || class_offset > num_classes - xr.n)
        throw py::value_error("class_offset: the logits' " + std::to_string(xr.n) + " classes from class_offset=" +
                              std::to_string(class_offset) + " must lie within num_classes=" +
                              std::to_string(num_classes));
      a.lse = vector_of<double>(lse.cast<py::array>(), "lse", xr.rows, false);
      a.class_offset = class_offset;
      a.num_classes = num_classes;
    } else if (class_offset != 0 || num_classes != xr.n) {
      throw py::value_error("class_offset, num_classes: only with lse");
    }
    if (!target.is_none()) {
      const py::array t = target.cast<py::array>();
      a.target = vector_of<int64_t>(t, "target", xr.rows, false);
      LabelCheck check;
      {
        py::gil_scoped_release nogil;
        check = kernels().scan_labels(a.target, xr.rows, a.num_classes, ignore_index);
      }
      if (check.bad >= 0) throw py::index_error("target: label out of range");
    } else if (!probs.is_none()) {
      const py::array p = probs.cast<py::array>();
      same_shape(x, "logits", p, "target");
      const Rows<T> pr = rows_of<T>(p, "target", false);
      a.probs = pr.data; a.ldp = pr.ld;
    } else {
      throw py::value_error("target: expected class indices or probabilities");
    }
    if (!weight.is_none()) a.weight = vector_of<T>(weight.cast<py::array>(), "weight", a.num_classes, false);
    a.ignore_index = ignore_index;
    a.label_smoothing = label_smoothing;
    a.z_loss = z_loss;
    a.grad_scale = grad_scale;
    a.row_loss = vector_of<double>(row_loss, "row_loss", xr.rows, true);
    const Rows<T> gr = optional_rows_like<T>(grad, x, "logits", "grad_out");
    a.grad = gr.data; a.ldg = gr.ld;
    run_kernel(&KernelTable::cross_entropy, a);
  });
}

// A 2-D view with any strides (0 for broadcast) of a weight operand.
template <class T>
const T* strided_operand(const py::object& o, const py::array& like, const char* name, int64_t& ld, int64_t& cs) {
  if (o.is_none()) return nullptr;
  const py::array a = o.cast<py::array>();
  same_shape(like, "logits", a, name);
  if (!has_dtype<T>(a)) throw py::type_error(std::string(name) + ": dtype must match logits");
  const auto sz = static_cast<py::ssize_t>(sizeof(T));
  if (a.strides(0) % sz || a.strides(1) % sz) throw py::value_error(std::string(name) + ": array must be aligned");
  require_aligned(a, name);
  ld = a.strides(0) / sz;
  cs = a.strides(1) / sz;
  return static_cast<const T*>(a.data());
}

void bce_rows(const py::array& x, const py::array& t, const py::object& weight, const py::object& pos_weight,
              double grad_scale, const py::array& row_loss, const py::object& loss, const py::object& grad) {
  same_shape(x, "logits", t, "target");
  by_dtype(x, "logits", [&](auto tag) {
    using T = decltype(tag);
    const Rows<T> xr = rows_of<T>(x, "logits", false), tr = rows_of<T>(t, "target", false);
    BceArgs<T> a{};
    a.x = xr.data; a.ldx = xr.ld; a.t = tr.data; a.ldt = tr.ld; a.rows = xr.rows; a.n = xr.n;
    a.w = strided_operand<T>(weight, x, "weight", a.ldw, a.cw);
    a.pw = strided_operand<T>(pos_weight, x, "pos_weight", a.ldpw, a.cpw);
    a.grad_scale = grad_scale;
    a.row_loss = vector_of<double>(row_loss, "row_loss", xr.rows, true);
    const Rows<T> lr = optional_rows_like<T>(loss, x, "logits", "loss");
    const Rows<T> gr = optional_rows_like<T>(grad, x, "logits", "grad_out");
    a.loss = lr.data; a.ldl = lr.ld;
    a.grad = gr.data; a.ldgr = gr.ld;
    run_kernel(&KernelTable::bce, a);
  });
}

// ZLPR rows: positives as a dense 0/1 byte array of the logits' shape, or as
// class ids (-1 padding; others must lie in [0, C), checked by the caller).
void multilabel_rows(const py::array& x, const py::object& target, const py::object& positives, double grad_scale,
                     const py::array& row_loss, const py::object& grad) {
  by_dtype(x, "logits", [&](auto tag) {
    using T = decltype(tag);
    const Rows<T> xr = rows_of<T>(x, "logits", false);
    MultilabelArgs<T> a{};
    a.x = xr.data; a.ldx = xr.ld; a.rows = xr.rows; a.C = xr.n;
    if (!target.is_none()) {
      const py::array t = target.cast<py::array>();
      same_shape(x, "logits", t, "target");
      const Rows<uint8_t> tr = rows_of<uint8_t>(t, "target", false);
      a.t = tr.data; a.ldt = tr.ld;
    } else if (!positives.is_none()) {
      const py::array p = positives.cast<py::array>();
      if (p.ndim() != 2 || p.shape(0) != xr.rows)
        throw py::value_error("positives: expected shape (" + std::to_string(xr.rows) + ", K), got " + shape_str(p));
      const Rows<int64_t> pr = rows_of<int64_t>(p, "positives", false);
      a.ids = pr.data; a.ldi = pr.ld; a.k = pr.n;
    } else {
      throw py::value_error("target or positives: one is required");
    }
    a.grad_scale = grad_scale;
    a.row_loss = vector_of<double>(row_loss, "row_loss", xr.rows, true);
    const Rows<T> gr = optional_rows_like<T>(grad, x, "logits", "grad_out");
    a.grad = gr.data; a.ldg = gr.ld;
    run_kernel(&KernelTable::multilabel, a);
  });
}

// Triplet mining and hinge over the distances d (N x N) of the embeddings x
// (N x dim, labels int64); mining 0 batch-hard, 1 batch-all; distance 0
// euclidean, 1 squared, 2 cosine. Returns the count of TripletArgs.
int64_t triplet_rows(const py::array& x, const py::array& d, const py::array& labels, int mining, int distance,
                     bool soft, double margin, double f, const py::array& row_loss, const py::object& grad,
                     const py::object& grad_d) {
  if (mining != kTripletBatchHard && mining != kTripletBatchAll) throw py::value_error("mining: expected 0 or 1");
  if (distance < kTripletEuclidean || distance > kTripletCosine) throw py::value_error("distance: expected 0, 1 or 2");
  return by_dtype(x, "embeddings", [&](auto tag) {
    using T = decltype(tag);
    const Rows<T> xr = rows_of<T>(x, "embeddings", false);
    const Rows<T> dr = rows_of<T>(d, "distances", false);
    if (dr.rows != xr.rows || dr.n != xr.rows)
      throw py::value_error("distances: expected shape (" + std::to_string(xr.rows) + ", " + std::to_string(xr.rows) +
                            "), got " + shape_str(d));
    TripletArgs<T> a{};
    a.x = xr.data; a.ldx = xr.ld; a.dim = xr.n;
    a.d = dr.data; a.ldd = dr.ld;
    a.labels = vector_of<int64_t>(labels, "labels", xr.rows, false);
    a.N = xr.rows;
    a.mining = mining; a.distance = distance; a.soft = soft; a.margin = margin; a.f = f;
    a.row_loss = vector_of<double>(row_loss, "row_loss", xr.rows, true);
    int64_t count = 0;
    a.count = &count;
    const Rows<T> gr = optional_rows_like<T>(grad, x, "embeddings", "grad");
    a.grad = gr.data; a.ldg = gr.ld;
    const Rows<T> gdr = optional_rows_like<T>(grad_d, d, "distances", "grad_d");
    a.gd = gdr.data; a.ldgd = gdr.ld;
    run_kernel(&KernelTable::triplet, a);
    return count;
  });
}

}  // namespace

void bind_xent(py::module_& m) {
  m.def("check_labels", &check_labels, py::arg("target"), py::arg("C"), py::arg("ignore_index"),
        "(index of the first label outside [0, C) that is not ignore_index, or -1; number of labels that are "
        "not ignore_index)");
  m.def("cross_entropy_rows", &cross_entropy_rows, py::arg("logits"), py::arg("target"), py::arg("probs"),
        py::arg("weight"), py::arg("ignore_index"), py::arg("label_smoothing"), py::arg("z_loss"),
        py::arg("grad_scale"), py::arg("row_loss"), py::arg("grad"), py::arg("lse"), py::arg("class_offset"),
        py::arg("num_classes"),
        "per-row cross-entropy into row_loss (float64) and, optionally, its scaled gradient into grad; with lse, "
        "the share of classes [class_offset, class_offset + C) of num_classes");
  m.def("bce_rows", &bce_rows, py::arg("logits"), py::arg("target"), py::arg("weight"), py::arg("pos_weight"),
        py::arg("grad_scale"), py::arg("row_loss"), py::arg("loss"), py::arg("grad"),
        "element-wise binary cross-entropy with logits: row sums, element losses, gradient");
  m.def("multilabel_rows", &multilabel_rows, py::arg("logits"), py::arg("target"), py::arg("positives"),
        py::arg("grad_scale"), py::arg("row_loss"), py::arg("grad"),
        "per-row ZLPR loss into row_loss (float64) and, optionally, its scaled gradient into grad; positives as a "
        "0/1 uint8 target or as class ids with -1 padding");
  m.def("triplet_rows", &triplet_rows, py::arg("embeddings"), py::arg("distances"), py::arg("labels"),
        py::arg("mining"), py::arg("distance"), py::arg("soft"), py::arg("margin"), py::arg("f"), py::arg("row_loss"),
        py::arg("grad"), py::arg("grad_d"),
        "triplet mining and hinge: per-anchor losses into row_loss (float64), the gradient of their sum with "
        "respect to the embeddings (batch-hard) or the distances (batch-all); returns the count the mean divides by");
}

}  // namespace fastsoftmax
