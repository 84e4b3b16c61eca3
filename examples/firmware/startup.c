/* examples/firmware/startup.c - reset and fault handling for a Cortex-M4F/M7
   (ARMv7E-M with an FPU): the vector table, .data copied from flash, .bss
   zeroed, the FPU switched on, then main(); its return value becomes
   QEMU's exit status through semihosting. No C library start-up code. */
#include <stdint.h>

extern uint32_t _estack, _sidata, _sdata, _edata, _sbss, _ebss;
extern int main(void);
extern void fw_exit(int code);

void Reset_Handler(void);
void Fault_Handler(void);

void Reset_Handler(void) {
    uint32_t *src = &_sidata, *dst = &_sdata;
    /* CPACR: full access to coprocessors 10 and 11 (the FPU); without it the
       first float instruction faults (UsageFault NOCP) */
    *(volatile uint32_t *)0xE000ED88u |= 0xFu << 20;
    __asm__ volatile("dsb\n\tisb" ::: "memory");
    while (dst < &_edata) *dst++ = *src++;
    for (dst = &_sbss; dst < &_ebss;) *dst++ = 0;
    fw_exit(main());
}

/* Any fault: say which and where, and stop QEMU with status 2 (instead of
   spinning until a timeout). */
static void fault_write(const char *s) {
    register int r0 __asm__("r0") = 0x04; /* SYS_WRITE0: to QEMU's stderr */
    register const char *r1 __asm__("r1") = s;
    __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
}

static void fault_hex(const char *label, uint32_t v) {
    char buf[24];
    int i, n = 0;
    while (label[n] && n < 12) buf[n] = label[n], n++;
    for (i = 7; i >= 0; i--) buf[n++] = "0123456789abcdef"[(v >> (4 * i)) & 15u];
    buf[n++] = '\n';
    buf[n] = 0;
    fault_write(buf);
}

void Fault_Handler(void) {
    uint32_t ipsr, *frame;
    __asm__ volatile("mrs %0, ipsr" : "=r"(ipsr));
    __asm__ volatile("tst lr, #4\n\tite eq\n\tmrseq %0, msp\n\tmrsne %0, psp" : "=r"(frame));
    fault_write("fault\n");
    fault_hex("exception ", ipsr & 0x1ffu);
    fault_hex("CFSR ", *(volatile uint32_t *)0xE000ED28u);
    fault_hex("HFSR ", *(volatile uint32_t *)0xE000ED2Cu);
    fault_hex("BFAR ", *(volatile uint32_t *)0xE000ED38u);
    fault_hex("PC ", frame[6]);
    fw_exit(2);
}

__attribute__((section(".isr_vector"), used)) void (*const g_vectors[16])(void) = {
    (void (*)(void))(uintptr_t)&_estack, /* initial stack pointer */
    Reset_Handler,
    Fault_Handler, /* NMI */
    Fault_Handler, /* HardFault */
    Fault_Handler, /* MemManage */
    Fault_Handler, /* BusFault */
    Fault_Handler, /* UsageFault */
    0, 0, 0, 0,
    Fault_Handler, /* SVCall */
    Fault_Handler, /* DebugMonitor */
    0,
    Fault_Handler, /* PendSV */
    Fault_Handler, /* SysTick */
};
