# statefold: one target per common task. `make demo` runs the main job; `make test` builds
# everything and runs every test. Both install what they need (scripts/install-deps).

PYTHON_VENV := .venv/bin/python
BUILD := build
BUILD_ASAN := build-asan
BUILD_FUZZ := build-fuzz
FUZZ_TARGETS := record_decoder_fuzz event_decoder_fuzz state_codec_fuzz http_parser_fuzz
# Seconds per fuzz target: `make fuzz-ci` (part of `make test`: 0, the seed corpora replayed,
# deterministic) and `make fuzz` (exploration).
FUZZ_CI_SECONDS ?= 0
FUZZ_SECONDS ?= 600
JOBS ?= $(shell nproc)

.PHONY: deps build test test-cpp test-cpp-asan test-python test-install demo bench-programs bench \
  bench-serve fmt fmt-check clean fuzz-build fuzz-ci fuzz

deps:
	bash scripts/install-deps

$(BUILD)/build.ninja: | deps
	cmake -S . -B $(BUILD) -G Ninja -DPython_EXECUTABLE=$(abspath $(PYTHON_VENV)) -DSTATEFOLD_WERROR=ON

build: deps $(BUILD)/build.ninja
	cmake --build $(BUILD) -j $(JOBS)
	bash scripts/install-python-package $(BUILD)

test: build test-cpp test-cpp-asan test-python test-install fuzz-ci

test-cpp: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

# The C++ suite again under AddressSanitizer and UBSan (without the Python module).
test-cpp-asan: deps
	cmake -S . -B $(BUILD_ASAN) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DSTATEFOLD_PYTHON=OFF \
	  -DSTATEFOLD_WERROR=ON -DSTATEFOLD_SANITIZE=address,undefined
	cmake --build $(BUILD_ASAN) -j $(JOBS)
	cd $(BUILD_ASAN) && ctest --output-on-failure -j $(JOBS)

test-python: build
	$(PYTHON_VENV) -m pytest -q tests/python

# `pip install .` (pyproject.toml) into a fresh virtual environment, then the reference example
# run from there (tests/install): a full build of the engine in pip's own build tree.
test-install: deps
	CMAKE_BUILD_PARALLEL_LEVEL=$(JOBS) $(PYTHON_VENV) -m pytest -q tests/install

# libFuzzer targets (fuzz/, clang with ASan and UBSan) in their own build tree; each runs from
# its committed seed corpus (fuzz/corpus/<target>/) for FUZZ_CI_SECONDS (`make fuzz-ci`) or
# FUZZ_SECONDS (`make fuzz`). New inputs go to build-fuzz/corpus/<target>/, crashes to
# build-fuzz/crashes/ (see docs/operations.md, "Fuzzing").
fuzz-build: deps
	cmake -S . -B $(BUILD_FUZZ) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DCMAKE_CXX_COMPILER=clang++ -DSTATEFOLD_FUZZ=ON -DSTATEFOLD_WERROR=ON
	cmake --build $(BUILD_FUZZ) -j $(JOBS)

fuzz-ci: fuzz-build
	bash scripts/run-fuzzers $(BUILD_FUZZ) $(FUZZ_CI_SECONDS) $(FUZZ_TARGETS)

fuzz: fuzz-build
	bash scripts/run-fuzzers $(BUILD_FUZZ) $(FUZZ_SECONDS) $(FUZZ_TARGETS)

demo: build
	bash examples/login/run_demo.sh

# The benchmark programs (bench/CMakeLists.txt, into build/bench/) are built only with
# STATEFOLD_BENCH=ON; this turns it on in build/, where it stays on.
bench-programs: build
	cmake -S . -B $(BUILD) -DSTATEFOLD_BENCH=ON
	cmake --build $(BUILD) -j $(JOBS)

bench: bench-programs
	$(PYTHON_VENV) bench/run.py

# GET /v1/features at 10k requests/s against `statefold serve` (see BENCHMARKS.md).
bench-serve: bench-programs
	$(PYTHON_VENV) bench/serve.py --redis

fmt:
	clang-format -i $$(git ls-files '*.cc' '*.h')

fmt-check:
	clang-format --dry-run --Werror $$(git ls-files '*.cc' '*.h')

# Everything a build made: the build trees (build/, build-asan/, bench/binding's build-binding/,
# ...), the modules installed into python/statefold, packaging output, and the caches of Python
# and of the test tools. Not .venv (the environment `make deps` made), nor the inputs and state
# directories that benchmark and `statefold run` runs left (bench/data, bench/out, .statefold).
clean:
	rm -rf $(BUILD) $(BUILD_ASAN) build-* python/statefold/_ext*.so \
	  python/statefold/libstatefold.so* dist wheelhouse *.egg-info python/*.egg-info \
	  .pytest_cache .hypothesis
	find . -path ./.venv -prune -o -type d -name __pycache__ -prune -exec rm -rf {} +
