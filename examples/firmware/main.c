/* examples/firmware/main.c - rwkv.h on a Cortex-M, with no heap and no stdio.
 *
 * The model (examples/models/rwkv4-shakespeare.gguf, 3.3 MB) is linked in
 * as const data in flash (model.S) and used in place; everything rwkv.h
 * allocates comes from a bump allocator over a static arena. It samples
 * 64 tokens after "ROMEO:" (seed 42, temperature 0.8, top-p 0.9: demo.h)
 * and prints them over ARM semihosting, then the memory and time used.
 * `make run` runs it in qemu-system-arm; `make check` compares the text
 * with host_reference.c's. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* ---- Semihosting (ARM's host I/O through `bkpt 0xab`) -------------------- */

static int semihost(int op, const void *arg) {
    register int r0 __asm__("r0") = op;
    register const void *r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

static int g_stdout = -1, g_stderr = -1;

static int sh_open_tt(int mode) { /* ":tt" is the console: mode 4 stdout, 8 stderr */
    const void *args[3];
    args[0] = ":tt";
    args[1] = (const void *)(uintptr_t)mode;
    args[2] = (const void *)(uintptr_t)3;
    return semihost(0x01, args); /* SYS_OPEN */
}

static void sh_write(int handle, const char *s, size_t n) {
    const void *args[3];
    if (!n) return;
    args[0] = (const void *)(intptr_t)handle;
    args[1] = s;
    args[2] = (const void *)(uintptr_t)n;
    semihost(0x05, args); /* SYS_WRITE */
}

void fw_exit(int code); /* also called by the fault handler (startup.c) */
void fw_exit(int code) {
    uint32_t args[2];
    args[0] = 0x20026; /* ADP_Stopped_ApplicationExit */
    args[1] = (uint32_t)code;
    semihost(0x20, args); /* SYS_EXIT_EXTENDED: QEMU exits with `code` */
    for (;;) {
    }
}

static void out_text(const char *s, size_t n) { sh_write(g_stdout, s, n); }
static void out_note(const char *s) { sh_write(g_stderr, s, strlen(s)); }

static void note_u(const char *label, unsigned long v, const char *unit) {
    char digits[16];
    int i = 0;
    out_note(label);
    do {
        digits[i++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (i--) sh_write(g_stderr, &digits[i], 1);
    out_note(unit);
}

/* ---- Time: CMSDK timer 0 of the MPS2 boards, a 32-bit down counter at
   the 25 MHz system clock. Under QEMU it follows the host's clock, or with
   `-icount shift=0` the instruction count (1 instruction = 1 ns). */
#define TIMER0 ((volatile uint32_t *)0x40000000u)
#define TICKS_PER_MS 25000u

static void timer_start(void) {
    TIMER0[2] = 0xffffffffu; /* RELOAD */
    TIMER0[1] = 0xffffffffu; /* VALUE */
    TIMER0[0] = 1u;          /* CTRL: enable */
}

static uint32_t ticks(void) { return 0xffffffffu - TIMER0[1]; }

/* ---- A bump allocator over a static arena --------------------------------
   Each block has an 8-byte header with its size (for realloc). free() gives
   memory back only for the last block; the loader's temporaries (the GGUF
   key table, a sorted copy) are freed in that order, so they cost nothing
   after loading. The peak is what ARENA_SIZE must hold. */
#ifndef ARENA_SIZE
#define ARENA_SIZE (192u * 1024u)
#endif
static unsigned char g_arena[ARENA_SIZE] __attribute__((aligned(32)));
static size_t g_top, g_peak, g_failed;

void fw_panic(const char *what);
void *fw_malloc(size_t n);
void *fw_realloc(void *p, size_t n);
void fw_free(void *p);

void *fw_malloc(size_t n) {
    size_t need = 8 + ((n + 7) & ~(size_t)7);
    unsigned char *p;
    if (n > ARENA_SIZE || need > ARENA_SIZE - g_top) {
        g_failed = n;
        return NULL;
    }
    p = g_arena + g_top;
    memcpy(p, &n, sizeof(n));
    g_top += need;
    if (g_top > g_peak) g_peak = g_top;
    return p + 8;
}

static size_t block_size(const void *p) {
    size_t n;
    memcpy(&n, (const unsigned char *)p - 8, sizeof(n));
    return n;
}

static int is_last(const void *p) {
    return (const unsigned char *)p - 8 + 8 + ((block_size(p) + 7) & ~(size_t)7) == g_arena + g_top;
}

void fw_free(void *p) {
    if (p && is_last(p)) g_top = (size_t)((unsigned char *)p - 8 - g_arena);
}

void *fw_realloc(void *p, size_t n) {
    void *q;
    if (!p) return fw_malloc(n);
    if (is_last(p)) { /* grow or shrink in place */
        size_t start = (size_t)((unsigned char *)p - 8 - g_arena), need = 8 + ((n + 7) & ~(size_t)7);
        if (n > ARENA_SIZE || need > ARENA_SIZE - start) {
            g_failed = n;
            return NULL;
        }
        memcpy((unsigned char *)p - 8, &n, sizeof(n));
        g_top = start + need;
        if (g_top > g_peak) g_peak = g_top;
        return p;
    }
    q = fw_malloc(n);
    if (q) memcpy(q, p, block_size(p) < n ? block_size(p) : n);
    return q;
}

void fw_panic(const char *what) {
    out_note("assertion failed: ");
    out_note(what);
    out_note("\n");
    fw_exit(3);
}

/* ---- rwkv.h: no stdio, no heap, one token per step ------------------------ */
#define RWKV_NO_STDIO
#define RWKV_STATIC
#define RWKV_CHUNK 1
#define RWKV_MALLOC(sz) fw_malloc(sz)
#define RWKV_REALLOC(p, sz) fw_realloc(p, sz)
#define RWKV_FREE(p) fw_free(p)
#define RWKV_ASSERT(x) ((x) ? (void)0 : fw_panic(#x))
#define RWKV_IMPLEMENTATION
#include "rwkv.h"
#include "demo.h"

/* ---- The model, linked in by model.S -------------------------------------- */
extern const unsigned char g_model[], g_model_end[];

/* ---- Stack use: paint the stack, then find the deepest word written -------- */
extern uint32_t _sstack, _estack;
#define PAINT 0xa5a5a5a5u

__attribute__((noinline)) static void paint_stack(void) {
    uint32_t *p = &_sstack, *sp = (uint32_t *)__builtin_frame_address(0) - 64;
    while (p < sp) *p++ = PAINT;
}

static size_t stack_used(void) {
    const uint32_t *p = &_sstack;
    while (p < &_estack && *p == PAINT) p++;
    return (size_t)((const unsigned char *)&_estack - (const unsigned char *)p);
}

int main(void);
int main(void) {
    demo_io io;
    demo_stats st;
    int rc;
    g_stdout = sh_open_tt(4);
    g_stderr = sh_open_tt(8);
    paint_stack();
    timer_start();
    io.text = out_text;
    io.note = out_note;
    io.clock = ticks;
    rc = demo_run(g_model, (size_t)(g_model_end - g_model), &io, &st);
    if (g_failed) note_u("arena: a request of ", (unsigned long)g_failed, " bytes did not fit (raise ARENA_SIZE)\n");
    note_u("model in flash: ", (unsigned long)(g_model_end - g_model), " bytes\n");
    note_u("arena: peak ", (unsigned long)g_peak, "");
    note_u(" of ", (unsigned long)ARENA_SIZE, " bytes\n");
    note_u("stack: ", (unsigned long)stack_used(), " bytes used\n");
    if (rc == 0) {
        note_u("load: ", (unsigned long)(st.load_ticks / TICKS_PER_MS), " ms, ");
        note_u("prompt: ", (unsigned long)st.prompt_tokens, " tokens in ");
        note_u("", (unsigned long)(st.prompt_ticks / TICKS_PER_MS), " ms, ");
        note_u("generation: ", (unsigned long)st.gen_tokens, " tokens in ");
        note_u("", (unsigned long)(st.gen_ticks / TICKS_PER_MS), " ms (");
        note_u("", (unsigned long)(st.gen_ticks / (st.gen_tokens ? st.gen_tokens : 1) / 25u), " us/token; with -icount shift=0, 1 us = 1000 instructions)\n");
    }
    return rc;
}
