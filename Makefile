# vecseg - vector collections as Unix tools.  See README.md.
#
#   make            build the tools, libvecseg.a and libvecseg.so into build/
#   make check      install what the tests need (apt-get), build, run every test
#   make check SAN=1  the same with ASan and UBSan, built into build-san/
#   make fuzz       libFuzzer (clang) on every fuzz target, FUZZ_SECS seconds each
#   make demo       install what the demo needs, build, run fashion-mnist end to end
#   make bench      benchmarks beside FAISS and hnswlib on four sets (bench/README.md)
#   make bench-large  the 1M x 128 clustered set in full beside hnswlib and FAISS (bench/run,
#                   report in bench/out/clustered1m/), then issue 12's scale run: 1M, 4M x 128
#                   and 16M x 64 rows beside FAISS IVF, fan-out, MPI, a memory cap, split, node
#                   join (bench/large; hours; not in CI; BENCH_LARGE_SIZES="1000000 4000000")
#   make crash      the long crash runs: kills, power loss (tests/crash/README.md)
#   make install    PREFIX=/usr/local DESTDIR=   (make uninstall removes exactly that)

# The version is written once, in lib/vecseg.h (VS_VERSION_MAJOR/MINOR/PATCH).
VERSION   := $(shell awk '/^\#define VS_VERSION_(MAJOR|MINOR|PATCH) /{v = v s $$3; s = "."} END{print v}' lib/vecseg.h)
PREFIX    ?= /usr/local
DESTDIR   ?=
LIBDIR    ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
# bash-completion loads completions/CMD when CMD is first completed
COMPLETIONSDIR ?= $(PREFIX)/share/bash-completion/completions
# The shared library's soname: libvecseg.so.MAJOR, or libvecseg.so.0.MINOR while the major
# version is 0 (before 1.0 a minor release may change the ABI).
VERSION_MAJOR := $(word 1,$(subst ., ,$(VERSION)))
SOVERSION := $(if $(filter 0,$(VERSION_MAJOR)),0.$(word 2,$(subst ., ,$(VERSION))),$(VERSION_MAJOR))
SONAME    := libvecseg.so.$(SOVERSION)
CC        ?= cc
PKGS      := hdf5 openblas zlib jansson
CFLAGS    ?= -O2 -g
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
# OpenBLAS and HDF5 are not linked: lib/ loads them on first use (lib/util/dl.h), by the soname
# each has here, so a command that needs neither (one query through an index) never loads them.
PKG_LIBS   := $(shell pkg-config --libs zlib jansson 2>/dev/null)
DL_LIBS    := $(shell pkg-config --libs hdf5 openblas 2>/dev/null)
OPENBLAS_SONAME := $(shell scripts/soname openblas)
HDF5_SONAME     := $(shell scripts/soname hdf5)
# -ffp-contract=off: a*b + c is two roundings whatever the compiler and -march, so the values
# a build stores do not depend on them (SPEC.md 5.4; the kernels fuse only where they say so)
ALL_CFLAGS = -std=c11 -Wall -Wextra -D_GNU_SOURCE -ffp-contract=off -Iformat -Ilib $(PKG_CFLAGS) $(CFLAGS)
# The library's own objects: position-independent (for the shared library to come) and
# exporting only what the public headers declare with VS_API/VF_API.
LIB_CFLAGS = -fPIC -fno-semantic-interposition -fvisibility=hidden
LDLIBS    := $(PKG_LIBS) -lm -lpthread -ldl
B         := build
# Where the C test binaries find the source tree's files (tests/srcdir.h).
export VECSEG_SRCDIR := $(CURDIR)

# SAN=1: AddressSanitizer and UndefinedBehaviorSanitizer (gcc's, plus the float-to-integer
# overflow check gcc leaves out of "undefined" and clang does not), every report fatal, in a
# build directory of its own so the plain build stays.  SAN=fuzz is the build `make fuzz`
# makes: clang with libFuzzer's coverage instrumentation.
SAN       ?=
FUZZ_CC   ?= clang
FUZZ_SECS ?= 60
SAN_FLAGS :=
ifeq ($(SAN),1)
B         := build-san
SAN_FLAGS := -fsanitize=address,undefined,float-cast-overflow -fno-omit-frame-pointer -fno-sanitize-recover=all
ALL_CFLAGS += $(SAN_FLAGS)
export LSAN_OPTIONS ?= suppressions=$(CURDIR)/tests/lsan.supp
export UBSAN_OPTIONS ?= print_stacktrace=1
# the crash harnesses preload iotrace.so ahead of libasan, which ASan refuses unless told
export ASAN_OPTIONS ?= verify_asan_link_order=0
# tests that cap memory with ulimit -v use ASan's own limits instead (see tests/hostile.bats)
export VECSEG_SAN := 1
else ifeq ($(SAN),fuzz)
B         := build-fuzz
CC        := $(FUZZ_CC)
ALL_CFLAGS += -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
endif

