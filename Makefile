# A thin front door for people; CMake does the real work in build/.
BUILD   ?= build
CMAKE_FLAGS ?=
JOBS    ?= $(shell nproc 2>/dev/null || echo 2)

# Debian packages the build, the tests and the demo need.
PACKAGES = build-essential cmake pkg-config libzmq3-dev libczmq-dev \
           libmsgpack-dev libhiredis-dev libjansson-dev libsodium-dev \
           libsystemd-dev check redis-server redis-tools redis-sentinel clang \
           groff-base libmicrohttpd-dev prometheus

# What `make deb` needs besides: debian/control's Build-Depends and the
# packaging tools. Not in PACKAGES, so make check neither installs them
# nor waits for them.
DEB_PACKAGES = build-essential cmake pkg-config libzmq3-dev libczmq-dev \
               libmsgpack-dev libhiredis-dev libjansson-dev libsodium-dev \
               libsystemd-dev libmicrohttpd-dev debhelper lintian
DIST ?= dist

.PHONY: all deps build check ha-test cluster-test bench clean format deb

all: build

deps:
	@scripts/install-deps.sh $(PACKAGES)

# A failed configure leaves a cache behind that would stop the next one:
# it goes, so that `make build` after `make deps` just works.
$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) $(CMAKE_FLAGS) || \
	  { rm -f $(BUILD)/CMakeCache.txt; exit 1; }

build: $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

check: deps
	$(MAKE) build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)
	$(MAKE) fuzz FUZZ_S=$(FUZZ_SMOKE_S)

# The high-availability suites of issue 16 (docs/ha.md): the broker pair,
# a DB node lost, Redis failovers, the ops node, and the Sentinel
# deployment with its baseline (./build/tests/test_ha prints the figures).
HA_SUITES = ^(pair|failover|sentinel|ops_serve|ha)$$

ha-test: deps
	$(MAKE) build
	cd $(BUILD) && ctest --output-on-failure -R '$(HA_SUITES)'

# The Redis Cluster suites of issue 17 (docs/db.md, "Redis key layout"):
# the partitions, the harness's cluster, the store's cluster client, a
# reshard and failovers under traffic, the S1-S11 story and the seeded
# run on a cluster.
CLUSTER_SUITES = ^(parts|rediscluster|rcluster|dbcluster|ops_cluster|e2e_cluster)$$

cluster-test: deps
	$(MAKE) build
	cd $(BUILD) && ctest --output-on-failure -R '$(CLUSTER_SUITES)'

# libFuzzer targets (tests/fuzz/, docs/fuzzing.md) in a build of their
# own with clang: each runs FUZZ_S seconds from its seeds; one line per
# target (executions, crashes), non-zero exit on a crash. make check runs
# each for FUZZ_SMOKE_S seconds as a smoke.
FUZZ_BUILD   ?= build-fuzz
FUZZ_S       ?= 60
FUZZ_SMOKE_S ?= 3
.PHONY: fuzz
$(FUZZ_BUILD)/CMakeCache.txt:
	cmake -S . -B $(FUZZ_BUILD) -DCMAKE_C_COMPILER=clang -DRECOBUS_FUZZ=ON \
	  -DBUILD_TESTING=OFF || { rm -f $(FUZZ_BUILD)/CMakeCache.txt; exit 1; }

fuzz: deps $(FUZZ_BUILD)/CMakeCache.txt
	cmake --build $(FUZZ_BUILD) -j $(JOBS) --target recobus-fuzz
	scripts/fuzz.sh $(FUZZ_BUILD) $(FUZZ_S) $(FUZZ_TARGETS)

# Every scenario with its baseline, 5 runs each (RUNS=N); writes the
# table and the raw figures to docs/bench/results.md and .json, which are
# committed: docs/benchmarks.md's table is that file, not typed by hand.
bench: deps
	$(MAKE) build
	mkdir -p docs/bench
	$(BUILD)/recobus-bench --runs $(or $(RUNS),5) --out docs/bench/results all

# The disaster-and-recovery story on a Redis of its own, narrated by
# patent step and checked (scripts/demo.sh; also the CTest entry "demo").
.PHONY: demo
demo: deps
	$(MAKE) build
	scripts/demo.sh $(BUILD)

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) $(FUZZ_BUILD)

# The seeded randomized disaster run with its fault episodes
# (tests/test_e2e.c, docs/faults-testing.md) over SEEDS seeds, 1..SEEDS
# (RECOBUS_SEED_FIRST=M starts at M), then the named regression seeds; a
# failing seed is printed with how to replay it alone (RECOBUS_SEED=N
# build/tests/test_e2e). It ends with the run's totals: answers per
# status and service, faults per type, unavailable answers per fault,
# time to ok after each heal. CLUSTER=1: the DB on a throwaway Redis
# Cluster of 3 masters with a replica each, instead of one redis-server.
.PHONY: soak
soak: deps
	$(MAKE) build
	$(if $(CLUSTER),RECOBUS_REDIS_CLUSTER=3) \
	RECOBUS_SEEDS=$(or $(SEEDS),200) $(BUILD)/tests/test_e2e

# Shows that the tests bite: each tests/mutants/*.patch breaks one promise
# on purpose; every one must make a named suite or e2e seed fail
# (tests/mutants/run.sh; MUTANTS=path.patch runs just that one).
.PHONY: mutants
mutants: deps
	tests/mutants/run.sh $(MUTANTS)

# The Debian package (debian/, README "Install as a package"):
# dpkg-buildpackage writes next to the source tree, in ..; what it wrote
# for this version (the .deb, its -dbgsym, .buildinfo, .changes) moves
# to $(DIST)/, and lintian checks it there (non-zero exit on an error).
deb:
	@scripts/install-deps.sh $(DEB_PACKAGES)
	dpkg-buildpackage -us -uc -b -j$(JOBS)
	@set -e; v=$$(dpkg-parsechangelog -S Version); \
	  a=$$(dpkg-architecture -qDEB_HOST_ARCH); \
	  mkdir -p $(DIST); \
	  for f in ../recobus_$${v}_$$a.deb ../recobus-dbgsym_$${v}_$$a.deb \
	           ../recobus_$${v}_$$a.buildinfo ../recobus_$${v}_$$a.changes; do \
	    if [ -e $$f ]; then mv -f $$f $(DIST)/; fi; \
	  done; \
	  lintian $(DIST)/recobus_$${v}_$$a.changes; \
	  echo "deb: $(DIST)/recobus_$${v}_$$a.deb"
