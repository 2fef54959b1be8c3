# pg_continuous: PGXS build.  `make test` and `make demo` are self-contained:
# they install what they need, build, install and run throwaway clusters.

MODULE_big = pg_continuous
# In module order, bottom up (src/README.md): a module calls only modules
# listed before it.
OBJS = \
	src/base/security.o \
	src/base/catalog.o \
	src/agg/multiset.o \
	src/agg/firstlast.o \
	src/agg/distinct.o \
	src/agg/orderedset.o \
	src/agg/aggregate.o \
	src/store/store.o \
	src/store/viewstore.o \
	src/store/keptinputs.o \
	src/stream/stream.o \
	src/query/compile.o \
	src/query/analyze.o \
	src/worker/registry.o \
	src/worker/closing.o \
	src/worker/apply.o \
	src/worker/merge.o \
	src/worker/checkpoint.o \
	src/worker/restore.o \
	src/worker/backfill.o \
	src/worker/decoder.o \
	src/worker/worker.o \
	src/read/reader.o \
	src/read/viewscan.o \
	src/api/ddl.o \
	src/api/functions.o \
	src/pg_continuous.o

EXTENSION = pg_continuous
DATA = pg_continuous--1.0.sql pg_continuous--1.0--1.1.sql pg_continuous--1.1--1.2.sql
# Only what PostgreSQL looks up by name is exported from the library: the
# magic block, _PG_init, _PG_output_plugin_init, the background workers'
# entry points and the SQL-callable functions, all marked PGDLLEXPORT
# (PostgreSQL 16 defines it this way itself; 15 leaves it empty on ELF).
# t/001_exported_symbols.pl checks the list.
PG_CPPFLAGS = -I$(srcdir)/src '-DPGDLLEXPORT=__attribute__((visibility("default")))'
PG_CFLAGS = -fvisibility=hidden -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers -Wno-sign-compare

# The tests, for PGXS's `make installcheck` (as a user who may run initdb,
# with the extension installed): pg_regress and the isolation tester each
# start a throwaway server of their own (--temp-instance) with the settings
# the extension needs (regress.conf, written first), and prove runs t/*.pl,
# whose servers the tests start themselves.  `make test` runs the same tests
# as root on a fresh machine (scripts/run-tests.sh).
REGRESS = $(sort $(basename $(notdir $(wildcard $(srcdir)/sql/*.sql))))
REGRESS_OPTS = --temp-instance=$(CURDIR)/tmp_check_regress --temp-config=$(CURDIR)/regress.conf
# worker_slot first: it keeps the worker's replication slot for the others.
ISOLATION = worker_slot $(filter-out worker_slot,$(sort $(basename $(notdir $(wildcard $(srcdir)/specs/*.spec)))))
ISOLATION_OPTS = --temp-instance=$(CURDIR)/tmp_check_isolation --temp-config=$(CURDIR)/regress.conf
TAP_TESTS = 1
REGRESS_PREP = regress.conf
EXTRA_CLEAN = regress.conf tmp_check_regress tmp_check_isolation output_iso

PG_CONFIG ?= $(firstword $(wildcard /usr/lib/postgresql/15/bin/pg_config) pg_config)
PGXS := $(shell $(PG_CONFIG) --pgxs 2>/dev/null)

# On a fresh machine the server headers are not installed yet: `make test`
# and `make demo` install them first, so they must work without PGXS.
ifneq ($(wildcard $(PGXS)),)
include $(PGXS)
endif

# After PGXS, which empties it: the TAP tests' own modules.
PROVE_FLAGS = -I $(srcdir)/t/lib

# PGXS does not track header dependencies: rebuild every module when a
# header changes, since they share struct layouts.
$(OBJS): $(wildcard $(srcdir)/src/*/*.h)

# output_plugin_libraries exists from PostgreSQL 15.19 on; older servers
# refuse to start with it in their configuration.
regress.conf:
	{ echo "shared_preload_libraries = 'pg_continuous'"; \
	  echo "wal_level = logical"; \
	  echo "max_replication_slots = 10"; \
	  echo "max_worker_processes = 16"; \
	  echo "lc_messages = 'C'"; \
	  if '$(bindir)/postgres' --describe-config 2>/dev/null | grep -q '^output_plugin_libraries'; then \
	    echo "output_plugin_libraries = 'pgoutput, test_decoding, pg_continuous'"; fi; } > $@

# One formatter: clang-format with the repository's .clang-format (Debian's
# clang-format 14; other versions may format differently).
CLANG_FORMAT ?= clang-format
FORMAT_FILES = $(sort $(wildcard $(srcdir)/src/*.[ch] $(srcdir)/src/*/*.[ch]))

.PHONY: test demo format format-check
format:
	$(CLANG_FORMAT) -i $(FORMAT_FILES)

format-check:
	$(CLANG_FORMAT) --dry-run --Werror $(FORMAT_FILES)

test:
	bash scripts/run-tests.sh

demo:
	bash scripts/demo.sh
