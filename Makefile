# Thin wrapper over meson/ninja. `make run` boots the default guest,
# `make check` runs every test (and the unit/device tests again under
# AddressSanitizer + UndefinedBehaviorSanitizer).
BUILD      ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
NINJA      ?= ninja
MESON      ?= meson
# Tests run this many at a time (CI machines have 2 cores).
JOBS       ?= $(shell nproc)

.PHONY: all deps kit check run clean

all: deps $(BUILD)/build.ninja
	$(NINJA) -C $(BUILD)

deps:
	@./scripts/install-deps.sh

$(BUILD)/build.ninja:
	$(MESON) setup $(BUILD) -Dwerror=true

$(ASAN_BUILD)/build.ninja:
	$(MESON) setup $(ASAN_BUILD) -Dwerror=true -Db_sanitize=address,undefined \
	    -Db_lundef=false -Dguest_tests=disabled

# The guest kit (Debian kernel + busybox initramfs) in .cache/guest-kit.
kit:
	@python3 scripts/guest-kit.py

# libFuzzer harnesses need clang; only they are built there.
$(FUZZ_BUILD)/build.ninja:
	CC=clang $(MESON) setup $(FUZZ_BUILD) -Dguest_tests=disabled

run: all kit
	./scripts/run-default-guest.sh $(BUILD)

# Every suite runs even if an earlier one fails; the summary line comes last.
check: all kit $(ASAN_BUILD)/build.ninja $(FUZZ_BUILD)/build.ninja
	@rm -f $(BUILD)/meson-logs/testlog.json $(ASAN_BUILD)/meson-logs/testlog.json \
	    $(FUZZ_BUILD)/meson-logs/testlog.json; \
	rc=0; \
	$(MESON) test -C $(BUILD) --print-errorlogs --num-processes $(JOBS) || rc=1; \
	$(NINJA) -C $(ASAN_BUILD) || rc=1; \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	$(MESON) test -C $(ASAN_BUILD) --suite unit --suite dev --print-errorlogs \
	    --num-processes $(JOBS) || rc=1; \
	$(NINJA) -C $(FUZZ_BUILD) tests/fuzz/fuzz-virtqueue tests/fuzz/fuzz-virtio-blk tests/fuzz/fuzz-net-offload || rc=1; \
	$(MESON) test -C $(FUZZ_BUILD) --suite fuzz --no-rebuild --print-errorlogs || rc=1; \
	./scripts/test-summary.py $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD) || rc=1; \
	exit $$rc

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
