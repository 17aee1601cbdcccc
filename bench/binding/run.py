"""Per-call cost of nanobind vs pybind11, to justify statefold's binding choice.

Builds two extension modules with identical functions (call_cost_nb.cc,
call_cost_pb.cc) into build-binding/ and times, in ns per call:
  noop(x)               Python -> C++, one object argument (an int: nanobind
                        refuses None for nb::object without .none()), returns None
  add(a, b)             Python -> C++, two ints converted to int64 and back
  call_n(fn, n)         C++ -> Python, fn(i) through the binding's object call
  call_n_vectorcall     C++ -> Python, fn(i) through raw PyObject_Vectorcall
                        (what the engine does; same code in both modules)
fn is a trivial Python lambda, so the call_n rows include running it. The
timing runs in a child process pinned with `taskset -c CPU` when available.

Usage, from the repo root: .venv/bin/python bench/binding/run.py [--cpu 1]
"""

import argparse
import os
import shutil
import subprocess
import sys
import timeit

HERE = os.path.dirname(os.path.abspath(__file__))
BUILD = os.path.join(os.path.dirname(os.path.dirname(HERE)), "build-binding")
CALLS = 2_000_000
REPEATS = 5


def build():
    subprocess.run(["cmake", "-S", HERE, "-B", BUILD, "-G", "Ninja",
                    "-DCMAKE_BUILD_TYPE=Release", f"-DPython_EXECUTABLE={sys.executable}"],
                   check=True, stdout=subprocess.DEVNULL)
    subprocess.run(["cmake", "--build", BUILD], check=True)


def per_call_ns(stmt, number, env=None):
    """Best of REPEATS runs of CALLS calls in all, in ns per call."""
    return min(timeit.repeat(stmt, number=number, repeat=REPEATS, globals=env)) / CALLS * 1e9


def measure(module):
    fn = lambda i: None  # noqa: E731
    seen = []
    module.call_n(seen.append, 3)
    module.call_n_vectorcall(seen.append, 2)
    assert module.add(2, 3) == 5 and module.noop(1) is None and seen == [0, 1, 2, 0, 1]
    env = {"noop": module.noop, "add": module.add}
    return {
        "noop(x)": per_call_ns("noop(0)", CALLS, env),
        "add(a, b)": per_call_ns("add(1, 2)", CALLS, env),
        "call_n(fn, n)": per_call_ns(lambda: module.call_n(fn, CALLS), 1),
        "call_n_vectorcall(fn, n)": per_call_ns(lambda: module.call_n_vectorcall(fn, CALLS), 1),
    }


def report():
    sys.path.insert(0, BUILD)
    import call_cost_nb
    import call_cost_pb
    import nanobind
    import pybind11

    nb, pb = measure(call_cost_nb), measure(call_cost_pb)
    fn = lambda i: None  # noqa: E731
    python_call = per_call_ns("fn(0)", CALLS, {"fn": fn})

    print(f"Python {sys.version.split()[0]}, nanobind {nanobind.__version__}, "
          f"pybind11 {pybind11.__version__}; {CALLS:,} calls, best of {REPEATS}; "
          f"CPU affinity {sorted(os.sched_getaffinity(0))}")
    print(f"{'function':<26}{'nanobind ns':>13}{'pybind11 ns':>13}{'pb11/nb':>9}")
    for name in nb:
        print(f"{name:<26}{nb[name]:>13.1f}{pb[name]:>13.1f}{pb[name] / nb[name]:>9.2f}")
    print(f"reference: fn(0) called from Python (timeit loop included): {python_call:.1f} ns")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cpu", type=int, default=1, help="CPU to pin the timing process to")
    parser.add_argument("--measure-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure_only:
        return report()
    build()
    pin = ["taskset", "-c", str(args.cpu)] if shutil.which("taskset") else []
    subprocess.run([*pin, sys.executable, os.path.abspath(__file__), "--measure-only"], check=True)


if __name__ == "__main__":
    main()
