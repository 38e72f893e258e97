# cnnc: compile convolutional networks into standalone C.
#   make demo   build the Keras MNIST example into C, compile it, run it on an image
#   make test   every test suite; ends with one line "N passed, M failed"
#   make deps   install the Debian packages cnnc needs (as root), or print the apt line, and
#               ONNX Runtime (npm onnxruntime-node) into build/npm for the ONNX tests
#   make test-sanitize  runtime tests and random networks under ASan/UBSan (gcc, clang), valgrind
#   make fuzz   every fuzzer (libFuzzer on the runtime's readers, mutated model files and ONNX
#               files through the compiler, the C and Lua readers compared) for FUZZ_SECONDS
#               each (default 30); findings are saved in tests/fuzz/regressions/, which
#               `make test` replays (tests/fuzz/README.md)
#   make conformance  ONNX's own node tests (libonnx-testdata) through cnnc
#   make keras-fixtures  remake tests/keras/data with TensorFlow.js (npm) and h5py (tests/keras/fixtures)
#   make bench  cnnc vs the machine's peak, oneDNN and PyTorch on R1-R4; writes bench/results.md
#   make edges / make smooth1d   the other examples
#   make install  cnnc under PREFIX (default /usr/local): `require 'cnnc'` in LuaJIT, `cnnc` on PATH

CC ?= cc
BUILD ?= build
CNNC = bin/cnnc

# Debian packages: the compiler (luajit), C toolchains, the test frameworks, and the
# Fashion-MNIST data the experiments and their tests read, ONNX's conformance data,
# clang's libFuzzer runtime for the fuzzers, the HDF5 library that reads Keras files, and
# on other machines than AArch64 ones the cross compiler, C library and qemu-user that
# build and run the neon target.
DEB_PACKAGES = luajit lua-busted libcriterion-dev gcc clang libclang-rt-14-dev make dataset-fashion-mnist libonnx-testdata valgrind libhdf5-103-1
ifneq ($(shell uname -m),aarch64)
DEB_PACKAGES += gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user
endif

# ONNX Runtime (npm's onnxruntime-node, its CPU library inside; --ignore-scripts skips the
# GPU download its install script tries) is the ONNX tests' second oracle: installed into
# NPM_DIR, never committed; the tests skip its checks with a message when it is absent.
ORT_VERSION = 1.30.0
NPM_DIR = build/npm

PREFIX ?= /usr/local
CNNC_SHARE = $(PREFIX)/share/cnnc
LUA_SHARE = $(PREFIX)/share/lua/5.1

.PHONY: all demo test deps bench edges smooth1d clean install uninstall conformance test-lua test-runtime test-golden \
        test-simd test-differential test-examples test-testgen test-ffi test-onnx test-keras test-bad_inputs keras-fixtures \
        test-sanitize test-numeric test-fuzz fuzz

all: demo

