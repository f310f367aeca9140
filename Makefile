# millivid build. `make` builds build/libmillivid.a and build/millivid; `make test` runs the suite;
# `make SAN=1 test` builds with AddressSanitizer + UndefinedBehaviorSanitizer into build-san/;
# `make bench` prints the speed comparison against PyTorch.
CC ?= cc
SAN ?= 0
ifeq ($(FUZZ),1)
  # libFuzzer targets (make fuzz): clang, ASan + UBSan, the library instrumented for coverage
  CC := clang
  BUILD ?= build-fuzz
  OPT = -O1 -g -march=native -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined -Wno-pass-failed
  LDSAN = -fsanitize=fuzzer,address,undefined
else ifeq ($(SAN),1)
  BUILD ?= build-san
  OPT = -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
  LDSAN = -fsanitize=address,undefined
else
  BUILD ?= build
  OPT = -O3 -march=native -g
  LDSAN =
endif
# -fno-math-errno: sqrtf & co. need not set errno (nothing reads it), so loops like AdamW's vectorise;
# results are unchanged: no value-changing floating-point flag is used anywhere in this build.
# OpenMPI (libopenmpi-dev) for data-parallel training (src/core/dist.c, the one file that includes mpi.h).
MPI_CFLAGS := $(shell pkg-config --cflags ompi-c)
MPI_LIBS := $(shell pkg-config --libs ompi-c)
CFLAGS_BASE = -std=c11 -D_GNU_SOURCE -Wall -Wextra -Wno-unused-parameter -fno-math-errno -fopenmp -Iinclude -Isrc $(shell pkg-config --cflags libcjson libavformat libavcodec libavutil libswscale libpng 2>/dev/null) $(MPI_CFLAGS)
CFLAGS ?=
ALL_CFLAGS = $(CFLAGS_BASE) $(OPT) $(CFLAGS)
LDLIBS = -ldnnl $(shell pkg-config --libs libcjson libavformat libavcodec libavutil libswscale libpng 2>/dev/null) $(MPI_LIBS) -lm -fopenmp $(LDSAN)

LIB_SRC := $(sort $(wildcard src/core/*.c src/nn/*.c src/models/*.c src/rollout/*.c src/pipeline/*.c src/world/*.c src/io/*.c src/eval/*.c))
CLI_SRC := $(sort $(wildcard src/cli/*.c))
TEST_SRC := $(sort $(wildcard tests/test_*.c))
BENCH_SRC := $(sort $(wildcard bench/*_bench.c))
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
CLI_OBJ := $(CLI_SRC:%.c=$(BUILD)/obj/%.o)
TEST_BIN := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
BENCH_BIN := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)
EXAMPLE_SRC := $(sort $(wildcard examples/*.c))
EXAMPLE_BIN := $(EXAMPLE_SRC:examples/%.c=$(BUILD)/examples/%)
TESTUTIL_OBJ := $(BUILD)/obj/tests/testutil.o

FUZZ_SRC := $(sort $(wildcard fuzz/fuzz_*.c))
FUZZ_BIN := $(FUZZ_SRC:fuzz/%.c=$(BUILD)/fuzz/%)
FUZZ_SECONDS ?= 10

.PHONY: all test bench clean tests fuzz fuzz-bins fuzz-smoke
.SECONDARY:
all: $(BUILD)/millivid $(BUILD)/libmillivid.a $(EXAMPLE_BIN)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/libmillivid.a: $(LIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/millivid: $(CLI_OBJ) $(BUILD)/libmillivid.a
	$(CC) $(ALL_CFLAGS) -o $@ $(CLI_OBJ) $(BUILD)/libmillivid.a $(LDLIBS)

$(BUILD)/tests/%: tests/%.c $(TESTUTIL_OBJ) $(BUILD)/libmillivid.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Itests -o $@ $< $(TESTUTIL_OBJ) $(BUILD)/libmillivid.a $(LDLIBS)

# Example programs: only include/ on the include path, so they use the public API alone.
$(BUILD)/examples/%: examples/%.c include/millivid.h $(BUILD)/libmillivid.a
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -Wall -Wextra -Iinclude $(OPT) $(CFLAGS) -o $@ $< $(BUILD)/libmillivid.a $(LDLIBS)

$(BUILD)/bench/%: bench/%.c $(BUILD)/libmillivid.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(BUILD)/libmillivid.a $(LDLIBS)

tests: $(TEST_BIN) $(BUILD)/millivid $(EXAMPLE_BIN)

# Runs every test program from the repository root; ends with "N passed, N failed".
test: tests
	@sh tests/run.sh $(BUILD) $(TESTS)

bench: $(BENCH_BIN) $(BUILD)/millivid
	@sh bench/run.sh $(BUILD)

$(BUILD)/fuzz/%: fuzz/%.c fuzz/fuzz_common.h $(BUILD)/libmillivid.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(BUILD)/libmillivid.a $(LDLIBS)

fuzz-bins: $(FUZZ_BIN)

# Builds the libFuzzer targets into build-fuzz/fuzz/ (clang + libFuzzer, ASan + UBSan).
fuzz:
	$(MAKE) FUZZ=1 fuzz-bins

# Runs every fuzz target FUZZ_SECONDS seconds on a copy of its seed corpus (fuzz/corpus/<target>/).
fuzz-smoke: fuzz
	@sh fuzz/run.sh build-fuzz $(FUZZ_SECONDS)

clean:
	rm -rf build build-san build-fuzz

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d) $(TESTUTIL_OBJ:.o=.d)
