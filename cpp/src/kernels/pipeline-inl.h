// A row loop that overlaps each row's stores with the next row's exp work.
//
// Each thread owns a contiguous block of rows and two slots of work arrays.
// While row r's statistics are computed chunk by chunk (into one slot),
// chunk c of row r-1's output is written (from the other slot) inside the
// exp loop of chunk c of row r, four vectors per step: the exp arithmetic
// keeps the multiply-add units busy while the loads, multiplies and stores
// (streamed past the cache for large outputs) fill the other ports. The
// arithmetic per element is unchanged, so the numbers are those of a plain
// row loop.
#pragma once

// Index of a (worker, slot) pair in per-slot arrays of 2 * threads entries.
inline int slot_index(int worker, int slot) { return worker * 2 + slot; }

// stats(worker, r, slot, writer): compute row r into slot, calling
// writer.begin(c) / step() / finish() during chunk c (row_stats does).
// writer_for(worker, r, slot): the ChunkWriter of row r's output from slot.
// x + r * ldx: what stats reads of row r (ChunkWriter::dodge).
template <class T, class Stats, class WriterFor>
inline void pipelined_rows(int64_t rows, int nt, const T* x, int64_t ldx, const Stats& stats,
                           const WriterFor& writer_for) {
  parallel_for(nt, nt, [&](int, int64_t worker_index) {
    const int worker = static_cast<int>(worker_index);
    const int64_t r0 = rows * worker / nt, r1 = rows * (worker + 1) / nt;
    for (int64_t r = r0; r < r1; ++r) {
      const int slot = static_cast<int>((r - r0) & 1);
      if (r == r0) {
        NoWriter none;
        stats(worker, r, slot, none);
      } else {
        auto previous = writer_for(worker, r - 1, slot ^ 1);
        previous.dodge(x + r * ldx);
        stats(worker, r, slot, previous);
      }
    }
    if (r1 > r0) writer_for(worker, r1 - 1, static_cast<int>((r1 - 1 - r0) & 1)).write_all();
  });
}
