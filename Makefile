# rwkv.h - build, tests and demos. `make` builds bin/rwkv and the examples.
CC      ?= cc
CXX     ?= c++
OPT     ?= -O2
WARN     = -std=c11 -Wall -Wextra -pedantic -Werror
# SIMD kernels for this machine (ARCH= builds the plain C kernels only)
ARCH    ?= -march=native
# OpenMP threads where the compiler has it (OPENMP=0 to build without)
OPENMP  ?= $(shell echo 'int main(void){return 0;}' | $(CC) -fopenmp -x c - -o /dev/null 2>/dev/null && echo 1 || echo 0)
ifeq ($(OPENMP),1)
OMPFLAGS = -fopenmp
endif
CFLAGS  += $(OPT) $(WARN) $(ARCH) $(OMPFLAGS)
LDLIBS  += -lm
DATA    ?= ../shared/data
SAN      = -O1 -g $(ARCH) -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all

HEADERS  = rwkv.h $(wildcard tools/*.h)
FUZZERS  = model vocab text state checkpoint bpe
PROGRAMS = bin/rwkv bin/minimal

.PHONY: all test conformance sanitize valgrind tsan run clean cxx fuzz coverage unicode-tables \
        firmware firmware-run firmware-check test-arm64 test-32

all: $(PROGRAMS)

bin:
	mkdir -p bin

bin/rwkv: tools/rwkv.c $(HEADERS) | bin
	$(CC) $(CFLAGS) -I. -o $@ tools/rwkv.c $(LDLIBS)

bin/minimal: examples/minimal.c rwkv.h | bin
	$(CC) $(CFLAGS) -I. -o $@ examples/minimal.c $(LDLIBS)

bin/test_rwkv: tests/test_rwkv.c $(HEADERS) | bin
	$(CC) $(CFLAGS) -I. -o $@ tests/test_rwkv.c $(LDLIBS)

bin/test_conformance: tests/test_conformance.c $(HEADERS) | bin
	$(CC) $(CFLAGS) -I. -o $@ tests/test_conformance.c $(LDLIBS)

bin/test_checkpoint: tests/test_checkpoint.c $(HEADERS) | bin
	$(CC) $(CFLAGS) -I. -o $@ tests/test_checkpoint.c $(LDLIBS)

bin/test_checkpoint_conformance: tests/test_checkpoint_conformance.c $(HEADERS) | bin
	$(CC) $(CFLAGS) -I. -o $@ tests/test_checkpoint_conformance.c $(LDLIBS)

bin/test_versions: tests/test_versions.c $(HEADERS) | bin
	$(CC) $(CFLAGS) -I. -o $@ tests/test_versions.c $(LDLIBS)

bin/test_threads: tests/test_threads.c $(HEADERS) | bin
	$(CC) $(CFLAGS) -pthread -I. -o $@ tests/test_threads.c $(LDLIBS)

bin/test_bpe: tests/test_bpe.c $(HEADERS) | bin
	$(CC) $(CFLAGS) -I. -o $@ tests/test_bpe.c $(LDLIBS)

bin/test_bpe_conformance: tests/test_bpe_conformance.c $(HEADERS) | bin
	$(CC) $(CFLAGS) -I. -o $@ tests/test_bpe_conformance.c $(LDLIBS)

# The same tests on the plain C kernels (no SIMD), which must agree.
bin/test_rwkv_plain: tests/test_rwkv.c $(HEADERS) | bin
	$(CC) $(CFLAGS) -DRWKV_NO_SIMD -I. -o $@ tests/test_rwkv.c $(LDLIBS)

# The header must also compile as C++ (checked as part of `make test`).
bin/cxx_check: tests/cxx_check.cpp rwkv.h | bin
	$(CXX) -O1 -Wall -Wextra -pedantic -Werror -I. -o $@ tests/cxx_check.cpp

# Self-contained tests: no file outside the repo is read.
test: bin/test_rwkv bin/test_rwkv_plain bin/test_versions bin/test_threads bin/test_bpe bin/test_checkpoint bin/cxx_check all $(FUZZERS:%=bin/fuzz_replay_%)
	./bin/cxx_check
	set -e; for h in $(FUZZERS); do ./bin/fuzz_replay_$$h $$(find tests/fuzz/regressions/$$h -type f 2>/dev/null) >/dev/null; done
	./bin/test_versions
	./bin/test_threads
	./bin/test_bpe
	./bin/test_checkpoint
	./bin/test_rwkv_plain
	./bin/test_rwkv

# Against the real models and reference logits in $(DATA).
conformance: bin/test_conformance bin/test_bpe_conformance bin/test_checkpoint_conformance bin/rwkv
	./bin/test_bpe_conformance $(DATA)/vocab/20B_tokenizer.json tests/data/bpe_expected.txt
	./bin/test_checkpoint_conformance $(DATA)
	./bin/test_conformance $(DATA) ./bin/rwkv

# Both test programs under AddressSanitizer + UndefinedBehaviorSanitizer.
sanitize: | bin
	$(CC) $(WARN) $(SAN) -I. -o bin/test_rwkv_san tests/test_rwkv.c $(LDLIBS)
	$(CC) $(WARN) $(SAN) -I. -o bin/test_conformance_san tests/test_conformance.c $(LDLIBS)
	$(CC) $(WARN) $(SAN) -I. -o bin/rwkv_san tools/rwkv.c $(LDLIBS)
	$(CC) $(WARN) $(SAN) -I. -o bin/test_bpe_san tests/test_bpe.c $(LDLIBS)
	$(CC) $(WARN) $(SAN) -I. -o bin/test_bpe_conformance_san tests/test_bpe_conformance.c $(LDLIBS)
	$(CC) $(WARN) $(SAN) -I. -o bin/test_checkpoint_san tests/test_checkpoint.c $(LDLIBS)
	$(CC) $(WARN) $(SAN) -I. -o bin/test_versions_san tests/test_versions.c $(LDLIBS)
	./bin/test_versions_san
	./bin/test_bpe_san
	./bin/test_checkpoint_san
	./bin/test_bpe_conformance_san $(DATA)/vocab/20B_tokenizer.json tests/data/bpe_expected.txt
	./bin/test_rwkv_san
	./bin/test_conformance_san $(DATA) ./bin/rwkv_san

# The self-contained tests under valgrind memcheck (which lacks AVX-512, so
# this build targets AVX2).
VALGRIND_TESTS = test_rwkv test_versions test_threads test_bpe test_checkpoint
valgrind: | bin
	set -e; for t in $(VALGRIND_TESTS); do \
	  $(CC) $(WARN) -O1 -g -mavx2 -mfma -mf16c -pthread -I. -o bin/$${t}_vg tests/$$t.c $(LDLIBS); \
	  valgrind -q --leak-check=full --error-exitcode=9 ./bin/$${t}_vg > bin/$${t}_vg.log 2>&1 \
	    || { tail -40 bin/$${t}_vg.log; exit 1; }; \
	  tail -1 bin/$${t}_vg.log; \
	done

# One model shared by threads, under ThreadSanitizer (without OpenMP, whose
# runtime TSan cannot see into).
tsan: | bin
	clang $(WARN) -O1 -g $(ARCH) -fsanitize=thread -pthread -I. -o bin/test_threads_tsan tests/test_threads.c $(LDLIBS)
	./bin/test_threads_tsan

# Fuzz every parser with libFuzzer (clang), from seeds the project makes:
# FUZZ_SECONDS each (default 60). Crashes land in build/fuzz/; keep them in
# tests/fuzz/regressions/<harness>/, which `make test` replays.
FUZZ_SECONDS ?= 60
fuzz: | bin
	mkdir -p build/fuzz
	$(CC) -O1 -std=c11 -I. -o build/fuzz/make_seeds tests/fuzz/make_seeds.c $(LDLIBS)
	./build/fuzz/make_seeds build/fuzz/seeds
	set -e; for h in $(FUZZERS); do \
	  clang -g -O1 $(ARCH) -fsanitize=fuzzer,address,undefined -I. -o build/fuzz/fuzz_$$h tests/fuzz/fuzz_$$h.c $(LDLIBS); \
	  mkdir -p build/fuzz/corpus/$$h; \
	  regressions=; [ -d tests/fuzz/regressions/$$h ] && regressions=../../tests/fuzz/regressions/$$h; \
	  (cd build/fuzz && ./fuzz_$$h -max_total_time=$(FUZZ_SECONDS) -max_len=65536 -print_final_stats=1 \
	     corpus/$$h seeds/$$h $$regressions > fuzz_$$h.log 2>&1) || { tail -40 build/fuzz/fuzz_$$h.log; exit 1; }; \
	  echo "fuzz_$$h: $$(grep -E '^#[0-9]+[[:space:]]+DONE' build/fuzz/fuzz_$$h.log | tail -1)"; \
	done

# The regression inputs found by fuzzing, replayed without libFuzzer.
bin/fuzz_replay_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz_common.h $(HEADERS) | bin
	$(CC) $(CFLAGS) -DFUZZ_REPLAY -I. -o $@ $< $(LDLIBS)

# Line and branch coverage of rwkv.h by the self-contained tests (gcov and
# lcov, which merges the test programs' counts).
COVERED = test_rwkv test_versions test_bpe test_checkpoint
coverage: | bin
	rm -rf build/coverage && mkdir -p build/coverage
	set -e; for t in $(COVERED); do \
	  $(CC) -O0 -g --coverage -std=c11 $(ARCH) -I. -o build/coverage/$$t tests/$$t.c $(LDLIBS); \
	  ./build/coverage/$$t | tail -1; \
	done
	lcov -q -c --rc lcov_branch_coverage=1 -d build/coverage -o build/coverage/all.info
	lcov -q --rc lcov_branch_coverage=1 -e build/coverage/all.info '*/rwkv.h' -o build/coverage/rwkv_h.info
	lcov --rc lcov_branch_coverage=1 --summary build/coverage/rwkv_h.info

# Regenerate the Unicode tables in rwkv.h (needs Debian's unicode-data).
unicode-tables:
	python3 tools/gen_unicode_tables.py --update rwkv.h

# Cortex-M4F demo in QEMU (examples/firmware), and the tests on AArch64
# (NEON, under qemu-aarch64) and on 32-bit x86.
firmware:
	$(MAKE) -C examples/firmware build
firmware-run:
	$(MAKE) -C examples/firmware run
firmware-check:
	$(MAKE) -C examples/firmware check
test-arm64:
	tools/cross/test-arm64.sh
test-32:
	tools/cross/test-32.sh

# Generate text from the model that ships with the repo.
run: bin/rwkv
	./bin/rwkv generate -p "ROMEO:" -n 300 -s 42

clean:
	rm -rf bin build
