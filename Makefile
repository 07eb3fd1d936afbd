# getp - see README.md. `make` builds the CPU programs; `make test` runs the
# suite; `make hip` / `make hip-amd` build the GPU backend; `make mpi` builds
# getp_mpi; `make sanitize` builds the CPU programs with ASan and UBSan into
# build/san (tests/run_sanitize.sh).
CC ?= cc
CFLAGS ?= -O3 -g
CFLAGS += -std=c11 -Wall -Wextra -Werror -fopenmp -D_DEFAULT_SOURCE
LDLIBS = -lm -fopenmp
PCRE2_CFLAGS ?= $(shell pkg-config --cflags libpcre2-8 2>/dev/null)
PCRE2_LIBS ?= $(shell pkg-config --libs libpcre2-8 2>/dev/null || echo -lpcre2-8)
B = build

CORE_SRC = src/util.c src/model.c src/mapping_guard.c src/model_layout.c src/model_writer.c src/presets.c src/cpu_backend.c \
           src/tokenizer.c src/harmony.c src/sampler.c src/json.c src/utf8.c src/requests.c src/batch_api.c src/logprobs_out.c src/stop_match.c src/kv_pages.c src/step_work.c src/generate.c src/options.c src/app.c src/output_file.c \
           src/sync_calls.c src/gptoss_math.c src/run_report.c