deps:
	@missing=""; \
	command -v luajit >/dev/null 2>&1 || missing="$$missing luajit"; \
	[ -f /usr/bin/busted ] || missing="$$missing lua-busted"; \
	[ -f /usr/include/criterion/criterion.h ] || missing="$$missing libcriterion-dev"; \
	command -v gcc >/dev/null 2>&1 || missing="$$missing gcc"; \
	command -v clang >/dev/null 2>&1 || missing="$$missing clang"; \
	ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-*.a >/dev/null 2>&1 || missing="$$missing libclang-rt-14-dev"; \
	command -v valgrind >/dev/null 2>&1 || missing="$$missing valgrind"; \
	/sbin/ldconfig -p 2>/dev/null | grep -q 'libhdf5_serial\.so\.103' || missing="$$missing libhdf5-103-1"; \
	[ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || missing="$$missing dataset-fashion-mnist"; \
	[ -d /usr/share/libonnx-testdata/data/node ] || missing="$$missing libonnx-testdata"; \
	if [ "$$(uname -m)" != aarch64 ]; then \
	  command -v aarch64-linux-gnu-gcc >/dev/null 2>&1 || missing="$$missing gcc-aarch64-linux-gnu"; \
	  [ -f /usr/aarch64-linux-gnu/lib/libc.so.6 ] || missing="$$missing libc6-dev-arm64-cross"; \
	  command -v qemu-aarch64 >/dev/null 2>&1 || missing="$$missing qemu-user"; \
	fi; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "deps: installing$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(DEB_PACKAGES) >/dev/null || exit 1; \
	  else \
	    echo "deps: missing$$missing; run: sudo apt-get install -y $(DEB_PACKAGES)"; exit 1; \
	  fi; \
	fi
	@if ! grep -qs '"version": "$(ORT_VERSION)"' $(NPM_DIR)/node_modules/onnxruntime-node/package.json; then \
	  if ! command -v npm >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	    echo "deps: installing npm (for ONNX Runtime, the ONNX tests' second oracle)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm >/dev/null; \
	  fi; \
	  if command -v npm >/dev/null 2>&1; then \
	    echo "deps: installing onnxruntime-node@$(ORT_VERSION) into $(NPM_DIR)"; \
	    mkdir -p $(NPM_DIR) && npm install --ignore-scripts --no-audit --no-fund --save-exact --loglevel=error \
	      --prefix $(NPM_DIR) onnxruntime-node@$(ORT_VERSION) >$(NPM_DIR)/install.log 2>&1 \
	    || echo "deps: npm install onnxruntime-node failed ($(NPM_DIR)/install.log); tests needing ONNX Runtime will be skipped"; \
	  else \
	    echo "deps: npm is missing (sudo apt-get install npm, then make deps); tests needing ONNX Runtime will be skipped"; \
	  fi; \
	fi

# The Keras MNIST network with weights trained on Fashion-MNIST (examples/fashion_mnist).
DEMO_WEIGHTS = --weights examples/fashion_mnist/weights

demo: deps
	$(CNNC) summary examples/keras_mnist.lua $(DEMO_WEIGHTS)
	$(CNNC) build examples/keras_mnist.lua $(DEMO_WEIGHTS) --target native -o $(BUILD)/demo
	@while read -r img label name; do \
	  echo "== examples/data/$$img (true class $$label: $$name)"; \
	  $(BUILD)/demo/mnist examples/data/$$img | tail -n 1; \
	done < examples/data/fashion_labels.txt
	$(BUILD)/demo/mnist examples/data/fashion0.pgm --bench 1000 | tail -n 1

# Needs libdnnl-dev for oneDNN and python3-torch for PyTorch (each skipped with a note if absent).
bench: deps
	@sh bench/run.sh
	luajit tests/ffi/throughput.lua

edges: deps
	$(CNNC) build examples/edges.lua -o $(BUILD)/edges
	mkdir -p $(BUILD)/edges/out
	$(BUILD)/edges/edges examples/data/camera.pgm -o $(BUILD)/edges/out/edges.pgm
	@echo "one PGM per filter in $(BUILD)/edges/out (channel numbers: see examples/edges.lua)"

smooth1d: deps
	$(CNNC) build examples/smooth1d.lua -o $(BUILD)/smooth1d
	$(BUILD)/smooth1d/smooth1d examples/data/noisy_signal.npy -o $(BUILD)/smooth1d/smoothed.npy

test: deps
	@sh tests/run_all.sh

test-lua test-runtime test-golden test-simd test-differential test-examples test-testgen test-ffi test-onnx test-keras test-bad_inputs test-sanitize test-numeric test-fuzz: deps
	@sh tests/run_all.sh $(@:test-%=%)

# Each fuzzer for FUZZ_SECONDS (seeded by FUZZ_SEED); per fuzzer the time, executions and
# findings, also appended to build/fuzz/report.txt. FUZZERS picks some: npy pnm raw input
# lua_model onnx readers.
FUZZ_SECONDS ?= 30
fuzz: deps
	@sh tests/fuzz/run.sh long $(FUZZ_SECONDS) $(FUZZERS)

# The Keras import tests' fixtures: TensorFlow.js (@tensorflow/tfjs@4.22.0, installed into
# build/npm-tfjs) builds and runs the networks, Debian's python3-h5py writes the files.
keras-fixtures: deps
	@sh tests/keras/fixtures/make.sh

# Every ONNX node test of Debian's libonnx-testdata whose operators cnnc supports.
conformance: deps
	luajit tests/onnx/conformance.lua

# The compiler, templates and runtime side by side under PREFIX/share/cnnc (they find each
# other relative to their own files); a loader on LuaJIT's default path; cnnc on PATH.
install:
	rm -rf $(DESTDIR)$(CNNC_SHARE)
	mkdir -p $(DESTDIR)$(CNNC_SHARE)/bin $(DESTDIR)$(LUA_SHARE) $(DESTDIR)$(PREFIX)/bin
	cp -R compiler templates runtime $(DESTDIR)$(CNNC_SHARE)/
	cp bin/cnnc $(DESTDIR)$(CNNC_SHARE)/bin/cnnc
	printf '%s\n' "-- cnnc, installed by make install; the modules are in $(CNNC_SHARE)/compiler." \
	  "package.path = '$(CNNC_SHARE)/compiler/?.lua;' .. package.path" \
	  "return dofile('$(CNNC_SHARE)/compiler/cnnc.lua')" > $(DESTDIR)$(LUA_SHARE)/cnnc.lua
	printf '#!/bin/sh\nexec "%s/bin/cnnc" "$$@"\n' "$(CNNC_SHARE)" > $(DESTDIR)$(PREFIX)/bin/cnnc
	chmod 755 $(DESTDIR)$(PREFIX)/bin/cnnc $(DESTDIR)$(CNNC_SHARE)/bin/cnnc

uninstall:
	rm -rf $(DESTDIR)$(CNNC_SHARE) $(DESTDIR)$(LUA_SHARE)/cnnc.lua $(DESTDIR)$(PREFIX)/bin/cnnc

clean:
	rm -rf $(BUILD)