FORMAT_SRC := $(wildcard format/*.c)
LIB_SRC    := $(sort $(shell find lib -name '*.c'))
OBJ        := $(patsubst %.c,$(B)/%.o,$(FORMAT_SRC) $(LIB_SRC))
TOOLS      := vec-ingest vec-seal vec-query vec-inspect vec-balance vec-shard vec-export
BINS       := $(addprefix $(B)/bin/,$(TOOLS))
UNIT_SRC   := $(wildcard tests/unit/test_*.c)
UNITS      := $(patsubst tests/unit/%.c,$(B)/tests/%,$(UNIT_SRC))
HEADERS    := $(wildcard format/*.h) $(shell find lib -name '*.h')
# What a program includes: vecseg.h, and the two headers it includes (tests/api.bats).
PUBLIC_HEADERS := lib/vecseg.h format/vecseg_format.h format/vf_error.h
MAN_PAGES  := $(wildcard man/*.1 man/*.5)
# Fuzz targets: every tests/fuzz/NAME.c but the replay driver (tests/fuzz/README.md).
FUZZ_TARGETS ?= $(filter-out replay,$(basename $(notdir $(wildcard tests/fuzz/*.c))))
FUZZ_HDR   := $(wildcard tests/fuzz/*.h)
REPLAYS    := $(addprefix $(B)/replay/,$(FUZZ_TARGETS))
# the LD_PRELOAD shim of the crash harnesses (tests/crash/iotrace.c)
IOTRACE    := $(B)/tests/iotrace.so
# vec-query-mpi, the MPI engine of the fan-out, is built when OpenMPI's mpicc
# is installed; `make MPI=0` leaves it out.
MPICC     ?= mpicc
MPI       ?= $(shell command -v $(MPICC) >/dev/null 2>&1 && echo 1 || echo 0)
ifeq ($(MPI),1)
BINS      += $(B)/bin/vec-query-mpi
endif

.PHONY: print-% all check check-deps demo demo-deps bench crash install uninstall clean unit bats deps-build \
        replay fuzz fuzz-build
all: $(B)/libvecseg.a $(B)/libvecseg.so $(BINS)

$(B)/%.o: %.c $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(LIB_CFLAGS) -c -o $@ $<

$(B)/lib/util/blas.o: ALL_CFLAGS += $(if $(OPENBLAS_SONAME),-DVS_OPENBLAS_SONAME='"$(OPENBLAS_SONAME)"')
$(B)/lib/io/hdf5_lib.o: ALL_CFLAGS += $(if $(HDF5_SONAME),-DVS_HDF5_SONAME='"$(HDF5_SONAME)"')

$(B)/libvecseg.a: $(OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

# The shared library: the same objects, the soname above, every symbol resolved (-z defs;
# not under SAN, whose runtime the program brings).
# The tools link the static one (they use the advanced API, VECSEG_STATIC_LINKING_ONLY).
$(B)/libvecseg.so.$(VERSION): $(OBJ)
	@mkdir -p $(dir $@)
	$(CC) -shared $(SAN_FLAGS) -Wl,-soname,$(SONAME) $(if $(SAN),,-Wl,-z,defs) -o $@ $^ $(LDLIBS)

$(B)/libvecseg.so: $(B)/libvecseg.so.$(VERSION)
	ln -sf libvecseg.so.$(VERSION) $(B)/$(SONAME)
	ln -sf $(SONAME) $@

# vecseg.pc for pkg-config, written by install for its PREFIX (libdir and includedir follow
# ${prefix} when under it, so --define-variable=prefix=DIR finds a staged copy); --static adds
# what the static library needs (Libs.private: the libraries this build found, not their
# Requires, whose Cflags a program of the public header does not need).
PC_LINES = 'prefix=$(PREFIX)' 'libdir=$(patsubst $(PREFIX)/%,$${prefix}/%,$(LIBDIR))' \
  'includedir=$(patsubst $(PREFIX)/%,$${prefix}/%,$(INCLUDEDIR))' '' 'Name: vecseg' \
  'Description: vector collections as Unix tools: the vector library' 'Version: $(VERSION)' \
  'Cflags: -I$${includedir}' 'Libs: -L$${libdir} -lvecseg' 'Libs.private: $(strip $(LDLIBS))'

$(B)/bin/%: cli/%.c $(B)/cli/common.o $(B)/libvecseg.a cli/common.h
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Icli -o $@ $< $(B)/cli/common.o $(B)/libvecseg.a $(LDLIBS)

# vec-query: its main (cli/vec-query.c) and its modes (cli/query_*.c, see cli/query.h);
# vec-query-mpi: the MPI engine's main (cli/query_mpi.c) with the modes it shares.
QUERY_SHARED := $(B)/cli/query_common.o $(B)/cli/query_merge.o
QUERY_OBJ    := $(QUERY_SHARED) $(B)/cli/query_search.o $(B)/cli/query_partial.o
$(B)/bin/vec-query: cli/vec-query.c $(QUERY_OBJ) $(B)/cli/common.o $(B)/libvecseg.a cli/common.h cli/query.h
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Icli -o $@ $< $(QUERY_OBJ) $(B)/cli/common.o $(B)/libvecseg.a $(LDLIBS)

$(B)/bin/vec-query-mpi: cli/query_mpi.c $(QUERY_SHARED) $(B)/cli/common.o $(B)/libvecseg.a cli/common.h cli/query.h
	@mkdir -p $(dir $@)
	$(MPICC) $(ALL_CFLAGS) -Icli -o $@ $< $(if $(filter 1,$(SAN)),tests/san-mpi.c) \
	  $(QUERY_SHARED) $(B)/cli/common.o $(B)/libvecseg.a $(LDLIBS)

$(B)/cli/%.o: cli/%.c cli/common.h cli/query.h $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Icli -c -o $@ $<

# test_io writes HDF5 files itself, test_dl calls OpenBLAS: each links the library lib/ loads,
# and both use the one copy
$(B)/tests/test_io $(B)/tests/test_dl: LDLIBS += $(DL_LIBS)
$(B)/tests/%: tests/unit/%.c $(wildcard tests/unit/*.h) $(B)/libvecseg.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Itests/unit -o $@ $< $(B)/libvecseg.a $(LDLIBS)

# A fuzz target linked with the replay driver: runs the target's seeds and regression inputs.
$(B)/replay/%: tests/fuzz/%.c tests/fuzz/replay.c $(FUZZ_HDR) $(B)/libvecseg.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Itests/fuzz -DFUZZ_NAME='"$*"' -o $@ $< tests/fuzz/replay.c $(B)/libvecseg.a $(LDLIBS)

# A fuzz target linked with libFuzzer (SAN=fuzz only).
$(B)/fuzz/%: tests/fuzz/%.c $(FUZZ_HDR) $(B)/libvecseg.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -fsanitize=fuzzer -Itests/fuzz -o $@ $< $(B)/libvecseg.a $(LDLIBS)

$(IOTRACE): tests/crash/iotrace.c
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -Wall -Wextra -D_GNU_SOURCE $(CFLAGS) -shared -fPIC -o $@ $< -ldl -lpthread

unit: $(UNITS)
	@set -e; for t in $(UNITS); do echo "== $$t"; $$t; done

bats: all $(IOTRACE)
	VECSEG_BIN=$(CURDIR)/$(B)/bin VECSEG_IOTRACE=$(CURDIR)/$(IOTRACE) VECSEG_SAN=$(SAN) bats --print-output-on-failure tests/*.bats

replay: $(REPLAYS)
	@set -e; for t in $(REPLAYS); do $$t 2>/dev/null; done

check: check-deps
	$(MAKE) all $(UNITS) $(REPLAYS) $(IOTRACE)
	@VECSEG_BIN=$(CURDIR)/$(B)/bin VECSEG_IOTRACE=$(CURDIR)/$(IOTRACE) VECSEG_SAN=$(SAN) scripts/run-tests $(UNITS) $(REPLAYS)

fuzz:
	@scripts/deps fuzz
	$(MAKE) SAN=fuzz fuzz-build
	@FUZZ_SECS=$(FUZZ_SECS) tests/fuzz/run $(addprefix build-fuzz/fuzz/,$(FUZZ_TARGETS))

fuzz-build: $(addprefix $(B)/fuzz/,$(FUZZ_TARGETS))

check-deps:
	@scripts/deps check

demo: demo-deps
	$(MAKE) all
	@scripts/demo

demo-deps:
	@scripts/deps demo

bench:
	@scripts/deps bench
	$(MAKE) all
	@bench/run

bench-large:
	@scripts/deps bench
	$(MAKE) all
	@BENCH_OUT=bench/out/clustered1m BENCH_SETS=clustered1m bench/run
	@bench/large

crash: check-deps
	$(MAKE) all $(IOTRACE)
	@tests/crash/run

# A program includes <vecseg/vecseg.h> and links `pkg-config --libs vecseg` (shared) or
# `pkg-config --static --libs vecseg` (static).  No ldconfig here: DESTDIR installs are staged;
# run it after installing into a system directory.  OpenBLAS and HDF5 are not linked: they
# load at run time.
install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(INCLUDEDIR)/vecseg \
	  $(DESTDIR)$(PREFIX)/share/man/man1 $(DESTDIR)$(PREFIX)/share/man/man5
	install -m 755 $(BINS) $(DESTDIR)$(PREFIX)/bin/
	install -m 644 $(B)/libvecseg.a $(DESTDIR)$(LIBDIR)/
	install -m 755 $(B)/libvecseg.so.$(VERSION) $(DESTDIR)$(LIBDIR)/
	ln -sf libvecseg.so.$(VERSION) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(LIBDIR)/libvecseg.so
	printf '%s\n' $(PC_LINES) >$(DESTDIR)$(LIBDIR)/pkgconfig/vecseg.pc
	chmod 644 $(DESTDIR)$(LIBDIR)/pkgconfig/vecseg.pc
	install -m 644 $(PUBLIC_HEADERS) $(DESTDIR)$(INCLUDEDIR)/vecseg/
	install -m 644 $(filter %.1,$(MAN_PAGES)) $(DESTDIR)$(PREFIX)/share/man/man1/
	install -m 644 $(filter %.5,$(MAN_PAGES)) $(DESTDIR)$(PREFIX)/share/man/man5/
	install -d $(DESTDIR)$(COMPLETIONSDIR)
	install -m 644 completion/vecseg.bash $(DESTDIR)$(COMPLETIONSDIR)/vecseg
	for t in $(TOOLS) vec-query-mpi; do ln -sf vecseg $(DESTDIR)$(COMPLETIONSDIR)/$$t || exit; done

# Every file install may have put, vec-query-mpi whether or not this build has MPI; of the
# directories only include/vecseg, which is ours alone.
uninstall:
	rm -f $(addprefix $(DESTDIR)$(PREFIX)/bin/,$(TOOLS) vec-query-mpi)
	rm -f $(addprefix $(DESTDIR)$(LIBDIR)/,libvecseg.a libvecseg.so $(SONAME) libvecseg.so.$(VERSION) \
	  pkgconfig/vecseg.pc)
	rm -f $(addprefix $(DESTDIR)$(INCLUDEDIR)/vecseg/,$(notdir $(PUBLIC_HEADERS)))
	rm -f $(addprefix $(DESTDIR)$(PREFIX)/share/man/man1/,$(notdir $(filter %.1,$(MAN_PAGES))))
	rm -f $(addprefix $(DESTDIR)$(PREFIX)/share/man/man5/,$(notdir $(filter %.5,$(MAN_PAGES))))
	rm -f $(addprefix $(DESTDIR)$(COMPLETIONSDIR)/,vecseg $(TOOLS) vec-query-mpi)
	if [ -d $(DESTDIR)$(INCLUDEDIR)/vecseg ]; then rmdir $(DESTDIR)$(INCLUDEDIR)/vecseg; fi

# make print-VAR: the value of a variable (tests/api.bats asks for LDLIBS and SAN_FLAGS).
print-%:
	@echo '$($*)'

clean:
	rm -rf build build-san build-fuzz
