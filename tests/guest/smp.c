/*
 * smp: start the second vCPU (-smp 2) with INIT, SIPI, SIPI through the
 * BSP's local APIC. The AP runs smp-trampoline.S, enters protected mode
 * and reports "smp: cpu 1 up"; the BSP reports "smp: cpu 0 up", waits
 * (bounded) for the AP, and exits with the number of CPUs that
 * reported in, so two working CPUs give exit value 2 (status 5).
 */
#include "runtime.h"

#define LAPIC_BASE 0xfee00000u
#define LAPIC_ID 0x020
#define LAPIC_SVR 0x0f0
#define LAPIC_ICR_LO 0x300
#define LAPIC_ICR_HI 0x310
#define ICR_DELIVERY_PENDING (1u << 12)
#define ICR_INIT 0x00004500u       /* INIT, level assert */
#define ICR_STARTUP 0x00004600u    /* start-up; | vector */
#define TRAMP_ADDR 0x8000u
#define AP_APIC_ID 1u

extern const uint8_t smp_tramp_start[], smp_tramp_end[];
void smp_ap_main(void);
void guest_main(uint32_t magic, uint32_t info);

static volatile uint32_t serial_lock;
static volatile uint32_t cpus_up;

static void lock(void)
{
    while (__atomic_exchange_n(&serial_lock, 1, __ATOMIC_ACQUIRE)) {
        cpu_relax();
    }
}

static void unlock(void)
{
    __atomic_store_n(&serial_lock, 0, __ATOMIC_RELEASE);
}

static void report_up(unsigned cpu)
{
    lock();
    serial_puts("smp: cpu ");
    serial_put_dec(cpu);
    serial_puts(" up\n");
    unlock();
    __atomic_add_fetch(&cpus_up, 1, __ATOMIC_SEQ_CST);
}

static uint32_t lapic_read(uint32_t reg)
{
    return *(volatile uint32_t *)(LAPIC_BASE + reg);
}

static void lapic_write(uint32_t reg, uint32_t v)
{
    *(volatile uint32_t *)(LAPIC_BASE + reg) = v;
}

/* Spin for roughly @ticks TSC ticks (the INIT/SIPI protocol wants pauses). */
static void delay(uint64_t ticks)
{
    uint64_t start = rdtsc();

    while (rdtsc() - start < ticks) {
        cpu_relax();
    }
}

/* Send one IPI to the AP and wait (bounded) until the APIC accepted it. */
static bool send_ipi(uint32_t icr_lo)
{
    uint64_t start;

    lapic_write(LAPIC_ICR_HI, AP_APIC_ID << 24);
    lapic_write(LAPIC_ICR_LO, icr_lo);
    start = rdtsc();
    while (lapic_read(LAPIC_ICR_LO) & ICR_DELIVERY_PENDING) {
        if (rdtsc() - start > WAIT_TSC_TICKS) {
            return false;
        }
        cpu_relax();
    }
    return true;
}

void smp_ap_main(void)
{
    report_up(1);
}

void guest_main(uint32_t magic, uint32_t info)
{
    uint64_t start;

    (void)magic;
    (void)info;
    serial_init();
    memcpy((void *)TRAMP_ADDR, smp_tramp_start, smp_tramp_end - smp_tramp_start);
    lapic_write(LAPIC_SVR, lapic_read(LAPIC_SVR) | 0x1ff);  /* enable, spurious 0xff */
    lock();
    serial_puts("smp: bsp apic id ");
    serial_put_dec(lapic_read(LAPIC_ID) >> 24);
    serial_putc('\n');
    unlock();

    if (!send_ipi(ICR_INIT)) {
        guest_fail("smp", "INIT IPI stuck pending");
    }
    delay(10 * 1000 * 1000);
    for (int n = 0; n < 2; n++) {
        if (!send_ipi(ICR_STARTUP | (TRAMP_ADDR >> 12))) {
            guest_fail("smp", "SIPI stuck pending");
        }
        delay(200 * 1000);
    }
    report_up(0);

    start = rdtsc();
    while (__atomic_load_n(&cpus_up, __ATOMIC_SEQ_CST) < 2 &&
           rdtsc() - start < WAIT_TSC_TICKS) {
        cpu_relax();
    }
    lock();
    serial_puts("smp: ");
    serial_put_dec(cpus_up);
    serial_puts(" cpus up\n");
    unlock();
    guest_exit(cpus_up);
}