CORE_OBJ = $(CORE_SRC:src/%.c=$(B)/%.o)
HDRS = $(wildcard src/*.h)

PROGRAMS = $(B)/getp $(B)/gen_model $(B)/convert_hf
TESTS = $(B)/test_unit $(B)/test_json $(B)/test_sampling $(B)/test_harmony $(B)/test_forward $(B)/test_generate $(B)/test_mapping_guard $(B)/test_kv_pages

all: $(PROGRAMS) $(TESTS) $(B)/getp_mpi

$(B):
	mkdir -p $(B)

$(B)/%.o: src/%.c $(HDRS) | $(B)
	$(CC) $(CFLAGS) $(PCRE2_CFLAGS) -c $< -o $@

$(B)/libgetp.a: $(CORE_OBJ)
	ar rcs $@ $^

$(B)/getp: $(B)/getp_main.o $(B)/no_gpu.o $(B)/libgetp.a
	$(CC) $(CFLAGS) $^ -o $@ $(PCRE2_LIBS) $(LDLIBS)

$(B)/%: tools/%.c $(B)/libgetp.a $(B)/no_gpu.o $(HDRS)
	$(CC) $(CFLAGS) $(PCRE2_CFLAGS) $< $(B)/no_gpu.o $(B)/libgetp.a -o $@ $(PCRE2_LIBS) $(LDLIBS)

# convert_hf: the program (tools/convert_hf.c) and its readers of the
# checkpoint's safetensors files and config.json.
CONVERT_HF_SRC = tools/convert_hf.c tools/safetensors.c tools/hf_config.c tools/json_check.c
$(B)/convert_hf: $(CONVERT_HF_SRC) $(wildcard tools/*.h) $(B)/libgetp.a $(B)/no_gpu.o $(HDRS)
	$(CC) $(CFLAGS) $(PCRE2_CFLAGS) $(CONVERT_HF_SRC) $(B)/no_gpu.o $(B)/libgetp.a -o $@ $(PCRE2_LIBS) $(LDLIBS)

$(B)/test_%: tests/test_%.c tests/check.h $(B)/libgetp.a $(B)/no_gpu.o $(HDRS)
	$(CC) $(CFLAGS) $(PCRE2_CFLAGS) $< $(B)/no_gpu.o $(B)/libgetp.a -o $@ $(PCRE2_LIBS) $(LDLIBS)

# The tokenizer file, made from the js-tiktoken npm package.
data/o200k_harmony.tok: tools/tokenizer/make_tokenizer.mjs tools/tokenizer/harmony.mjs tools/tokenizer/package.json
	cd tools/tokenizer && (npm ci --no-audit --no-fund --silent || npm install --no-audit --no-fund --silent)
	mkdir -p data
	node tools/tokenizer/make_tokenizer.mjs $@

tokenizer: data/o200k_harmony.tok

test: all tokenizer
	bash tests/run_tests.sh

clean:
	rm -rf $(B)

.PHONY: all test clean tokenizer

# `make sanitize`: the CPU programs, the C tests and the fuzz driver, built into
# build/san with AddressSanitizer and UndefinedBehaviorSanitizer (every report
# fatal) by the rules above with B=build/san; tests/run_sanitize.sh runs them.
# The flags go to the sub-make through the environment, so that CFLAGS's `?=`
# takes them and its `+=` still adds -std=c11 and the warnings. build/ itself
# is untouched.
SAN_B = build/san
SAN_FLAGS = -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fsanitize=float-cast-overflow -fno-sanitize-recover=all
SAN_PROGRAMS = getp gen_model convert_hf test_unit test_json test_sampling test_forward test_generate test_mapping_guard test_kv_pages fuzz_inputs
sanitize:
	CFLAGS='$(SAN_FLAGS)' $(MAKE) B=$(SAN_B) $(SAN_PROGRAMS:%=$(SAN_B)/%)
.PHONY: sanitize

# The fuzz driver: tests/fuzz/fuzz_inputs.c and the files of tests/fuzz/fuzz.h
# (one per input family); `make sanitize` builds it with sanitizers.
FUZZ_SRC = $(wildcard tests/fuzz/*.c)
$(B)/fuzz_inputs: $(FUZZ_SRC) tests/fuzz/fuzz.h $(B)/libgetp.a $(B)/no_gpu.o $(HDRS)
	$(CC) $(CFLAGS) $(PCRE2_CFLAGS) $(FUZZ_SRC) $(B)/no_gpu.o $(B)/libgetp.a -o $@ $(PCRE2_LIBS) $(LDLIBS)

$(B)/cpu_roofline: bench/cpu_roofline.c $(B)/libgetp.a
	$(CC) $(CFLAGS) $< $(B)/libgetp.a -o $@ $(LDLIBS)

bench: all $(B)/cpu_roofline
	bash bench/bench_cpu.sh
.PHONY: bench

# getp_mpi: the MPI runner (Open MPI's mpicc, hwloc).
MPICC ?= mpicc
HWLOC_LIBS ?= -lhwloc
MPI_SRC = mpi/getp_mpi.c mpi/mpi_options.c mpi/place.c mpi/wire.c mpi/schedule.c mpi/replica.c mpi/binding.c mpi/rank_report.c \
          mpi/faults.c mpi/job_progress.c
$(B)/getp_mpi: $(MPI_SRC) mpi/*.h $(B)/no_gpu.o $(B)/libgetp.a $(HDRS)
	OMPI_CC=$(CC) $(MPICC) $(CFLAGS) $(PCRE2_CFLAGS) $(MPI_SRC) $(B)/no_gpu.o $(B)/libgetp.a \
	    -o $@ $(PCRE2_LIBS) $(HWLOC_LIBS) $(LDLIBS)
mpi: $(B)/getp_mpi
.PHONY: mpi

# The GPU backend. NVIDIA: nvcc for sm_90 through hip/hip_compat.h.
# AMD: hipcc --offload-arch=gfx90a (MI250). `make test-gpu` runs on a GPU machine.
NVCC ?= nvcc
HIPCC ?= hipcc
NVCC_FLAGS ?= -O3 -std=c++17 -gencode arch=compute_90a,code=sm_90a -Xcompiler -Wall,-Wextra,-Werror
# -Wno-pass-failed: an unroll pragma the AMD optimizer declines is a hint, not an error
HIP_AMD_FLAGS ?= -O3 -std=c++17 --offload-arch=gfx90a -Wall -Wextra -Werror -Wno-pass-failed
HIP_HDRS = $(wildcard hip/*.h)
# the backend's files (hip/hip_state.h maps them); bench_support is bench_gpu's
HIP_SRC = hip/hip_backend.hip hip/calls.hip hip/forward.hip hip/weights.hip hip/kv_cache.hip hip/instrumentation.hip
HIP_OBJ = $(HIP_SRC:hip/%.hip=$(B)/hip/%.o)
HIP_AMD_OBJ = $(HIP_SRC:hip/%.hip=$(B)/hip_amd/%.o)
$(B)/hip/%.o: hip/%.hip $(HIP_HDRS) $(HDRS)
	@mkdir -p $(@D)
	$(NVCC) $(NVCC_FLAGS) -x cu -c $< -o $@
$(B)/hip_amd/%.o: hip/%.hip $(HIP_HDRS) $(HDRS)
	@mkdir -p $(@D)
	$(HIPCC) $(HIP_AMD_FLAGS) -x hip -c $< -o $@
$(B)/bench_support.o: hip/bench_support.hip $(HIP_HDRS) | $(B)
	$(NVCC) $(NVCC_FLAGS) -x cu -c $< -o $@
$(B)/bench_support_amd.o: hip/bench_support.hip $(HIP_HDRS) | $(B)
	$(HIPCC) $(HIP_AMD_FLAGS) -x hip -c $< -o $@
hip-objects: $(HIP_OBJ)
.PHONY: hip-objects
$(B)/getp_gpu: $(B)/getp_main.o $(HIP_OBJ) $(B)/libgetp.a
	$(NVCC) $(B)/getp_main.o $(HIP_OBJ) $(B)/libgetp.a -o $@ $(PCRE2_LIBS) -lm -lgomp
$(B)/test_gpu: tests/test_gpu.c tests/test_gpu_sampling.c tests/test_gpu.h $(HIP_OBJ) $(B)/libgetp.a $(HDRS)
	$(CC) $(CFLAGS) -c tests/test_gpu.c -o $(B)/test_gpu.o
	$(CC) $(CFLAGS) -c tests/test_gpu_sampling.c -o $(B)/test_gpu_sampling.o
	$(NVCC) $(B)/test_gpu.o $(B)/test_gpu_sampling.o $(HIP_OBJ) $(B)/libgetp.a -o $@ $(PCRE2_LIBS) -lm -lgomp
$(B)/hip_unit_tests: hip/unit_tests.hip $(HIP_HDRS) | $(B)
	$(NVCC) $(NVCC_FLAGS) -x cu $< -o $@
$(B)/bench_gpu: bench/bench_gpu.c $(HIP_OBJ) $(B)/bench_support.o $(B)/libgetp.a $(HDRS)
	$(CC) $(CFLAGS) -c bench/bench_gpu.c -o $(B)/bench_gpu.o
	$(NVCC) $(B)/bench_gpu.o $(HIP_OBJ) $(B)/bench_support.o $(B)/libgetp.a -o $@ $(PCRE2_LIBS) -lm -lgomp
hip: $(B)/getp_gpu $(B)/bench_gpu
hip-amd: $(HIP_AMD_OBJ) $(B)/bench_support_amd.o $(B)/hip_amd/unit_tests.o
# The GPU backend on the CPU (hip/emu/emu_runtime.h): hip/ compiled by g++
# with -DGETP_EMU into build/emu/, each block's threads run as fibers.
# `make test-emu` runs test-gpu's checks on the small models with it (CI).
EMU_CXX ?= g++
EMU_FLAGS ?= -O2 -g -std=c++17 -DGETP_EMU -Wall -Wextra -Werror -Wno-unknown-pragmas
EMU_OBJ = $(HIP_SRC:hip/%.hip=$(B)/emu/%.o) $(B)/emu/emu_runtime.o
$(B)/emu/%.o: hip/%.hip $(HIP_HDRS) hip/emu/emu_runtime.h $(HDRS)
	@mkdir -p $(@D)
	$(EMU_CXX) $(EMU_FLAGS) -x c++ -c $< -o $@
$(B)/emu/emu_runtime.o: hip/emu/emu_runtime.cc hip/emu/emu_runtime.h
	@mkdir -p $(@D)
	$(EMU_CXX) $(EMU_FLAGS) -c $< -o $@
$(B)/emu/test_gpu: tests/test_gpu.c tests/test_gpu_sampling.c tests/test_gpu.h $(EMU_OBJ) $(B)/libgetp.a $(HDRS)
	$(CC) $(CFLAGS) -c tests/test_gpu.c -o $(B)/emu/test_gpu.o
	$(CC) $(CFLAGS) -c tests/test_gpu_sampling.c -o $(B)/emu/test_gpu_sampling.o
	$(EMU_CXX) $(EMU_FLAGS) $(B)/emu/test_gpu.o $(B)/emu/test_gpu_sampling.o $(EMU_OBJ) $(B)/libgetp.a -o $@ $(PCRE2_LIBS) -lm -lgomp
# the same with AMD's mma stand-in (bf16_math.h: shuffles) in place of the
# emulator's warp-level mma: the AMD build's arithmetic path, run
EMU_AMD_MMA_OBJ = $(HIP_SRC:hip/%.hip=$(B)/emu_amd_mma/%.o) $(B)/emu/emu_runtime.o
$(B)/emu_amd_mma/%.o: hip/%.hip $(HIP_HDRS) hip/emu/emu_runtime.h $(HDRS)
	@mkdir -p $(@D)
	$(EMU_CXX) $(EMU_FLAGS) -DGETP_EMU_SHUFFLE_MMA -x c++ -c $< -o $@
$(B)/emu_amd_mma/test_gpu: $(B)/emu/test_gpu $(EMU_AMD_MMA_OBJ)
	$(EMU_CXX) $(EMU_FLAGS) $(B)/emu/test_gpu.o $(B)/emu/test_gpu_sampling.o $(EMU_AMD_MMA_OBJ) $(B)/libgetp.a -o $@ $(PCRE2_LIBS) -lm -lgomp
$(B)/emu/hip_unit_tests: hip/unit_tests.hip $(HIP_HDRS) hip/emu/emu_runtime.h $(B)/emu/emu_runtime.o
	$(EMU_CXX) $(EMU_FLAGS) -x c++ $< -x none $(B)/emu/emu_runtime.o -o $@ -lm
$(B)/emu/getp_gpu: $(B)/getp_main.o $(EMU_OBJ) $(B)/libgetp.a
	$(EMU_CXX) $(EMU_FLAGS) $(B)/getp_main.o $(EMU_OBJ) $(B)/libgetp.a -o $@ $(PCRE2_LIBS) -lm -lgomp
emu: $(B)/emu/test_gpu $(B)/emu/getp_gpu $(B)/emu/hip_unit_tests $(B)/emu_amd_mma/test_gpu
# the emulator with AddressSanitizer and UBSan (in build/san, beside `make
# sanitize`): a kernel's out-of-bounds access to device or shared memory is
# reported where it happens
emu-san:
	CFLAGS='$(SAN_FLAGS)' $(MAKE) B=$(SAN_B) EMU_FLAGS='$(EMU_FLAGS) $(SAN_FLAGS)' $(SAN_B)/emu/test_gpu $(SAN_B)/emu/hip_unit_tests
# the emulator with the decode-sized path's knobs off the default build's
# (hip/matmul.h): no weight ring, as the AMD build sets it (the default
# emulator build has NVIDIA's ring), so that both paths are tested
EMU_KNOBS ?= -DONE_TILE_WEIGHT_RING=0
emu-knobs:
	$(MAKE) B=$(B)/knobs EMU_FLAGS='$(EMU_FLAGS) $(EMU_KNOBS)' $(B)/knobs/emu/test_gpu $(B)/knobs/emu/hip_unit_tests
test-emu: all tokenizer emu
	GPU_BIN=$(B)/emu GPU_TESTS=emu GPU_JOBS=2 bash tests/run_gpu_tests.sh
.PHONY: emu emu-san emu-knobs test-emu

# what test-gpu runs, built (the CPU suite checks that they link)
gpu-programs: $(B)/test_gpu $(B)/hip_unit_tests hip

test-gpu: all $(B)/test_gpu $(B)/hip_unit_tests $(B)/getp_gpu $(B)/getp_mpi_gpu
	bash tests/run_gpu_tests.sh
.PHONY: hip hip-amd test-gpu gpu-programs

# The GPU probes and the kernel timeline tracer (NVIDIA; docs/perf-log/ quotes them).
CUDA_INC ?= /usr/local/cuda/include
$(B)/gpu_probes: bench/gpu_probes.cu | $(B)
	$(NVCC) $(NVCC_FLAGS) $< -o $@
$(B)/libkernel_trace.so: bench/kernel_trace.c | $(B)
	$(CC) -shared -fPIC -O2 -Wall -Wextra -Werror -I$(CUDA_INC) $< -o $@ -L$(CUDA_LIB) -lcupti
# wgmma (sm_90a only): its layout, and whether its sums equal mma.sync's bit for bit
$(B)/wgmma_probe: bench/wgmma_probe.cu | $(B)
	$(NVCC) -O3 -std=c++17 -gencode arch=compute_90a,code=sm_90a -Xcompiler -Wall,-Wextra,-Werror $< -o $@
# cuBLAS / cuBLASLt at getp's shapes: speed, grouped experts, batch invariance of a pinned algorithm
# batch 1's MXFP4 gate_up with its weights by per-warp loads or by bulk copies into shared memory (sm_90)
$(B)/bulk_stream_probe: bench/bulk_stream_probe.cu bench/cuda_check.h hip/matmul_load.h hip/weight_layout.h hip/bf16_math.h | $(B)
	$(NVCC) -O3 -std=c++17 -gencode arch=compute_90a,code=sm_90a -Xcompiler -Wall,-Wextra,-Werror $< -o $@
$(B)/cublas_probe: bench/cublas_probe.cu bench/cuda_check.h | $(B)
	$(NVCC) -O3 -std=c++17 -gencode arch=compute_90a,code=sm_90a -Xcompiler -Wall,-Wextra,-Werror $< -o $@ -lcublasLt -lcublas
gpu-probes: $(B)/gpu_probes $(B)/libkernel_trace.so $(B)/wgmma_probe $(B)/cublas_probe $(B)/bulk_stream_probe
# bench_gpu with the per-block recorder of hip/block_trace.h compiled in
block-trace:
	$(MAKE) B=$(B)/trace NVCC_FLAGS="$(NVCC_FLAGS) -DGETP_BLOCK_TRACE" $(B)/trace/bench_gpu
.PHONY: gpu-probes block-trace

# getp_mpi with the GPU backend (NVIDIA): each rank drives the GPU of its node-local index.
CUDA_LIB ?= /usr/local/cuda/lib64
$(B)/getp_mpi_gpu: $(MPI_SRC) mpi/*.h $(HIP_OBJ) $(B)/libgetp.a $(HDRS)
	OMPI_CC=$(CC) $(MPICC) $(CFLAGS) $(PCRE2_CFLAGS) $(MPI_SRC) $(HIP_OBJ) $(B)/libgetp.a \
	    -o $@ $(PCRE2_LIBS) $(HWLOC_LIBS) $(LDLIBS) -L$(CUDA_LIB) -lcudart -lstdc++
hip: $(B)/getp_mpi_gpu
