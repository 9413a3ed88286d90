#!/usr/bin/env python3
"""Long fuzzing runs over every fastsoftmax operation in the op table (tests/ops).

    python tools/fuzz.py --calls 1000000 --seed 1 [--ops softmax,cross_entropy] [--workers 2]
    python tools/fuzz.py --seed 1 --replay softmax:12345    # one call: arguments, verdict, outcome

Call ``i`` of a run is call ``i`` of the seeded sequence of op ``ops[i % len(ops)]``
(tests/fuzz_calls.py: a sample or bad input of the op, mutated, then checked), so
``--replay OP:i`` with the same seed and budget rebuilds it whatever ran beside it.

The calls run in worker processes (spawned, one OpenMP thread each by default):
a worker that dies (segfault, abort) or stops moving is counted as a crash or a
hang of the call it was running, and a fresh worker takes over after it. The
summary gives the outcomes, the failures by kind with the first call of each,
and ``crashes = N``. The exit status is 1 when anything failed.
"""
from __future__ import annotations

import argparse
import collections
import multiprocessing as mp
import os
import signal
import sys
import time
import traceback
from multiprocessing.connection import wait
from pathlib import Path
from typing import Counter, Dict, List, Optional, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the op table and fuzz_calls

import fuzz_calls  # noqa: E402
import ops  # noqa: E402

CHUNK = 250             # calls a worker runs between reports
HANG_SECONDS = 120.0    # one call this long is a hang

Failure = Tuple[int, str, str]   # (call index, op name, failure)


def run_calls(op_names: List[str], seed: int, budget: int, start: int, stop: int, skip: frozenset,
              progress=None) -> Tuple[Counter, Counter, List[Failure]]:
    """Calls [start, stop) but ``skip``: outcome counts, warning counts, failures."""
    table = [ops.OPS_BY_NAME[n] for n in op_names]
    outcomes: Counter = collections.Counter()
    warned: Counter = collections.Counter()
    failures: List[Failure] = []
    for index in range(start, stop):
        if index in skip:
            continue
        if progress is not None:
            progress.value = index
        op = table[index % len(table)]
        try:
            outcome = fuzz_calls.check(fuzz_calls.seeded_call(op, seed, index, budget))
        except Exception:  # the fuzzer's own error: counted, not fatal
            outcome = fuzz_calls.Outcome("fuzzer-error", "fuzzer error: " + traceback.format_exc(limit=3))
        outcomes[outcome.kind] += 1
        warned.update(outcome.warnings)
        if outcome.failure:
            failures.append((index, op.name, outcome.failure))
    return outcomes, warned, failures


def _worker(conn, progress, op_names: List[str], seed: int, budget: int, threads: int) -> None:
    import fastsoftmax
    fastsoftmax.set_num_threads(threads)
    while True:
        task = conn.recv()
        if task is None:
            return
        progress.value = -1
        conn.send(run_calls(op_names, seed, budget, *task, progress=progress))


class Pool:
    """Workers fed chunks of call indices; a dead or stuck one is replaced and its call skipped."""

    def __init__(self, n: int, args: tuple):
        self.ctx = mp.get_context("spawn")
        self.args = args
        self.failed_starts = 0
        self.workers: List[dict] = [self._start() for _ in range(n)]

    def _start(self) -> dict:
        parent, child = self.ctx.Pipe()
        progress = self.ctx.Value("q", -1, lock=False)
        proc = self.ctx.Process(target=_worker, args=(child, progress, *self.args), daemon=True)
        proc.start()
        child.close()
        return {"proc": proc, "conn": parent, "progress": progress, "task": None, "seen": (-1, time.time())}

    def run(self, tasks: collections.deque, on_result, on_crash) -> None:
        while tasks or any(w["task"] for w in self.workers):
            for w in self.workers:
                if w["task"] is None and tasks:
                    w["task"] = tasks.popleft()
                    w["seen"] = (-1, time.time())
                    w["conn"].send(w["task"])
            busy = [w for w in self.workers if w["task"]]
            ready = wait([w["conn"] for w in busy] + [w["proc"].sentinel for w in busy], timeout=1.0)
            for i, w in enumerate(self.workers):
                if not w["task"]:
                    continue
                if w["conn"] in ready:
                    try:
                        on_result(w["conn"].recv())
                        w["task"] = None
                        continue
                    except (EOFError, OSError):
                        pass
                stuck = self._stuck(w)
                if w["proc"].sentinel in ready or stuck:
                    self._replace(i, w, tasks, on_crash, "hang" if stuck else self._death(w["proc"]))

    def _stuck(self, w: dict) -> bool:
        index, since = w["seen"]
        now = w["progress"].value
        if now != index:
            w["seen"] = (now, time.time())
            return False
        return time.time() - since > HANG_SECONDS

    @staticmethod
    def _death(proc) -> str:
        proc.join(5)
        code = proc.exitcode
        if code is not None and code < 0:
            try:
                return f"crash ({signal.Signals(-code).name})"
            except ValueError:
                return f"crash (signal {-code})"
        return f"crash (exit {code})"

    def _replace(self, i: int, w: dict, tasks: collections.deque, on_crash, why: str) -> None:
        index = w["progress"].value
        start, stop, skip = w["task"]
        w["proc"].kill()
        w["proc"].join()
        if index < 0:  # died before its first call: the import failed (a rebuild under way?)
            self.failed_starts += 1
            if self.failed_starts > 10:
                raise SystemExit(f"fuzz: workers keep dying before their first call ({why})")
            print(f"  a worker died before its first call ({why}); retrying in 10 s", file=sys.stderr)
            time.sleep(10)
        else:
            self.failed_starts = 0
            on_crash(index, why)
        # the chunk again, without that call: its first calls were never reported
        tasks.appendleft((start, stop, skip | {index}))
        self.workers[i] = self._start()

    def close(self) -> None:
        for w in self.workers:
            try:
                w["conn"].send(None)
            except OSError:
                pass
            w["proc"].join(5)


