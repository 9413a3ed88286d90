// ISA-independent declarations of every CPU kernel.
//
// Arrays are row-major blocks of `rows` rows of `n` (or C) contiguous elements;
// `ld*` is the distance between row starts, in elements (may be negative or 0
// for read-only inputs). The kernels validate nothing: the binding does.
// Every kernel is deterministic: a row's result never depends on the thread
// count, and reductions across rows are left to the caller (fixed order).
#pragma once
#include <cstdint>

namespace fastsoftmax {

// What a kernel runs with, given by its caller: no kernel reads a global.
struct Context {
  int threads = 1;  // OpenMP threads it may use (>= 1)
};

// softmax / log_softmax of each row of x, scaled by 1/temperature.
template <class T>
struct SoftmaxArgs {
  const T* x; int64_t ldx;
  T* y; int64_t ldy;
  int64_t rows, n;
  T inv_temp;
  double inv_temp_lo;  // 1/T - inv_temp: float64's rounded-once results take 1/T in two parts
  bool log;
};

// log(sum_i b_i exp(x_i * inv_temp)) per row; b may be null (all ones).
// sign (may be null) receives the sign of the sum (0 for an empty or zero sum).
template <class T>
struct LogSumExpArgs {
  const T* x; int64_t ldx;
  const T* b; int64_t ldb;
  T* out; T* sign;
  int64_t rows, n;
  T inv_temp;
  double inv_temp_lo;  // 1/T - inv_temp: the result's M/T is taken in two parts
};

// The summary of each row that merges exactly (row_statistics): max[r] =
// M = max_i x_i and sumexp[r] = S = sum_i exp(x_i - M). A row holding +inf
// has M = +inf and S = the number of its +inf entries (exp(x - M) taken as
// 1 where x = M); all -inf gives (-inf, 0); NaN gives S = NaN.
template <class T>
struct RowSummaries {
  T* max; T* sumexp;  // [rows] each
};
template <class T>
struct RowStatisticsArgs {
  const T* x; int64_t ldx;
  int64_t rows, n;
  RowSummaries<T> out;
};

// Merges the k summaries of each row (merge_row_statistics): m[r][j] and
// s[r][j] are the (M, S) of part j of row r; max[r] = max_j m_j and
// sumexp[r] = sum_j s_j exp(m_j - max[r]), in double.
template <class T>
struct MergeStatisticsArgs {
  const T* m; int64_t ldm;
  const T* s; int64_t lds;
  int64_t rows, k;
  RowSummaries<T> out;
};

// Vector-Jacobian product of softmax (log == false, y = softmax(x)) or of
// log_softmax (log == true, y = log_softmax(x)).
template <class T>
struct SoftmaxBackwardArgs {
  const T* g; int64_t ldg;
  const T* y; int64_t ldy;
  T* dx; int64_t lddx;
  int64_t rows, n;
  T inv_temp;
  bool log;
};

// Cross-entropy of each row against a class index (target != nullptr) or a
// row of class probabilities (probs != nullptr), PyTorch's formula with
// class weights and label smoothing, plus z_loss * lse^2.
// row_loss[r] receives the row's loss (0 for an ignored row); grad (may be
// null) receives grad_scale * d(row_loss)/d(logits), ignored rows get zeros.
// With lse (index targets only): x holds classes [class_offset,
// class_offset + C) of num_classes, and lse[r] is row r's log-sum-exp over
// all of them; row_loss[r] is then this slice's share of the row's loss
// (the target term where the target is in the slice, the smoothing terms of
// the slice's classes, z_loss where class_offset is 0), so that the shares
// of the slices add up to the whole row's loss and their gradients are the
// whole row's. target holds indices into all num_classes, weight all
// num_classes weights.
template <class T>
struct CrossEntropyArgs {
  const T* x; int64_t ldx;
  const int64_t* target;          // [rows] or null
  const T* probs; int64_t ldp;    // [rows, C] or null
  const T* weight;                // [num_classes] or null
  int64_t rows, C;
  int64_t ignore_index;
  double label_smoothing, z_loss, grad_scale;
  double* row_loss;
  T* grad; int64_t ldg;
  const double* lse;              // [rows] or null: computed from x
  int64_t class_offset, num_classes;
};

// Element-wise binary cross-entropy with logits (PyTorch's formula).
// weight / pos_weight are addressed as w[r * ldw + c * cw] so that a
// broadcast (stride-0) view works; null means all ones.
template <class T>
struct BceArgs {
  const T* x; int64_t ldx;
  const T* t; int64_t ldt;
  const T* w; int64_t ldw, cw;
  const T* pw; int64_t ldpw, cpw;
  int64_t rows, n;
  double grad_scale;
  double* row_loss;               // [rows]: sum of the row's element losses
  T* loss; int64_t ldl;           // element losses, may be null
  T* grad; int64_t ldgr;          // may be null
};

// ZLPR (multi-label categorical cross-entropy) of each row of x: positives
// flagged by t (dense, bytes 0/1) or listed by ids (sparse, -1 padding).
template <class T>
struct MultilabelArgs {
  const T* x; int64_t ldx;
  const uint8_t* t; int64_t ldt;  // or null, with ids
  const int64_t* ids; int64_t ldi, k;
  int64_t rows, C;
  double grad_scale;
  double* row_loss;               // [rows]
  T* grad; int64_t ldg;           // may be null
};

// Triplet loss over a batch of N embeddings x (N x dim) from their pairwise
// distances d (N x N): mining (kTripletBatchHard / kTripletBatchAll), the
// hinge (soft: log(1 + e^v)) of v = (d_ap - d_an) f, and the gradient with
// respect to x (batch-hard) or to d (batch-all), each of the terms' sum.
enum { kTripletBatchHard = 0, kTripletBatchAll = 1 };
enum { kTripletEuclidean = 0, kTripletSquared = 1, kTripletCosine = 2 };
template <class T>
struct TripletArgs {
  const T* x; int64_t ldx, dim;
  const T* d; int64_t ldd;
  const int64_t* labels; int64_t N;
  int mining, distance;
  bool soft;
  double margin, f;
  double* row_loss;               // [N]: an anchor's terms
  int64_t* count;                 // [1]: anchors with a positive and a negative (hard), terms > 0 (all)
  T* grad; int64_t ldg;           // batch-hard: N x dim, may be null
  T* gd; int64_t ldgd;            // batch-all: N x N, may be null
};

// Candidate correction of sampled logits (sampled-inl.h): rows of num_true
// label columns, then S sampled columns. out = x + the columns' shifts
// (true_shift per row, sampled_shift per column; null: none), then the
// hits (hit_row[k], sampled column hit_col[k]) are set to -inf. out may be x.
template <class T>
struct CandidateCorrectionArgs {
  const T* x; int64_t ldx;
  T* out; int64_t ldo;
  int64_t rows, num_true, S;
  const T* true_shift; int64_t ldt;  // [rows, num_true]
  const T* sampled_shift;            // [S] or null
  const int64_t* hit_row;
  const int64_t* hit_col;
  int64_t hits;
};

// What cross-entropy's class indices hold (scan_labels).
struct LabelCheck {
  int64_t bad;    // the first index outside [0, C) that is not ignore_index; -1: none
  int64_t valid;  // indices that are not ignore_index, counted up to `bad`'s block
};

// The registry of kernels over a row block: one line each (name, argument
// struct). A line yields the KernelTable slot `name` (its float32 and
// float64 instances), the entry of every per-ISA table (cpu/isa-inl.h) and
// the binding's dtype dispatch (bindings/arrays.h: run_kernel). The kernel
// itself is `template <class T> void name(const Context&, const Args<T>&)`
// in its header under cpp/src/kernels/.
#define FSM_ROW_KERNELS(X)                 \
  X(softmax, SoftmaxArgs)                  \
  X(logsumexp, LogSumExpArgs)              \
  X(row_statistics, RowStatisticsArgs)     \
  X(merge_statistics, MergeStatisticsArgs) \
  X(softmax_backward, SoftmaxBackwardArgs) \
  X(cross_entropy, CrossEntropyArgs)       \
  X(bce, BceArgs)                          \
  X(multilabel, MultilabelArgs)            \
  X(triplet, TripletArgs)                  \
  X(candidate_correction, CandidateCorrectionArgs)

// A kernel's float32 and float64 instances, called by the type of its arguments.
template <template <class> class Args>
struct TypedKernel {
  void (*f32)(const Context&, const Args<float>&);
  void (*f64)(const Context&, const Args<double>&);
  void operator()(const Context& c, const Args<float>& a) const { f32(c, a); }
  void operator()(const Context& c, const Args<double>& a) const { f64(c, a); }
};

// One table of kernels per instruction set (cpp/src/cpu/<isa>.cc).
struct KernelTable {
  const char* name;
#define FSM_SLOT(op, Args) TypedKernel<Args> op;
  FSM_ROW_KERNELS(FSM_SLOT)
#undef FSM_SLOT
  LabelCheck (*scan_labels)(const int64_t* t, int64_t n, int64_t C, int64_t ignore_index);
  // Element-wise vectorised exp and log (for the accuracy tests) and the two floors
  // the benchmarks compare against: an exp-and-sum pass with no output, and a
  // parallel copy of the same bytes.
  void (*exp_f32)(const Context&, const float* x, float* y, int64_t n);
  void (*exp_f64)(const Context&, const double* x, double* y, int64_t n);
  void (*log_f64)(const double* x, double* y, int64_t n);
  double (*exp_sum_f32)(const Context&, const float* x, int64_t n);
  double (*exp_sum_f64)(const Context&, const double* x, int64_t n);
  void (*copy)(const Context&, void* dst, const void* src, int64_t bytes);
};

}  // namespace fastsoftmax
