# pg_continuous: PGXS build.  `make test` and `make demo` are self-contained:
# they install what they need, build, install and run throwaway clusters.

MODULE_big = pg_continuous
# In module order, bottom up (src/README.md): a module calls only modules
# listed before it.
OBJS = \
	src/base/security.o \
	src/base/catalog.o \
	src/agg/multiset.o \
	src/agg/distinct.o \
	src/agg/aggregate.o \
	src/store/store.o \
	src/store/viewstore.o \
	src/store/keptinputs.o \
	src/stream/stream.o \
	src/query/compile.o \
	src/query/analyze.o \
	src/worker/registry.o \
	src/worker/apply.o \
	src/worker/merge.o \
	src/worker/checkpoint.o \
	src/worker/backfill.o \
	src/worker/decoder.o \
	src/worker/worker.o \
	src/read/reader.o \
	src/read/viewscan.o \
	src/api/ddl.o \
	src/api/functions.o \
	src/pg_continuous.o

EXTENSION = pg_continuous
DATA = pg_continuous--1.0.sql
# Only what PostgreSQL looks up by name is exported from the library: the
# magic block, _PG_init, _PG_output_plugin_init, the background workers'
# entry points and the SQL-callable functions, all marked PGDLLEXPORT
# (PostgreSQL 16 defines it this way itself; 15 leaves it empty on ELF).
# t/001_exported_symbols.pl checks the list.
PG_CPPFLAGS = -I$(srcdir)/src '-DPGDLLEXPORT=__attribute__((visibility("default")))'
PG_CFLAGS = -fvisibility=hidden -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers -Wno-sign-compare

PG_CONFIG ?= $(firstword $(wildcard /usr/lib/postgresql/15/bin/pg_config) pg_config)
PGXS := $(shell $(PG_CONFIG) --pgxs 2>/dev/null)

# On a fresh machine the server headers are not installed yet: `make test`
# and `make demo` install them first, so they must work without PGXS.
ifneq ($(wildcard $(PGXS)),)
include $(PGXS)
endif

# PGXS does not track header dependencies: rebuild every module when a
# header changes, since they share struct layouts.
$(OBJS): $(wildcard $(srcdir)/src/*/*.h)

.PHONY: test demo
test:
	bash scripts/run-tests.sh

demo:
	bash scripts/demo.sh
