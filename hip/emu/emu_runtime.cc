// emu_runtime.cc - the host emulator of emu_runtime.h: fibers for a
// block's threads, barriers and warp collectives between them, and the
// runtime's memory, streams, graphs and events (everything runs at once on
// the calling thread, except what a capturing stream records).
#include "emu_runtime.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>

/* Under AddressSanitizer (make emu-san) every switch is announced,
 * so that it tracks which stack is live, and a fiber's stack is cleared of
 * old frames' poison before it is reused. */
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#define EMU_ASAN 1
#endif

#include <unordered_map>
#include <vector>

namespace {

/* ---- fibers: a minimal context switch (x86-64: the callee-saved
 * registers on the old stack, then the stack pointer swapped) ---- */
extern "C" void emu_switch(void **save_sp, void *load_sp);
#if defined(__x86_64__)
asm(R"(
.pushsection .text
.globl emu_switch
.type emu_switch,@function
emu_switch:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
.size emu_switch, .-emu_switch
.popsection
)");
#else
#error "the GPU emulator's context switch is written for x86-64"
#endif

constexpr int MAX_THREADS = 1024, MAX_WARPS = MAX_THREADS / 32;
constexpr size_t STACK_BYTES = 256 * 1024, PAGE = 4096;

struct Fiber {
    void *sp;
    dim3 tid;
    int warp, lane, next, prev;
    unsigned collective; /* warp collectives done: which of two slot sets the next one uses */
    bool done;
};

struct Block {
    Fiber f[MAX_THREADS];
    int n = 0, live = 0, cur = 0;
    dim3 idx, dim, grid;
    int arrived = 0;
    unsigned gen = 0;
    int warp_live[MAX_WARPS], warp_arrived[MAX_WARPS];
    unsigned warp_gen[MAX_WARPS];
    uint64_t xchg[MAX_WARPS][2][32];         /* shuffles and ballots */
    uint32_t frag[MAX_WARPS][2][32][6];      /* mma operands: a[4], b[2] */
    float tile[MAX_WARPS][2][16][8];         /* the mma's A B, for the lanes to add */
    long stall = 0;                          /* yields since a barrier opened or a fiber ended */
    std::vector<unsigned char> dyn_shared;
    const std::function<void()> *body = nullptr;
    const void *kernel = nullptr;
    void *main_sp = nullptr; /* the launch's context: where the block returns when it ends (or yields, cooperative) */
    char *stacks = nullptr;  /* its fibers' stacks, STACK_BYTES each, a guard page below each */
    int n_stacks = 0;
    bool cooperative = false; /* its grid's blocks run side by side (emu_launch_cooperative) */
};

Block *g_block;
long g_spins; /* yields of waiting blocks since anything went on (cooperative launches) */
bool g_poison;
/* GETP_EMU_ORDER=reverse: the last thread of a block runs first, and each
 * waits for the one below it: a missing barrier shows in one order or the
 * other (a thread reads what another writes before they meet) */
bool g_reverse;
hipError_t g_last_error = hipSuccess;
size_t g_total_mem, g_used_mem;
std::unordered_map<void *, size_t> g_allocs;
std::unordered_map<const void *, int> g_shared_limit; /* hipFuncSetAttribute */

Fiber &cur() { return g_block->f[g_block->cur]; }

#ifdef EMU_ASAN
/* The usable stack of fiber i (above its guard page); i = -1: the main one. */
void stack_bounds(int i, const void **bottom, size_t *size) {
    if (i >= 0) {
        *bottom = g_block->stacks + (size_t)i * STACK_BYTES + PAGE, *size = STACK_BYTES - PAGE;
        return;
    }
    static const void *main_bottom;
    static size_t main_size;
    if (!main_bottom) {
        pthread_attr_t attr;
        void *addr = nullptr;
        pthread_getattr_np(pthread_self(), &attr);
        pthread_attr_getstack(&attr, &addr, &main_size);
        pthread_attr_destroy(&attr);
        main_bottom = addr;
    }
    *bottom = main_bottom, *size = main_size;
}
#endif

/* Saves the running context in *save_sp and resumes load_sp, the stack of
 * fiber `to` (-1: main); dying: the running fiber never resumes. */
void switch_stack(void **save_sp, void *load_sp, int to, bool dying) {
#ifdef EMU_ASAN
    const void *bottom;
    size_t size;
    stack_bounds(to, &bottom, &size);
    void *fake = nullptr;
    __sanitizer_start_switch_fiber(dying ? nullptr : &fake, bottom, size);
    emu_switch(save_sp, load_sp);
    __sanitizer_finish_switch_fiber(fake, nullptr, nullptr);
#else
    (void)to, (void)dying;
    emu_switch(save_sp, load_sp);
#endif
}

void switch_to(int next) {
    Block &b = *g_block;
    int from = b.cur;
    if (next == from) return; /* the block's only live thread goes on */
    b.cur = next;
    switch_stack(&b.f[from].sp, b.f[next].sp, next, false);
}

[[noreturn]] void deadlock() {
    Block &b = *g_block;
    fprintf(stderr,
            "getp GPU emulator: kernel %p, block (%u,%u,%u): %d threads wait and none can go on (threads of the block or of a warp "
            "wait at different barriers, or spin on what another block writes: that needs a cooperative launch)\n",
            b.kernel, b.idx.x, b.idx.y, b.idx.z, b.live);
    abort();
}

/* Yields of blocks that waited while nothing went on, past which a
 * cooperative launch is taken as stuck. */
constexpr long SPIN_LIMIT = 1000000;

/* The running fiber waits: the next live one in turn runs. When every
 * thread of the block has waited without anything going on, a block alone
 * is deadlocked; one of a cooperative launch lets the other blocks run
 * (what they write may be what it waits for), and the launch is stuck only
 * when all of them keep waiting. */
void yield_waiting() {
    Block &b = *g_block;
    if (++b.stall > 4L * b.live + 64) {
        if (!b.cooperative) deadlock();
        if (++g_spins > SPIN_LIMIT) {
            fprintf(stderr, "getp GPU emulator: kernel %p: every block of the cooperative launch waits and none can go on (a counter "
                            "nobody reaches, or threads at different barriers)\n", b.kernel);
            abort();
        }
        b.stall = 0;
        switch_stack(&b.f[b.cur].sp, b.main_sp, -1, false); /* to the launch, which runs the next block */
        return;
    }
    switch_to(b.f[b.cur].next);
}

void progress() { g_block->stall = 0, g_spins = 0; }

/* Opens the block's barrier when every live thread has reached it, and
 * each warp's when all its live lanes have. */
void release_barriers(int warp) {
    Block &b = *g_block;
    if (b.arrived > 0 && b.arrived == b.live) b.arrived = 0, b.gen++, progress();
    if (warp >= 0 && b.warp_arrived[warp] > 0 && b.warp_arrived[warp] == b.warp_live[warp]) b.warp_arrived[warp] = 0, b.warp_gen[warp]++, progress();
}

/* Waits for the warp's live lanes; the last to arrive runs on_full(warp,
 * set) first (a collective's work done once for the warp). */
void warp_barrier(void (*on_full)(int, int) = nullptr, int set = 0) {
    Block &b = *g_block;
    int w = cur().warp;
    unsigned gen = b.warp_gen[w];
    if (on_full && b.warp_arrived[w] + 1 == b.warp_live[w]) on_full(w, set);
    b.warp_arrived[w]++;
    release_barriers(w);
    while (b.warp_gen[w] == gen) yield_waiting();
}

[[noreturn]] void fiber_exit() {
    Block &b = *g_block;
    Fiber &f = cur();
    f.done = true;
    b.live--, b.warp_live[f.warp]--;
    b.f[f.prev].next = f.next, b.f[f.next].prev = f.prev;
    progress();
    release_barriers(f.warp);
    void *dead_sp;
    if (b.live == 0) switch_stack(&dead_sp, b.main_sp, -1, true);
    int next = f.next;
    b.cur = next;
    switch_stack(&dead_sp, b.f[next].sp, next, true);
    abort(); /* never resumed */
}

void fiber_entry() {
#ifdef EMU_ASAN
    __sanitizer_finish_switch_fiber(nullptr, nullptr, nullptr);
#endif
    (*g_block->body)();
    fiber_exit();
}

/* A fresh stack whose first switch starts fiber_entry. */
void *initial_sp(int i) {
    /* tops staggered by 17 cache lines a fiber: stacks a power of two apart
     * would put every fiber's hot frames in the same cache sets */
    char *top = g_block->stacks + (size_t)(i + 1) * STACK_BYTES - (size_t)(i * 17 % 1024) * 64;
#ifdef EMU_ASAN
    ASAN_UNPOISON_MEMORY_REGION(g_block->stacks + (size_t)i * STACK_BYTES + PAGE, STACK_BYTES - PAGE);
#endif
    void **sp = (void **)top;
    *--sp = nullptr;               /* fiber_entry's return address: it never returns */
    *--sp = (void *)&fiber_entry;  /* where emu_switch's ret goes */
    for (int r = 0; r < 6; r++) *--sp = nullptr; /* rbp rbx r12-r15 */
    return sp;
}

/* Stacks for n fibers, with a guard page below each so that an overflow faults. */
char *map_stacks(int n) {
    char *p = (char *)mmap(nullptr, STACK_BYTES * n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) {
        fprintf(stderr, "getp GPU emulator: cannot map fiber stacks\n");
        abort();
    }
    for (int i = 0; i < n; i++)
        if (mprotect(p + (size_t)i * STACK_BYTES, PAGE, PROT_NONE) != 0) {
            fprintf(stderr, "getp GPU emulator: cannot protect the guard page of fiber stack %d of %d (vm.max_map_count?)\n", i, n);
            abort();
        }
    return p;
}

/* Block b (g_block) ready to run its first thread. */
void start_block(Block &b) {
    int n = (int)(b.dim.x * b.dim.y * b.dim.z);
    b.n = b.live = n, b.arrived = 0, b.stall = 0;
    int warps = (n + 31) / 32;
    for (int w = 0; w < warps; w++) b.warp_live[w] = w * 32 + 32 <= n ? 32 : n - w * 32, b.warp_arrived[w] = 0;
    for (int i = 0; i < n; i++) {
        Fiber &f = b.f[i];
        f.sp = initial_sp(i);
        f.tid = dim3(i % b.dim.x, i / b.dim.x % b.dim.y, i / (b.dim.x * b.dim.y));
        int up = (i + 1) % n, down = (i + n - 1) % n;
        f.warp = i / 32, f.lane = i % 32, f.collective = 0, f.done = false;
        f.next = g_reverse ? down : up, f.prev = g_reverse ? up : down;
    }
    if (!b.dyn_shared.empty()) memset(b.dyn_shared.data(), g_poison ? 0xFF : 0, b.dyn_shared.size());
    b.cur = g_reverse ? n - 1 : 0;
}

/* Runs b's current thread until the block ends (or, cooperative, one of
 * its threads spin-waits: emu_spin_yield). */
void resume_block(Block &b) {
    g_block = &b;
    switch_stack(&b.main_sp, b.f[b.cur].sp, b.cur, false);
    g_block = nullptr;
}

void run_kernel(const void *kernel, dim3 grid, dim3 block, size_t shared, const std::function<void()> &body) {
    static Block *blk = new Block();
    if (!blk->stacks) blk->stacks = map_stacks(MAX_THREADS), blk->n_stacks = MAX_THREADS;
    if (g_block) {
        fprintf(stderr, "getp GPU emulator: a kernel launched from inside a kernel\n");
        abort();
    }
    blk->kernel = kernel, blk->body = &body, blk->dim = block, blk->grid = grid, blk->cooperative = false;
    blk->dyn_shared.assign(shared, 0);
    for (unsigned z = 0; z < grid.z; z++)
        for (unsigned y = 0; y < grid.y; y++)
            for (unsigned x = 0; x < grid.x; x++) {
                blk->idx = dim3(x, y, z);
                g_block = blk;
                start_block(*blk);
                resume_block(*blk);
            }
}

/* Every block of the grid at once, as a cooperative launch promises: each
 * block runs until it ends or one of its threads spin-waits on memory
 * another block writes (emu_spin_yield), then the next block runs. Their
 * static __shared__ arrays would be one for all: such kernels keep theirs
 * in dynamic shared memory, which is each block's own. */
void run_kernel_cooperative(const void *kernel, dim3 grid, dim3 block, size_t shared, const std::function<void()> &body) {
    static std::vector<Block *> &blocks = *new std::vector<Block *>(); /* kept to the end, as run_kernel's block */
    int n_blocks = (int)(grid.x * grid.y * grid.z), threads = (int)(block.x * block.y * block.z);
    if (g_block) {
        fprintf(stderr, "getp GPU emulator: a kernel launched from inside a kernel\n");
        abort();
    }
    while ((int)blocks.size() < n_blocks) blocks.push_back(new Block());
    /* each fiber's stack is two mappings (a guard page below it): only this launch's stay mapped */
    for (size_t i = 0; i < blocks.size(); i++) {
        Block &b = *blocks[i];
        int want = (int)i < n_blocks ? threads : 0;
        if (b.n_stacks == want) continue;
        if (b.stacks) munmap(b.stacks, STACK_BYTES * b.n_stacks);
        b.stacks = want ? map_stacks(want) : nullptr, b.n_stacks = want;
    }
    for (int i = 0; i < n_blocks; i++) {
        Block &b = *blocks[i];
        b.kernel = kernel, b.body = &body, b.dim = block, b.grid = grid, b.cooperative = true;
        b.idx = dim3(i % grid.x, i / grid.x % grid.y, i / (grid.x * grid.y));
        b.dyn_shared.assign(shared, 0);
        g_block = &b;
        start_block(b);
        g_block = nullptr;
    }
    g_spins = 0;
    for (int live = n_blocks; live > 0;)
        for (int i = 0; i < n_blocks; i++) {
            int k = g_reverse ? n_blocks - 1 - i : i;
            if (blocks[k]->live == 0) continue;
            resume_block(*blocks[k]);
            live -= blocks[k]->live == 0;
        }
}

void init_once() {
    static bool done;
    if (done) return;
    done = true;
    g_poison = getenv("GETP_EMU_POISON") && strcmp(getenv("GETP_EMU_POISON"), "0") != 0;
    g_reverse = getenv("GETP_EMU_ORDER") && strcmp(getenv("GETP_EMU_ORDER"), "reverse") == 0;
    const char *gb = getenv("GETP_EMU_MEM_GB");
    g_total_mem = (size_t)(gb ? atof(gb) : 8.0) * ((size_t)1 << 30);
}

float bf16_half(uint32_t pair, int half) { return __uint_as_float(half ? pair & 0xffff0000u : pair << 16); }

double now_ms() {
    timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

} // namespace

/* ---- device side ---- */
const dim3 &emu_thread_idx() { return cur().tid; }
const dim3 &emu_block_idx() { return g_block->idx; }
const dim3 &emu_block_dim() { return g_block->dim; }
const dim3 &emu_grid_dim() { return g_block->grid; }
void *emu_dynamic_shared() { return g_block->dyn_shared.data(); }

void emu_syncthreads() {
    Block &b = *g_block;
    unsigned gen = b.gen;
    b.arrived++;
    release_barriers(-1);
    while (b.gen == gen) yield_waiting();
}

void emu_warp_sync() { warp_barrier(); }

void emu_spin_yield() { yield_waiting(); }

/* Two slot sets, used in turn: a lane reaches collective n + 1 only after
 * the warp's barrier of n, which every lane passed after reading n - 1. */
uint64_t emu_warp_exchange(uint64_t mine, int src_lane) {
    Fiber &f = cur();
    int set = f.collective++ & 1, w = f.warp;
    g_block->xchg[w][set][f.lane] = mine;
    warp_barrier();
    return g_block->xchg[w][set][src_lane & 31];
}

unsigned emu_warp_ballot(bool p) {
    Fiber &f = cur();
    unsigned n = f.collective++;
    int set = n & 1, w = f.warp;
    /* the collective's number beside the vote: a lane that ended before it
     * left an older number, and votes false */
    g_block->xchg[w][set][f.lane] = (uint64_t)n << 1 | (p ? 1u : 0u);
    warp_barrier();
    unsigned bits = 0;
    for (int l = 0; l < 32; l++)
        if (g_block->xchg[w][set][l] == ((uint64_t)n << 1 | 1u)) bits |= 1u << l;
    return bits;
}

namespace {
/* A (16x16) and B (16x8) gathered from the lanes' fragments, then each
 * element of A B summed over k in order. */
void mma_tile(int w, int set) {
    const uint32_t(*frag)[6] = g_block->frag[w][set];
    float A[16][16], B[16][8];
    for (int lane = 0; lane < 32; lane++) {
        int g = lane >> 2, q = lane & 3;
        for (int h = 0; h < 2; h++) {
            A[g][2 * q + h] = bf16_half(frag[lane][0], h), A[g + 8][2 * q + h] = bf16_half(frag[lane][1], h);
            A[g][2 * q + 8 + h] = bf16_half(frag[lane][2], h), A[g + 8][2 * q + 8 + h] = bf16_half(frag[lane][3], h);
            B[2 * q + h][g] = bf16_half(frag[lane][4], h), B[2 * q + 8 + h][g] = bf16_half(frag[lane][5], h);
        }
    }
    for (int r = 0; r < 16; r++) {
        float s[8] = {0, 0, 0, 0, 0, 0, 0, 0}; /* each column's sum in k order */
        for (int k = 0; k < 16; k++)
            for (int c = 0; c < 8; c++) s[c] += A[r][k] * B[k][c];
        for (int c = 0; c < 8; c++) g_block->tile[w][set][r][c] = s[c];
    }
}
} // namespace

/* Lane 4g + q holds A[g][2q..] (a0), A[g+8][2q..] (a1), A[g][2q+8..] (a2),
 * A[g+8][2q+8..] (a3), B[2q..][g] (b0), B[2q+8..][g] (b1); it gets
 * D[g][2q..2q+1] (d0, d1) and D[g+8][2q..2q+1] (d2, d3). */
void emu_mma_bf16_16x8x16(float d[4], const uint32_t a[4], const uint32_t b[2]) {
    Fiber &f = cur();
    int set = f.collective++ & 1, w = f.warp;
    uint32_t *mine = g_block->frag[w][set][f.lane];
    for (int i = 0; i < 4; i++) mine[i] = a[i];
    mine[4] = b[0], mine[5] = b[1];
    warp_barrier(mma_tile, set);
    const float(*t)[8] = g_block->tile[w][set];
    int g = f.lane >> 2, q = f.lane & 3;
    d[0] += t[g][2 * q], d[1] += t[g][2 * q + 1], d[2] += t[g + 8][2 * q], d[3] += t[g + 8][2 * q + 1];
}

/* ---- streams and graphs ---- */
struct EmuGraph {
    std::vector<std::function<void()>> ops;
};
struct EmuStream {
    EmuGraph *capture = nullptr;
};
struct EmuEvent {
    double ms = 0;
};

namespace {
EmuStream g_null_stream;
EmuStream &stream_of(hipStream_t s) { return s ? *s : g_null_stream; }
/* Runs op now, or records it when s is capturing. */
hipError_t enqueue(hipStream_t s, std::function<void()> op) {
    EmuStream &st = stream_of(s);
    if (st.capture) st.capture->ops.push_back(std::move(op));
    else op();
    return hipSuccess;
}
} // namespace

namespace {
/* hipSuccess, or the error a GPU gives a launch of that shape (also left
 * for hipGetLastError): more than 1024 threads a block, an empty grid, more
 * shared memory than the kernel is allowed; cooperative, more blocks or
 * threads than the emulator runs side by side. */
hipError_t check_launch(const void *kernel, dim3 grid, dim3 block, size_t shared, bool cooperative) {
    init_once();
    size_t threads = (size_t)block.x * block.y * block.z, blocks = (size_t)grid.x * grid.y * grid.z;
    auto lim = g_shared_limit.find(kernel);
    size_t shared_limit = lim != g_shared_limit.end() ? (size_t)lim->second : 48 * 1024;
    hipError_t e = hipSuccess;
    if (threads == 0 || threads > MAX_THREADS || blocks == 0 || shared > shared_limit) e = hipErrorInvalidValue;
    else if (cooperative && (blocks > EMU_COOPERATIVE_BLOCKS || blocks * threads > EMU_COOPERATIVE_THREADS)) e = hipErrorCooperativeLaunchTooLarge;
    if (e != hipSuccess) g_last_error = e;
    return e;
}
} // namespace

hipError_t emu_enqueue_kernel(const void *kernel, dim3 grid, dim3 block, size_t shared, hipStream_t s, std::function<void()> body) {
    hipError_t e = check_launch(kernel, grid, block, shared, false);
    return e != hipSuccess ? e : enqueue(s, [=]() { run_kernel(kernel, grid, block, shared, body); });
}

hipError_t emu_enqueue_cooperative(const void *kernel, dim3 grid, dim3 block, size_t shared, hipStream_t s, std::function<void()> body) {
    hipError_t e = check_launch(kernel, grid, block, shared, true);
    if (e != hipSuccess) return e;
    return enqueue(s, [=]() { run_kernel_cooperative(kernel, grid, block, shared, body); });
}

hipError_t hipStreamCreateWithFlags(hipStream_t *s, unsigned) {
    *s = new EmuStream();
    return hipSuccess;
}
hipError_t hipStreamDestroy(hipStream_t s) {
    delete s;
    return hipSuccess;
}
hipError_t hipStreamSynchronize(hipStream_t s) { return stream_of(s).capture ? hipErrorStreamCaptureUnsupported : hipSuccess; }
hipError_t hipStreamBeginCapture(hipStream_t s, hipStreamCaptureMode) {
    EmuStream &st = stream_of(s);
    if (st.capture) return hipErrorInvalidValue;
    st.capture = new EmuGraph();
    return hipSuccess;
}
hipError_t hipStreamEndCapture(hipStream_t s, hipGraph_t *g) {
    EmuStream &st = stream_of(s);
    if (!st.capture) return hipErrorInvalidValue;
    *g = st.capture;
    st.capture = nullptr;
    return hipSuccess;
}
hipError_t hipGraphInstantiate(hipGraphExec_t *e, hipGraph_t g, void *, void *, size_t) {
    *e = new EmuGraph(*g);
    return hipSuccess;
}
hipError_t hipGraphLaunch(hipGraphExec_t e, hipStream_t s) {
    for (auto &op : e->ops) enqueue(s, op);
    return hipSuccess;
}
hipError_t hipGraphDestroy(hipGraph_t g) {
    delete g;
    return hipSuccess;
}
hipError_t hipGraphExecDestroy(hipGraphExec_t e) {
    delete e;
    return hipSuccess;
}
hipError_t hipEventCreate(hipEvent_t *e) {
    *e = new EmuEvent();
    return hipSuccess;
}
hipError_t hipEventCreateWithFlags(hipEvent_t *e, unsigned) { return hipEventCreate(e); }
hipError_t hipEventRecord(hipEvent_t e, hipStream_t s) {
    return enqueue(s, [e]() { e->ms = now_ms(); });
}
hipError_t hipEventSynchronize(hipEvent_t) { return hipSuccess; }
hipError_t hipEventElapsedTime(float *ms, hipEvent_t a, hipEvent_t b) {
    *ms = (float)(b->ms - a->ms);
    return hipSuccess;
}
hipError_t hipEventDestroy(hipEvent_t e) {
    delete e;
    return hipSuccess;
}

/* ---- memory ---- */
hipError_t emu_malloc(void **p, size_t n) {
    init_once();
    if (g_used_mem + n > g_total_mem) return hipErrorMemoryAllocation;
    /* calloc: large blocks come from fresh zero pages, touched when used */
    void *m = g_poison ? malloc(n ? n : 1) : calloc(n ? n : 1, 1);
    if (!m) return hipErrorMemoryAllocation;
    if (g_poison) memset(m, 0xFF, n);
    g_allocs[m] = n, g_used_mem += n, *p = m;
    return hipSuccess;
}
hipError_t hipFree(void *p) {
    if (!p) return hipSuccess;
    auto it = g_allocs.find(p);
    if (it == g_allocs.end()) return hipErrorInvalidValue;
    g_used_mem -= it->second;
    g_allocs.erase(it);
    free(p);
    return hipSuccess;
}
hipError_t hipHostFree(void *p) { return hipFree(p); }
hipError_t hipHostRegister(void *, size_t, unsigned) { return hipSuccess; }
hipError_t hipHostUnregister(void *) { return hipSuccess; }
hipError_t hipMemGetInfo(size_t *free_b, size_t *total_b) {
    init_once();
    *free_b = g_total_mem - g_used_mem, *total_b = g_total_mem;
    return hipSuccess;
}
hipError_t hipMemcpy(void *dst, const void *src, size_t n, hipMemcpyKind) {
    memmove(dst, src, n);
    return hipSuccess;
}
hipError_t hipMemcpyAsync(void *dst, const void *src, size_t n, hipMemcpyKind, hipStream_t s) {
    return enqueue(s, [=]() { memmove(dst, src, n); });
}
hipError_t hipMemcpyPeerAsync(void *dst, int, const void *src, int, size_t n, hipStream_t s) { return hipMemcpyAsync(dst, src, n, hipMemcpyDeviceToDevice, s); }
hipError_t hipMemset(void *p, int v, size_t n) {
    memset(p, v, n);
    return hipSuccess;
}
hipError_t hipMemsetAsync(void *p, int v, size_t n, hipStream_t s) {
    return enqueue(s, [=]() { memset(p, v, n); });
}
hipError_t hipIpcGetMemHandle(hipIpcMemHandle_t *, void *) { return hipErrorNotSupported; }
hipError_t hipIpcOpenMemHandle(void **, hipIpcMemHandle_t, unsigned) { return hipErrorNotSupported; }
hipError_t hipIpcCloseMemHandle(void *) { return hipErrorNotSupported; }

/* ---- the device ---- */
const char *hipGetErrorString(hipError_t e) {
    switch (e) {
    case hipSuccess: return "no error";
    case hipErrorInvalidValue: return "invalid argument (emulator: launch of more than 1024 threads or too much shared memory?)";
    case hipErrorMemoryAllocation: return "out of memory (emulator: GETP_EMU_MEM_GB)";
    case hipErrorCooperativeLaunchTooLarge: return "too many blocks in cooperative launch (emulator: at most 64, 16384 threads in all)";
    case hipErrorNotSupported: return "operation not supported by the emulator";
    case hipErrorStreamCaptureUnsupported: return "operation not permitted when stream is capturing";
    default: return "unknown error";
    }
}
hipError_t hipGetLastError() {
    hipError_t e = g_last_error;
    g_last_error = hipSuccess;
    return e;
}
hipError_t hipGetDeviceCount(int *n) {
    *n = 1;
    return hipSuccess;
}
hipError_t hipGetDeviceProperties(hipDeviceProp_t *p, int device) {
    if (device != 0) return hipErrorInvalidDevice;
    init_once();
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "getp GPU emulator (CPU)");
    p->multiProcessorCount = 4;
    p->totalGlobalMem = g_total_mem;
    return hipSuccess;
}
hipError_t hipSetDevice(int device) { return device == 0 ? hipSuccess : hipErrorInvalidDevice; }
hipError_t hipDeviceGetPCIBusId(char *buf, int len, int device) {
    if (device != 0) return hipErrorInvalidDevice;
    snprintf(buf, (size_t)len, "0000:00:00.0");
    return hipSuccess;
}
hipError_t hipDeviceCanAccessPeer(int *can, int, int) {
    *can = 0;
    return hipSuccess;
}
hipError_t hipFuncSetAttribute(const void *kernel, hipFuncAttribute, int value) {
    if (value > 227 * 1024) return hipErrorInvalidValue;
    g_shared_limit[kernel] = value;
    return hipSuccess;
}
hipError_t hipOccupancyMaxActiveBlocksPerMultiprocessor(int *n, const void *, int, size_t) {
    *n = 2;
    return hipSuccess;
}
