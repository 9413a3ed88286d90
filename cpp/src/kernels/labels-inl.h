// The check of cross-entropy's class indices, before the kernel reads
// x[t]: a bad index must raise, not read outside the row.
//
// Blocks of indices are tested without an early exit, so the loop
// vectorises (64-bit compares need AVX2: at the scalar level this runs at
// about 1 ns an index); only a block holding a bad index is searched for it.
#pragma once

inline LabelCheck scan_labels(const int64_t* t, int64_t n, int64_t C, int64_t ignore_index) {
  constexpr int64_t kBlock = 4096;
  LabelCheck r{-1, 0};
  for (int64_t b = 0; b < n && r.bad < 0; b += kBlock) {
    const int64_t e = min64(b + kBlock, n);
    int64_t nbad = 0;
    for (int64_t i = b; i < e; ++i) {
      const bool ignored = t[i] == ignore_index;
      r.valid += !ignored;
      nbad += static_cast<uint64_t>(t[i]) >= static_cast<uint64_t>(C) && !ignored;
    }
    for (int64_t i = b; nbad > 0 && r.bad < 0; ++i)
      if (static_cast<uint64_t>(t[i]) >= static_cast<uint64_t>(C) && t[i] != ignore_index) r.bad = i;
  }
  return r;
}
