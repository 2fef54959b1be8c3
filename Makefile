# pg_continuous: PGXS build.  `make test` and `make demo` are self-contained:
# they install what they need, build, install and run throwaway clusters.

MODULE_big = pg_continuous
OBJS = \
	src/pg_continuous.o \
	src/aggregate.o \
	src/analyze.o \
	src/checkpoint.o \
	src/compile.o \
	src/decoder.o \
	src/distinct.o \
	src/keptinputs.o \
	src/merge.o \
	src/multiset.o \
	src/store.o \
	src/stream.o \
	src/views.o \
	src/viewscan.o \
	src/worker.o

EXTENSION = pg_continuous
DATA = pg_continuous--1.0.sql
PG_CPPFLAGS = -I$(srcdir)/src
PG_CFLAGS = -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers -Wno-sign-compare

PG_CONFIG ?= $(firstword $(wildcard /usr/lib/postgresql/15/bin/pg_config) pg_config)
PGXS := $(shell $(PG_CONFIG) --pgxs 2>/dev/null)

# On a fresh machine the server headers are not installed yet: `make test`
# and `make demo` install them first, so they must work without PGXS.
ifneq ($(wildcard $(PGXS)),)
include $(PGXS)
endif

# PGXS does not track header dependencies: rebuild every module when a
# header changes, since they share struct layouts.
$(OBJS): $(wildcard $(srcdir)/src/*.h)

.PHONY: test demo
test:
	bash scripts/run-tests.sh

demo:
	bash scripts/demo.sh