def replay(spec: str, seed: int, budget: int) -> int:
    name, _, index = spec.partition(":")
    call = fuzz_calls.seeded_call(ops.OPS_BY_NAME[name], seed, int(index), budget)
    print(fuzz_calls.describe(call))
    outcome = fuzz_calls.check(call)
    print(f"outcome: {outcome.kind}")
    print(f"failure: {outcome.failure}" if outcome.failure else "as expected")
    for w in outcome.warnings:
        print(f"warning: {w}")
    if outcome.detail:
        print(outcome.detail)
    return 1 if outcome.failure else 0


def summary(args, op_names: List[str], seconds: float, outcomes: Counter, warned: Counter,
            failures: List[Failure], crashes: List[Tuple[int, str, str]]) -> str:
    total = sum(outcomes.values()) + len(crashes)
    lines = [f"fastsoftmax fuzz: seed {args.seed}, {total} calls over {len(op_names)} ops "
             f"({', '.join(op_names)}), {args.workers or 'no'} workers, budget {args.budget} elements",
             f"time {seconds:.1f} s, {total / max(seconds, 1e-9):.0f} calls/s", "outcomes:"]
    lines += [f"  {kind:<22} {n:>10}" for kind, n in outcomes.most_common()]
    kinds: Dict[str, List[Failure]] = collections.defaultdict(list)
    for f in failures:
        kinds[f"{f[1]}: {fuzz_calls.failure_signature(f[2])}"].append(f)
    lines.append(f"failures = {len(failures)} in {len(kinds)} kinds (replay: python tools/fuzz.py --seed "
                 f"{args.seed} --budget {args.budget} --replay OP:INDEX)")
    for kind, found in sorted(kinds.items(), key=lambda kv: -len(kv[1]))[:args.show]:
        lines.append(f"  {len(found):>7}  {found[0][1] + ':' + str(found[0][0]):<36} {kind.split(': ', 1)[1]}")
    lines.append(f"crashes = {len(crashes)}")
    lines += [f"  {name}:{index}  {why}" for index, name, why in crashes[:args.show]]
    if warned:
        lines.append("warnings raised by calls (not failures):")
        lines += [f"  {n:>7}  {w[:150]}" for w, n in warned.most_common(10)]
    return "\n".join(lines)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--ops", default="", help="comma-separated op names (default: every op of the table)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                        help="worker processes; 0 runs the calls in this process (a crash ends the run)")
    parser.add_argument("--threads", type=int, default=1, help="fastsoftmax threads in each worker")
    parser.add_argument("--budget", type=int, default=2000, help="most elements of one call's arrays")
    parser.add_argument("--show", type=int, default=40, help="failure kinds and crashes listed")
    parser.add_argument("--replay", metavar="OP:INDEX", help="run one call and show it")
    args = parser.parse_args(argv)
    if args.replay:
        return replay(args.replay, args.seed, args.budget)
    op_names = [n for n in args.ops.split(",") if n] or [op.name for op in ops.OPS if op.fuzzed]
    unknown = [n for n in op_names if n not in ops.OPS_BY_NAME]
    if unknown:
        parser.error(f"unknown ops {unknown}; the table has {sorted(ops.OPS_BY_NAME)}")
    outcomes: Counter = collections.Counter()
    warned: Counter = collections.Counter()
    failures: List[Failure] = []
    crashes: List[Tuple[int, str, str]] = []
    began = last = time.time()

    def on_result(result) -> None:
        nonlocal last
        outcomes.update(result[0])
        warned.update(result[1])
        failures.extend(result[2])
        if time.time() - last > 30:
            last = time.time()
            done = sum(outcomes.values())
            print(f"  {done} calls, {done / (last - began):.0f}/s, {len(failures)} failures, "
                  f"{len(crashes)} crashes", file=sys.stderr, flush=True)

    def on_crash(index: int, why: str) -> None:
        name = op_names[index % len(op_names)]
        crashes.append((index, name, why))
        print(f"  {why} in call {name}:{index}", file=sys.stderr, flush=True)

    chunks = collections.deque((s, min(s + CHUNK, args.calls), frozenset()) for s in range(0, args.calls, CHUNK))
    if args.workers <= 0:
        import fastsoftmax
        fastsoftmax.set_num_threads(args.threads)
        for chunk in chunks:
            on_result(run_calls(op_names, args.seed, args.budget, *chunk))
    else:
        pool = Pool(args.workers, (op_names, args.seed, args.budget, args.threads))
        try:
            pool.run(chunks, on_result, on_crash)
        finally:
            pool.close()
    print(summary(args, op_names, time.time() - began, outcomes, warned, failures, crashes))
    return 1 if failures or crashes else 0


if __name__ == "__main__":
    sys.exit(main())
