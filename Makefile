# The two commands of the README: `make run` and `make test`.  Each installs
# what is missing (Debian packages, with apt-get, only when something is
# missing), configures, builds, and then trains the default example / runs
# every test.  Everything else is CMake's job.

BUILD    ?= build
EXAMPLE  ?= examples/fashion_mlp.hp
JOBS     ?= $(shell nproc 2>/dev/null || echo 2)
PACKAGES := cmake make gcc g++ binutils pkg-config flex bison llvm-19-dev libopenblas-dev zlib1g-dev \
            libcmocka-dev dataset-fashion-mnist fortunes gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user
# the tests of install, man page, completion and editor grammars (tests/tools/); npm comes with nodejs
PACKAGES += man-db groff-base zsh vim nodejs
# for the tests: TensorBoard records (tests/e2e/tensorboard.sh), hpc report in a browser (report.sh)
PACKAGES += protobuf-compiler python3-protobuf chromium
# data-parallel runs and studies over ranks (tests/e2e/mpi_*.sh, docs/distributed.md)
PACKAGES += libopenmpi-dev openmpi-bin
# for `make fuzz`: clang and its sanitizer/fuzzer runtimes
FUZZ_PACKAGES := clang-19 libclang-rt-19-dev

.PHONY: all run test deps build configure sanitize test-sanitize fuzz fuzz-deps fuzz-build fuzz-ci clean deploy-example install npm-deps

all: build

deps:
	@PKGS="$(PACKAGES)" sh tools/deps.sh

fuzz-deps:
	@PKGS="$(FUZZ_PACKAGES)" sh tools/deps.sh

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo

configure: deps $(BUILD)/CMakeCache.txt

build: configure
	cmake --build $(BUILD) -j $(JOBS)

run: build
	$(BUILD)/hpc explain $(EXAMPLE)
	$(BUILD)/hpc run $(EXAMPLE)

test: build npm-deps
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

# the TextMate engine for the grammar test (editors/test/package.json), in the build tree
npm-deps: configure
	sh tools/npm_setup.sh $(CURDIR) $(BUILD)/editors-test

# PREFIX/bin/hpc, its man page, bash and zsh completion, PREFIX/share/hpc/
PREFIX ?= /usr/local
install: build
	cmake --install $(BUILD) --prefix $(PREFIX)

# The same tests under AddressSanitizer and UndefinedBehaviorSanitizer.
test-sanitize: deps
	cmake -S . -B $(BUILD)-asan -DCMAKE_BUILD_TYPE=Debug -DHPC_SANITIZE=ON
	cmake --build $(BUILD)-asan -j $(JOBS)
	cd $(BUILD)-asan && ctest --output-on-failure -j $(JOBS)

# libFuzzer (clang, ASan, UBSan): fuzz_check over scan+parse+check, seeded
# with the examples and test cases; fuzz_idx, fuzz_csv, fuzz_text and
# fuzz_ckpt over the runtime's loaders and checkpoint reader, seeded with
# tests/fuzz/corpus/ (tests/fuzz/run.sh).  `make fuzz` runs each target for
# FUZZ_SECONDS; `make fuzz-ci` replays the committed corpora, then runs each
# target for 60 s.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS := fuzz_check fuzz_idx fuzz_csv fuzz_text fuzz_ckpt fuzz_journal

fuzz-build: deps fuzz-deps
	cmake -S . -B $(BUILD)-fuzz -DCMAKE_C_COMPILER=clang-19 -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHPC_FUZZ=ON
	cmake --build $(BUILD)-fuzz -j $(JOBS) --target $(FUZZ_TARGETS)

fuzz: fuzz-build
	sh tests/fuzz/run.sh $(BUILD)-fuzz $(FUZZ_SECONDS)

fuzz-ci: fuzz-build
	sh tests/fuzz/run.sh $(BUILD)-fuzz replay
	sh tests/fuzz/run.sh $(BUILD)-fuzz 60

# The Fashion-MNIST MLP, trained, compiled ahead of time, linked into
# examples/deploy/classify.c with nothing but libc and libm, and run.
deploy-example: build
	$(BUILD)/hpc run $(EXAMPLE) --out $(BUILD)/deploy/run --quiet
	$(BUILD)/hpc build $(EXAMPLE) --weights $(BUILD)/deploy/run -o $(BUILD)/deploy --name fashion_mlp
	cc -O2 -Wall -I$(BUILD)/deploy examples/deploy/classify.c $(BUILD)/deploy/libfashion_mlp.a -lm -o $(BUILD)/deploy/classify
	$(BUILD)/deploy/classify

clean:
	rm -rf $(BUILD) $(BUILD)-asan $(BUILD)-fuzz
