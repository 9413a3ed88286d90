// The body of every per-ISA translation unit (scalar.cc, neon.cc, avx2.cc,
// avx512.cc):
// the kernels, compiled inside fastsoftmax::FSM_NS with that file's flags,
// and the table that exports them. Kernels use no std:: templates: their
// instantiations would be shared between ISAs by the linker.
#include <math.h>
#include <new>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#if FSM_SIMD_LEVEL == 1
#include <arm_neon.h>
#elif FSM_SIMD_LEVEL > 1
#include <immintrin.h>
#endif
#ifdef FASTSOFTMAX_HAVE_OPENMP
#include <omp.h>
#endif

#include "fastsoftmax/kernels.h"

namespace fastsoftmax {
namespace FSM_NS {

#if FSM_SIMD_LEVEL == 3 && defined(FASTSOFTMAX_EMULATE_AVX512)
#include "cpu/avx512-emulated-inl.h"
#endif
#include "kernels/simd-inl.h"
#include "kernels/lanes-inl.h"
#include "kernels/factor-inl.h"
#include "kernels/exp-inl.h"
#include "kernels/log-inl.h"
#include "kernels/parallel-inl.h"
#include "kernels/writer-inl.h"
#include "kernels/sums-inl.h"
#include "kernels/rowstats-inl.h"
#include "kernels/exact-inl.h"
#include "kernels/pipeline-inl.h"
#include "kernels/shortrows-inl.h"
#include "kernels/tinyrows-inl.h"
#include "kernels/engine-inl.h"
#include "kernels/softmax-inl.h"
#include "kernels/logsumexp-inl.h"
#include "kernels/backward-inl.h"
#include "kernels/labels-inl.h"
#include "kernels/xent-tiny-inl.h"
#include "kernels/xent-inl.h"
#include "kernels/bce-inl.h"
#include "kernels/multilabel-inl.h"
#include "kernels/triplet-inl.h"
#include "kernels/sampled-inl.h"
#include "kernels/floors-inl.h"

const KernelTable& table() {
#define FSM_ENTRY(op, Args) {op<float>, op<double>},
  static const KernelTable t = {
      FSM_NAME,
      FSM_ROW_KERNELS(FSM_ENTRY)
      scan_labels,
      exp_array<float>, exp_array<double>,
      log_array,
      exp_sum<float>, exp_sum<double>,
      parallel_copy,
  };
#undef FSM_ENTRY
  return t;
}

}  // namespace FSM_NS
}  // namespace fastsoftmax
