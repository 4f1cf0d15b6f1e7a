/*
 * KVM accelerator tests.
 *
 * Part 1 feeds kvm_handle_exit() hand-made struct kvm_run exits against
 * test devices on an I/O bus (no /dev/kvm needed). Part 2 runs tiny real
 * guests (real mode, long mode, kicks, a triple fault) under KVM; it skips,
 * loudly, only when /dev/kvm cannot be opened.
 */
#include <string.h>
#include <stdlib.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <glib.h>
#include "accel/kvm.h"
#include "hw/iobus.h"
#include "system/machine.h"
#include "system/runstate.h"

#define GUEST_TIMEOUT_S 30

/* ---- test devices ---- */

typedef struct TestDevs {
    GMutex lock;
    GCond cond;
    GArray *log;          /* of LogEntry: writes to the log device */
    GByteArray *fifo;     /* bytes written to the FIFO port */
    uint16_t counter;     /* next value the counter port reads */
    uint64_t mmio_regs[4];
    Vcpu *stop_cpu;       /* the done port stops this vCPU */
    unsigned done_writes;
} TestDevs;

typedef struct LogEntry {
    uint64_t off, val;
    unsigned size;
} LogEntry;

static TestDevs devs;

/* Ports 0xE0-0xEF: logs every write, reads as 0x5A bytes. */
static uint64_t log_read(void *opaque G_GNUC_UNUSED, uint64_t off G_GNUC_UNUSED,
                         unsigned size)
{
    return 0x5a5a5a5a5a5a5a5aull >> (64 - 8 * size);
}

static void log_write(void *opaque G_GNUC_UNUSED, uint64_t off, uint64_t val,
                      unsigned size)
{
    LogEntry e = { .off = off, .val = val, .size = size };
    g_mutex_lock(&devs.lock);
    g_array_append_val(devs.log, e);
    g_mutex_unlock(&devs.lock);
}

static const IoOps log_ops = {
    .read = log_read, .write = log_write, .min_size = 1, .max_size = 4,
};

/* Ports 0xF0-0xF3: offset 0 is a byte FIFO, offset 2 a 16-bit counter. */
static uint64_t fifo_read(void *opaque G_GNUC_UNUSED, uint64_t off, unsigned size)
{
    if (off == 2 && size == 2) {
        return devs.counter++;
    }
    return 0xffff;
}

static void fifo_write(void *opaque G_GNUC_UNUSED, uint64_t off, uint64_t val,
                       unsigned size G_GNUC_UNUSED)
{
    if (off == 0) {
        uint8_t b = val;
        g_mutex_lock(&devs.lock);
        g_byte_array_append(devs.fifo, &b, 1);
        g_cond_broadcast(&devs.cond);
        g_mutex_unlock(&devs.lock);
    }
}

static const IoOps fifo_ops = {
    .read = fifo_read, .write = fifo_write, .min_size = 1, .max_size = 2,
};

/* Port 0xF4: the guest is done; stop its vCPU (as isa-debug-exit would). */
static uint64_t done_read(void *opaque G_GNUC_UNUSED, uint64_t off G_GNUC_UNUSED,
                          unsigned size G_GNUC_UNUSED)
{
    return 0;
}

static void done_write(void *opaque G_GNUC_UNUSED, uint64_t off G_GNUC_UNUSED,
                       uint64_t val G_GNUC_UNUSED, unsigned size G_GNUC_UNUSED)
{
    devs.done_writes++;
    if (devs.stop_cpu) {
        atomic_store(&devs.stop_cpu->stop, true);
    }
}

static const IoOps done_ops = { .read = done_read, .write = done_write };

/* MMIO 0x300000-0x30001F: four 64-bit registers; register 1 reads fixed. */
#define MMIO_BASE 0x300000u
#define MMIO_MAGIC 0xcafebabedeadbeefull

static uint64_t mmio_read(void *opaque G_GNUC_UNUSED, uint64_t off, unsigned size)
{
    uint64_t v = off / 8 == 1 ? MMIO_MAGIC : devs.mmio_regs[off / 8];
    return size == 8 ? v : (v >> (8 * (off % 8))) & ((1ull << (8 * size)) - 1);
}

static void mmio_write(void *opaque G_GNUC_UNUSED, uint64_t off, uint64_t val,
                       unsigned size)
{
    uint64_t *r = &devs.mmio_regs[off / 8];
    unsigned shift = 8 * (off % 8);
    uint64_t mask = size == 8 ? ~0ull : ((1ull << (8 * size)) - 1) << shift;
    *r = (*r & ~mask) | ((val << shift) & mask);
}

static const IoOps mmio_ops = {
    .read = mmio_read, .write = mmio_write, .min_size = 1, .max_size = 8,
};

static void devs_reset(void)
{
    g_mutex_lock(&devs.lock);
    if (!devs.log) {
        devs.log = g_array_new(FALSE, TRUE, sizeof(LogEntry));
        devs.fifo = g_byte_array_new();
    }
    g_array_set_size(devs.log, 0);
    g_byte_array_set_size(devs.fifo, 0);
    devs.counter = 0x100;
    memset(devs.mmio_regs, 0, sizeof(devs.mmio_regs));
    devs.stop_cpu = NULL;
    devs.done_writes = 0;
    g_mutex_unlock(&devs.lock);
}

static void map_devs(Machine *m)
{
    g_assert_true(iobus_map(m->pio, 0xe0, 16, &log_ops, NULL, NULL));
    g_assert_true(iobus_map(m->pio, 0xf0, 4, &fifo_ops, NULL, NULL));
    g_assert_true(iobus_map(m->pio, 0xf4, 1, &done_ops, NULL, NULL));
    g_assert_true(iobus_map(m->mmio, MMIO_BASE, 0x20, &mmio_ops, NULL, NULL));
}

/* ---- part 1: kvm_handle_exit on synthetic exits ---- */

#define RUN_SIZE (3 * 4096)
#define DATA_OFF 4096

typedef struct ExitFixture {
    Machine m;
    struct kvm_run *run;
    uint8_t *data;
} ExitFixture;

static void exit_setup(ExitFixture *f, gconstpointer d G_GNUC_UNUSED)
{
    memset(&f->m, 0, sizeof(f->m));
    f->m.pio = iobus_new("pio");
    f->m.mmio = iobus_new("mmio");
    f->run = g_malloc0(RUN_SIZE);
    f->data = (uint8_t *)f->run + DATA_OFF;
    devs_reset();
    map_devs(&f->m);
}

static void exit_teardown(ExitFixture *f, gconstpointer d G_GNUC_UNUSED)
{
    iobus_free(f->m.pio);
    iobus_free(f->m.mmio);
    g_free(f->run);
}

static KvmExitAction io_exit(ExitFixture *f, uint8_t dir, uint16_t port,
                             uint8_t size, uint32_t count)
{
    char *why = NULL;

    f->run->exit_reason = KVM_EXIT_IO;
    f->run->io.direction = dir;
    f->run->io.port = port;
    f->run->io.size = size;
    f->run->io.count = count;
    f->run->io.data_offset = DATA_OFF;
    KvmExitAction a = kvm_handle_exit(&f->m, f->run, RUN_SIZE, &why);
    g_assert_null(why);
    return a;
}

static void test_exit_io_sizes(ExitFixture *f, gconstpointer d G_GNUC_UNUSED)
{
    static const uint8_t bytes[4] = { 0x11, 0x22, 0x33, 0x44 };
    unsigned sizes[] = { 1, 2, 4 };

    for (unsigned i = 0; i < G_N_ELEMENTS(sizes); i++) {
        memcpy(f->data, bytes, 4);
        g_assert_cmpint(io_exit(f, KVM_EXIT_IO_OUT, 0xe4, sizes[i], 1), ==,
                        KVM_ACTION_CONTINUE);
        LogEntry *e = &g_array_index(devs.log, LogEntry, i);
        uint64_t want = 0;
        memcpy(&want, bytes, sizes[i]);
        g_assert_cmpuint(e->off, ==, 4);
        g_assert_cmpuint(e->size, ==, sizes[i]);
        g_assert_cmphex(e->val, ==, want);

        memset(f->data, 0, 8);
        g_assert_cmpint(io_exit(f, KVM_EXIT_IO_IN, 0xe8, sizes[i], 1), ==,
                        KVM_ACTION_CONTINUE);
        for (unsigned b = 0; b < 8; b++) {
            g_assert_cmphex(f->data[b], ==, b < sizes[i] ? 0x5a : 0);
        }
    }
    g_assert_cmpuint(devs.log->len, ==, 3);
}

static void test_exit_io_string(ExitFixture *f, gconstpointer d G_GNUC_UNUSED)
{
    /* rep outsb of 5 bytes to the FIFO: one exit, count 5. */
    memcpy(f->data, "hello", 5);
    g_assert_cmpint(io_exit(f, KVM_EXIT_IO_OUT, 0xf0, 1, 5), ==,
                    KVM_ACTION_CONTINUE);
    g_assert_cmpuint(devs.fifo->len, ==, 5);
    g_assert_cmpmem(devs.fifo->data, 5, "hello", 5);

    /* rep insw of 3 words from the counter. */
    memset(f->data, 0, 16);
    g_assert_cmpint(io_exit(f, KVM_EXIT_IO_IN, 0xf2, 2, 3), ==,
                    KVM_ACTION_CONTINUE);
    static const uint8_t want[8] = { 0x00, 0x01, 0x01, 0x01, 0x02, 0x01, 0, 0 };
    g_assert_cmpmem(f->data, 8, want, 8);

    /* rep outsd of 2 dwords to the log: two 4-byte writes. */
    memcpy(f->data, "\x01\x02\x03\x04\x05\x06\x07\x08", 8);
    g_assert_cmpint(io_exit(f, KVM_EXIT_IO_OUT, 0xe0, 4, 2), ==,
                    KVM_ACTION_CONTINUE);
    g_assert_cmpuint(devs.log->len, ==, 2);
    g_assert_cmphex(g_array_index(devs.log, LogEntry, 0).val, ==, 0x04030201);
    g_assert_cmphex(g_array_index(devs.log, LogEntry, 1).val, ==, 0x08070605);

    /* Unmapped ports read as all-ones. */
    memset(f->data, 0, 4);
    g_assert_cmpint(io_exit(f, KVM_EXIT_IO_IN, 0x3333, 4, 1), ==,
                    KVM_ACTION_CONTINUE);
    g_assert_cmphex(f->data[0] & f->data[1] & f->data[2] & f->data[3], ==, 0xff);
}

static void test_exit_io_bad(ExitFixture *f, gconstpointer d G_GNUC_UNUSED)
{
    char *why = NULL;

    f->run->exit_reason = KVM_EXIT_IO;
    f->run->io.direction = KVM_EXIT_IO_OUT;
    f->run->io.port = 0xf0;
    f->run->io.size = 1;
    f->run->io.count = RUN_SIZE;        /* runs past the kvm_run area */
    f->run->io.data_offset = DATA_OFF;
    g_assert_cmpint(kvm_handle_exit(&f->m, f->run, RUN_SIZE, &why), ==,
                    KVM_ACTION_FATAL);
    g_assert_nonnull(strstr(why, "KVM_EXIT_IO"));
    g_free(why);
    why = NULL;
    f->run->io.count = 1;
    f->run->io.size = 3;
    g_assert_cmpint(kvm_handle_exit(&f->m, f->run, RUN_SIZE, &why), ==,
                    KVM_ACTION_FATAL);
    g_free(why);
    g_assert_cmpuint(devs.fifo->len, ==, 0);
}

static void test_exit_mmio(ExitFixture *f, gconstpointer d G_GNUC_UNUSED)
{
    unsigned lens[] = { 1, 2, 4, 8 };
    char *why = NULL;

    for (unsigned i = 0; i < G_N_ELEMENTS(lens); i++) {
        unsigned len = lens[i];
        uint64_t v = 0x0102030405060708ull;

        memset(devs.mmio_regs, 0, sizeof(devs.mmio_regs));
        f->run->exit_reason = KVM_EXIT_MMIO;
        f->run->mmio.phys_addr = MMIO_BASE;
        f->run->mmio.len = len;
        f->run->mmio.is_write = 1;
        memcpy(f->run->mmio.data, &v, 8);
        g_assert_cmpint(kvm_handle_exit(&f->m, f->run, RUN_SIZE, &why), ==,
                        KVM_ACTION_CONTINUE);
        uint64_t want = len == 8 ? v : v & ((1ull << (8 * len)) - 1);
        g_assert_cmphex(devs.mmio_regs[0], ==, want);

        /* Read it back, and the fixed register next to it. */
        memset(f->run->mmio.data, 0xee, 8);
        f->run->mmio.is_write = 0;
        g_assert_cmpint(kvm_handle_exit(&f->m, f->run, RUN_SIZE, &why), ==,
                        KVM_ACTION_CONTINUE);
        g_assert_cmpmem(f->run->mmio.data, len, &want, len);
        f->run->mmio.phys_addr = MMIO_BASE + 8;
        g_assert_cmpint(kvm_handle_exit(&f->m, f->run, RUN_SIZE, &why), ==,
                        KVM_ACTION_CONTINUE);
        uint64_t magic = MMIO_MAGIC;
        g_assert_cmpmem(f->run->mmio.data, len, &magic, len);
    }
    g_assert_null(why);

    f->run->mmio.len = 9;
    g_assert_cmpint(kvm_handle_exit(&f->m, f->run, RUN_SIZE, &why), ==,
                    KVM_ACTION_FATAL);
    g_assert_nonnull(strstr(why, "KVM_EXIT_MMIO"));
    g_free(why);
}

static void test_exit_fatal(ExitFixture *f, gconstpointer d G_GNUC_UNUSED)
{
    static const struct { uint32_t reason; const char *text; } cases[] = {
        { KVM_EXIT_SHUTDOWN, "triple fault" },
        { KVM_EXIT_INTERNAL_ERROR, "suberror 1" },
        { KVM_EXIT_FAIL_ENTRY, "hardware reason 0x21" },
        { KVM_EXIT_DEBUG, "unhandled KVM exit reason" },
        { 12345, "unhandled KVM exit reason 12345" },
    };

    for (unsigned i = 0; i < G_N_ELEMENTS(cases); i++) {
        char *why = NULL;
        memset(f->run, 0, sizeof(*f->run));
        f->run->exit_reason = cases[i].reason;
        if (cases[i].reason == KVM_EXIT_FAIL_ENTRY) {
            f->run->fail_entry.hardware_entry_failure_reason = 0x21;
        } else {
            f->run->internal.suberror = KVM_INTERNAL_ERROR_EMULATION;
            f->run->internal.ndata = 1000;   /* clamped to the array */
        }
        g_assert_cmpint(kvm_handle_exit(&f->m, f->run, RUN_SIZE, &why), ==,
                        KVM_ACTION_FATAL);
        g_assert_nonnull(why);
        if (!strstr(why, cases[i].text)) {
            g_error("exit %u: \"%s\" lacks \"%s\"", cases[i].reason, why,
                    cases[i].text);
        }
        g_free(why);
    }
}

static void test_exit_benign(ExitFixture *f, gconstpointer d G_GNUC_UNUSED)
{
    char *why = NULL;
    ShutdownCause cause;

    f->run->exit_reason = KVM_EXIT_HLT;
    g_assert_cmpint(kvm_handle_exit(&f->m, f->run, RUN_SIZE, &why), ==,
                    KVM_ACTION_CONTINUE);
    f->run->exit_reason = KVM_EXIT_SYSTEM_EVENT;
    f->run->system_event.type = KVM_SYSTEM_EVENT_RESET;
    g_assert_cmpint(kvm_handle_exit(&f->m, f->run, RUN_SIZE, &why), ==,
                    KVM_ACTION_RESET);
    g_assert_true(runstate_take_reset(&cause));
    g_assert_cmpint(cause, ==, SHUTDOWN_CAUSE_GUEST_RESET);
    g_assert_null(why);
}

/* ---- part 2: real guests ---- */

static bool kvm_usable(void)
{
    if (kvm_accel_ops.available()) {
        return true;
    }
    g_printerr("\n*** SKIP: /dev/kvm cannot be opened read-write; the KVM "
               "guest tests did not run ***\n");
    g_test_skip("/dev/kvm cannot be opened read-write");
    return false;
}

#define TEST_MAX_CPUS 2

typedef struct TestCpu {
    Vcpu cpu;
    GThread *thread;
    bool finished, started;
    VcpuExit result;
    struct TestVm *vm;
} TestCpu;

typedef struct TestVm {
    Machine m;
    TestCpu tc[TEST_MAX_CPUS];
    GMutex lock;
    GCond cond;
} TestVm;

static TestVm *vm_new_smp(unsigned ncpus)
{
    TestVm *vm = g_new0(TestVm, 1);
    GError *err = NULL;

    devs_reset();
    /* 2 MiB of RAM; the MMIO device sits above it at 3 MiB. */
    vm->m.cfg.ram_size = 2 << 20;
    vm->m.cfg.smp = ncpus;
    vm->m.ncpus = ncpus;
    vm->m.pio = iobus_new("pio");
    vm->m.mmio = iobus_new("mmio");
    vm->m.accel = &kvm_accel_ops;
    map_devs(&vm->m);
    g_assert_true(machine_ram_init(&vm->m, &err));
    g_assert_no_error(err);
    g_assert_true(kvm_accel_ops.init(&vm->m, &err));
    g_assert_no_error(err);
    g_assert_true(kvm_accel_ops.has_irqchip(&vm->m));
    for (unsigned i = 0; i < vm->m.nr_ram; i++) {
        g_assert_true(kvm_accel_ops.ram_map(&vm->m, &vm->m.ram[i], &err));
        g_assert_no_error(err);
    }
    for (unsigned i = 0; i < ncpus; i++) {
        Vcpu *cpu = &vm->tc[i].cpu;
        vm->tc[i].vm = vm;
        cpu->m = &vm->m;
        cpu->index = i;
        cpu->apic_id = i;
        vm->m.cpus[i] = cpu;
        g_assert_true(kvm_accel_ops.vcpu_init(cpu, &err));
        g_assert_no_error(err);
    }
    devs.stop_cpu = &vm->tc[0].cpu;
    return vm;
}

static void vm_free(TestVm *vm)
{
    devs.stop_cpu = NULL;
    kvm_accel_ops.cleanup(&vm->m);
    machine_ram_free(&vm->m);
    iobus_free(vm->m.pio);
    iobus_free(vm->m.mmio);
    g_free(vm);
}

static void vm_load(TestVm *vm, uint64_t gpa, const void *code, size_t len)
{
    void *p = machine_gpa_to_hva(&vm->m, gpa, len);
    g_assert_nonnull(p);
    memcpy(p, code, len);
}

static gpointer vm_thread(gpointer opaque)
{
    TestCpu *tc = opaque;
    TestVm *vm = tc->vm;

    kvm_accel_ops.vcpu_thread_init(&tc->cpu);
    g_mutex_lock(&vm->lock);
    tc->started = true;
    g_cond_broadcast(&vm->cond);
    g_mutex_unlock(&vm->lock);
    VcpuExit e = kvm_accel_ops.vcpu_run(&tc->cpu);
    g_mutex_lock(&vm->lock);
    tc->result = e;
    tc->finished = true;
    g_cond_broadcast(&vm->cond);
    g_mutex_unlock(&vm->lock);
    return NULL;
}

static void vm_start_cpu(TestVm *vm, unsigned i)
{
    TestCpu *tc = &vm->tc[i];

    tc->thread = g_thread_new("test-vcpu", vm_thread, tc);
    g_mutex_lock(&vm->lock);
    while (!tc->started) {
        g_cond_wait(&vm->cond, &vm->lock);
    }
    g_mutex_unlock(&vm->lock);
}

/* Wait for vCPU @i's vcpu_run to return; on timeout kick it out and fail. */
static VcpuExit vm_wait_cpu(TestVm *vm, unsigned i)
{
    TestCpu *tc = &vm->tc[i];
    gint64 deadline = g_get_monotonic_time() + GUEST_TIMEOUT_S * G_TIME_SPAN_SECOND;
    bool timed_out = false;

    g_mutex_lock(&vm->lock);
    while (!tc->finished && !timed_out) {
        timed_out = !g_cond_wait_until(&vm->cond, &vm->lock, deadline);
    }
    g_mutex_unlock(&vm->lock);
    if (timed_out && !tc->finished) {
        atomic_store(&tc->cpu.stop, true);
        kvm_accel_ops.vcpu_kick(&tc->cpu);
    }
    g_thread_join(tc->thread);
    g_assert_false(timed_out);
    return tc->result;
}

static TestVm *vm_new(void)
{
    return vm_new_smp(1);
}

#define vm_start(vm) vm_start_cpu((vm), 0)
#define vm_wait(vm) vm_wait_cpu((vm), 0)
#define VM_CPU(vm) (&(vm)->tc[0].cpu)

/* Wait until the guest has written @n bytes to the FIFO. */
static void wait_fifo(unsigned n)
{
    gint64 deadline = g_get_monotonic_time() + GUEST_TIMEOUT_S * G_TIME_SPAN_SECOND;

    g_mutex_lock(&devs.lock);
    while (devs.fifo->len < n) {
        if (!g_cond_wait_until(&devs.cond, &devs.lock, deadline)) {
            break;
        }
    }
    g_assert_cmpuint(devs.fifo->len, >=, n);
    g_mutex_unlock(&devs.lock);
}

/* Real-mode I/O of every size, string I/O both ways (tests/asm: real.s). */
static const uint8_t real_code[] = {
    0xb0, 0x42,                    /* mov $0x42, %al */
    0xe6, 0xe0,                    /* out %al, $0xe0 */
    0xb8, 0x34, 0x12,              /* mov $0x1234, %ax */
    0xe7, 0xe2,                    /* out %ax, $0xe2 */
    0x66, 0xb8, 0x78, 0x56, 0x34, 0x12,  /* mov $0x12345678, %eax */
    0x66, 0xe7, 0xe4,              /* out %eax, $0xe4 */
    0xe4, 0xe8,                    /* in $0xe8, %al */
    0xe6, 0xe9,                    /* out %al, $0xe9 */
    0xe5, 0xe8,                    /* in $0xe8, %ax */
    0xe7, 0xea,                    /* out %ax, $0xea */
    0xbe, 0x00, 0x11,              /* mov $0x1100, %si */
    0xb9, 0x05, 0x00,              /* mov $5, %cx */
    0xba, 0xf0, 0x00,              /* mov $0xf0, %dx */
    0xf3, 0x6e,                    /* rep outsb */
    0xbf, 0x00, 0x12,              /* mov $0x1200, %di */
    0xb9, 0x03, 0x00,              /* mov $3, %cx */
    0xba, 0xf2, 0x00,              /* mov $0xf2, %dx */
    0xf3, 0x6d,                    /* rep insw */
    0xba, 0xf4, 0x00,              /* mov $0xf4, %dx */
    0xee,                          /* out %al, %dx: done */
    0xf4, 0xeb, 0xfd,              /* 1: hlt; jmp 1b */
};

static void test_guest_real_mode(void)
{
    X86CpuState s;

    if (!kvm_usable()) {
        return;
    }
    TestVm *vm = vm_new();
    vm_load(vm, 0x1000, real_code, sizeof(real_code));
    vm_load(vm, 0x1100, "kemu!", 5);
    x86_cpu_real_state(&vm->m.boot_state, 0x1000);
    g_assert_true(kvm_accel_ops.set_state(VM_CPU(vm), &vm->m.boot_state));
    vm_start(vm);
    g_assert_cmpint(vm_wait(vm), ==, VCPU_EXIT_KICKED);

    static const LogEntry want[] = {
        { 0, 0x42, 1 }, { 2, 0x1234, 2 }, { 4, 0x12345678, 4 },
        { 9, 0x5a, 1 }, { 10, 0x5a5a, 2 },
    };
    g_assert_cmpuint(devs.log->len, ==, G_N_ELEMENTS(want));
    for (unsigned i = 0; i < G_N_ELEMENTS(want); i++) {
        LogEntry *e = &g_array_index(devs.log, LogEntry, i);
        g_assert_cmpuint(e->off, ==, want[i].off);
        g_assert_cmpuint(e->size, ==, want[i].size);
        g_assert_cmphex(e->val, ==, want[i].val);
    }
    g_assert_cmpmem(devs.fifo->data, devs.fifo->len, "kemu!", 5);
    static const uint8_t words[6] = { 0x00, 0x01, 0x01, 0x01, 0x02, 0x01 };
    g_assert_cmpmem(machine_gpa_to_hva(&vm->m, 0x1200, 6), 6, words, 6);
    g_assert_cmpuint(devs.done_writes, ==, 1);

    /* The OUT to the done port is complete: RIP is past it. */
    g_assert_true(kvm_accel_ops.get_state(VM_CPU(vm), &s));
    g_assert_cmphex(s.seg[SEG_CS].selector, ==, 0x100);
    g_assert_cmphex(s.rip, ==, sizeof(real_code) - 3);
    g_assert_cmphex(s.regs[R_ECX] & 0xffff, ==, 0);
    vm_free(vm);
}

/* Long mode: MMIO writes and reads of 8 and 4 bytes (tests/asm: lm.s). */
static const uint8_t lm_code[] = {
    0x48, 0xb8, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11,
                                   /* movabs $0x1122334455667788, %rax */
    0x48, 0x89, 0x04, 0x25, 0x00, 0x00, 0x30, 0x00,  /* mov %rax, 0x300000 */
    0x48, 0x8b, 0x1c, 0x25, 0x08, 0x00, 0x30, 0x00,  /* mov 0x300008, %rbx */
    0x48, 0x89, 0x1c, 0x25, 0x10, 0x00, 0x30, 0x00,  /* mov %rbx, 0x300010 */
    0xc7, 0x04, 0x25, 0x18, 0x00, 0x30, 0x00, 0xa5, 0x00, 0x00, 0x00,
                                   /* movl $0xa5, 0x300018 */
    0xba, 0xf4, 0x00, 0x00, 0x00,  /* mov $0xf4, %edx */
    0xee,                          /* out %al, %dx: done */
    0xf4, 0xeb, 0xfd,              /* 1: hlt; jmp 1b */
};

#define PT_BASE 0x10000u
#define LM_CODE 0x20000u

/* Identity-map the first 4 MiB with 2 MiB pages; 64-bit flat segments. */
static void long_mode_state(TestVm *vm, X86CpuState *s, uint64_t rip)
{
    uint64_t *pml4 = machine_gpa_to_hva(&vm->m, PT_BASE, 0x3000);

    memset(pml4, 0, 0x3000);
    pml4[0] = (PT_BASE + 0x1000) | 3;          /* present, writable */
    pml4[512] = (PT_BASE + 0x2000) | 3;        /* PDPT[0] -> PD */
    pml4[1024] = 0x000000 | 0x83;              /* PD[0]: 2 MiB page */
    pml4[1025] = 0x200000 | 0x83;              /* PD[1] */

    x86_cpu_reset_state(s, true);
    s->regs[R_EDX] = 0;
    s->cr0 = CR0_PE | CR0_ET | CR0_NE | CR0_WP | CR0_PG;
    s->cr3 = PT_BASE;
    s->cr4 = CR4_PAE;
    s->efer = EFER_LME | EFER_LMA;
    s->rip = rip;
    s->seg[SEG_CS] = (X86Segment){ .selector = 8, .limit = 0xffffffff,
        .type = 0xb, .s = 1, .present = 1, .l = 1, .g = 1 };
    X86Segment data = { .selector = 0x10, .limit = 0xffffffff, .type = 3,
        .s = 1, .present = 1, .db = 1, .g = 1 };
    s->seg[SEG_DS] = s->seg[SEG_ES] = s->seg[SEG_SS] = data;
    s->seg[SEG_FS] = s->seg[SEG_GS] = data;
    s->seg[SEG_TR] = (X86Segment){ .selector = 0x18, .limit = 0x67,
        .type = 0xb, .present = 1 };
}

static void test_guest_long_mode(void)
{
    X86CpuState s, got;

    if (!kvm_usable()) {
        return;
    }
    TestVm *vm = vm_new();
    vm_load(vm, LM_CODE, lm_code, sizeof(lm_code));
    long_mode_state(vm, &s, LM_CODE);
    g_assert_true(kvm_accel_ops.set_state(VM_CPU(vm), &s));
    vm_start(vm);
    g_assert_cmpint(vm_wait(vm), ==, VCPU_EXIT_KICKED);

    g_assert_cmphex(devs.mmio_regs[0], ==, 0x1122334455667788ull);
    g_assert_cmphex(devs.mmio_regs[2], ==, MMIO_MAGIC);
    g_assert_cmphex(devs.mmio_regs[3], ==, 0xa5);
    g_assert_cmpuint(devs.done_writes, ==, 1);
    g_assert_true(kvm_accel_ops.get_state(VM_CPU(vm), &got));
    g_assert_cmphex(got.regs[R_EBX], ==, MMIO_MAGIC);
    g_assert_cmphex(got.rip, ==, LM_CODE + sizeof(lm_code) - 3);
    g_assert_true(got.efer & EFER_LMA);
    g_assert_true(got.seg[SEG_CS].l);
    vm_free(vm);
}

static bool host_has_ioeventfd(void)
{
    int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    bool has = fd >= 0 && ioctl(fd, KVM_CHECK_EXTENSION, KVM_CAP_IOEVENTFD) > 0;

    if (fd >= 0) {
        close(fd);
    }
    return has;
}

/*
 * The accelerator's ioeventfd hook: the long-mode guest's 4-byte store to
 * MMIO register 3 signals the eventfd instead of reaching the device; the
 * registration is refused twice and removed cleanly.
 */
static void test_ioeventfd(void)
{
    g_autoptr(GError) err = NULL;
    uint64_t count = 0;
    X86CpuState s;
    int efd;

    if (!kvm_usable()) {
        return;
    }
    if (!host_has_ioeventfd()) {
        g_printerr("\n*** SKIP: KVM has no KVM_CAP_IOEVENTFD; the ioeventfd test "
                   "did not run ***\n");
        g_test_skip("KVM_CAP_IOEVENTFD missing");
        return;
    }
    TestVm *vm = vm_new();
    efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    g_assert_cmpint(efd, >=, 0);
    g_assert_true(kvm_accel_ops.ioeventfd(&vm->m, MMIO_BASE + 0x18, 4, true, efd, true,
                                          &err));
    g_assert_no_error(err);
    /* The same address twice is refused with an error, not a crash. */
    g_assert_false(kvm_accel_ops.ioeventfd(&vm->m, MMIO_BASE + 0x18, 4, true, efd, true,
                                           &err));
    g_assert_nonnull(err);
    g_clear_error(&err);
    g_assert_false(kvm_accel_ops.ioeventfd(&vm->m, 0x500, 3, false, efd, true, &err));
    g_clear_error(&err);

    vm_load(vm, LM_CODE, lm_code, sizeof(lm_code));
    long_mode_state(vm, &s, LM_CODE);
    g_assert_true(kvm_accel_ops.set_state(VM_CPU(vm), &s));
    vm_start(vm);
    g_assert_cmpint(vm_wait(vm), ==, VCPU_EXIT_KICKED);
    g_assert_cmphex(devs.mmio_regs[0], ==, 0x1122334455667788ull);
    g_assert_cmphex(devs.mmio_regs[3], ==, 0);
    g_assert_cmpint(read(efd, &count, sizeof(count)), ==, sizeof(count));
    g_assert_cmpuint(count, ==, 1);

    g_assert_true(kvm_accel_ops.ioeventfd(&vm->m, MMIO_BASE + 0x18, 4, true, efd, false,
                                          &err));
    g_assert_no_error(err);
    /* Gone: deassigning again fails. */
    g_assert_false(kvm_accel_ops.ioeventfd(&vm->m, MMIO_BASE + 0x18, 4, true, efd, false,
                                           &err));
    g_clear_error(&err);
    /* Port I/O registrations work the same way. */
    g_assert_true(kvm_accel_ops.ioeventfd(&vm->m, 0x500, 2, false, efd, true, &err));
    g_assert_true(kvm_accel_ops.ioeventfd(&vm->m, 0x500, 2, false, efd, false, &err));
    g_assert_no_error(err);
    close(efd);
    vm_free(vm);
}

/* set_state then get_state gives back what was set. */
static void test_state_roundtrip(void)
{
    X86CpuState s, got;

    if (!kvm_usable()) {
        return;
    }
    TestVm *vm = vm_new();
    x86_cpu_flat32_state(&s, 0x100000);
    for (int i = 0; i < 16; i++) {
        s.regs[i] = 0x1111111111111111ull * (i + 1) >> 4;
    }
    s.dr[0] = 0x1234;
    g_assert_true(kvm_accel_ops.set_state(VM_CPU(vm), &s));
    g_assert_true(kvm_accel_ops.get_state(VM_CPU(vm), &got));
    g_assert_cmpmem(got.regs, sizeof(got.regs), s.regs, sizeof(s.regs));
    g_assert_cmphex(got.rip, ==, 0x100000);
    g_assert_cmphex(got.cr0 & (CR0_PE | CR0_PG), ==, CR0_PE);
    g_assert_cmphex(got.seg[SEG_CS].base, ==, 0);
    g_assert_cmphex(got.seg[SEG_CS].limit, ==, 0xffffffff);
    g_assert_cmpuint(got.seg[SEG_CS].db, ==, 1);
    g_assert_cmpuint(got.seg[SEG_DS].selector, ==, 0x10);
    g_assert_cmphex(got.rflags & RFLAGS_IF, ==, 0);
    g_assert_cmphex(got.apic_base, ==, s.apic_base);
    g_assert_cmphex(got.dr[0], ==, 0x1234);
    g_assert_cmphex(got.dr[7], ==, 0x400);

    /* vcpu_reset puts the BSP back to m->boot_state. */
    x86_cpu_real_state(&vm->m.boot_state, 0x7c00);
    g_assert_true(kvm_accel_ops.vcpu_reset(VM_CPU(vm), NULL));
    g_assert_true(kvm_accel_ops.get_state(VM_CPU(vm), &got));
    g_assert_cmphex(got.seg[SEG_CS].selector, ==, 0x7c0);
    g_assert_cmphex(got.rip, ==, 0);
    g_assert_cmphex(got.cr0 & CR0_PE, ==, 0);
    vm_free(vm);
}

/* A kick gets the vCPU out of a busy loop or a halt, and is never lost. */
static void run_kick(const uint8_t *code, size_t len, bool wait_guest)
{
    TestVm *vm = vm_new();

    vm_load(vm, 0x1000, code, len);
    x86_cpu_real_state(&vm->m.boot_state, 0x1000);
    g_assert_true(kvm_accel_ops.set_state(VM_CPU(vm), &vm->m.boot_state));
    vm_start(vm);
    if (wait_guest) {
        wait_fifo(1);
    }
    atomic_store(&VM_CPU(vm)->stop, true);
    kvm_accel_ops.vcpu_kick(VM_CPU(vm));
    g_assert_cmpint(vm_wait(vm), ==, VCPU_EXIT_KICKED);

    /* The next run, with stop still set, returns at once. */
    g_assert_cmpint(kvm_accel_ops.vcpu_run(VM_CPU(vm)), ==, VCPU_EXIT_KICKED);
    vm_free(vm);
}

static const uint8_t spin_code[] = {
    0xba, 0xf0, 0x00, 0xee,        /* mov $0xf0, %dx; out %al, %dx */
    0xeb, 0xfe,                    /* 1: jmp 1b */
};

static const uint8_t halt_code[] = {
    0xba, 0xf0, 0x00, 0xee,        /* mov $0xf0, %dx; out %al, %dx */
    0xfa, 0xf4, 0xeb, 0xfd,        /* cli; 1: hlt; jmp 1b */
};

static void test_kick_spin(void)
{
    if (kvm_usable()) {
        run_kick(spin_code, sizeof(spin_code), true);
    }
}

static void test_kick_halt(void)
{
    if (kvm_usable()) {
        run_kick(halt_code, sizeof(halt_code), true);
    }
}

static void test_kick_early(void)
{
    /* Kick right after start: the stop check or immediate_exit catches it. */
    if (kvm_usable()) {
        for (int i = 0; i < 20; i++) {
            run_kick(spin_code, sizeof(spin_code), false);
        }
    }
}

/* BSP (flat 32-bit): INIT and SIPI (vector 8) to all others, then 'B'. */
static const uint8_t bsp_code[] = {
    0xbb, 0x00, 0x03, 0xe0, 0xfe,              /* mov $0xfee00300, %ebx */
    0xc7, 0x03, 0x00, 0x45, 0x0c, 0x00,        /* movl $0xc4500, (%ebx): INIT */
    0xc7, 0x03, 0x08, 0x46, 0x0c, 0x00,        /* movl $0xc4608, (%ebx): SIPI */
    0x66, 0xba, 0xf0, 0x00,                    /* mov $0xf0, %dx */
    0xb0, 0x42, 0xee,                          /* mov $'B', %al; out %al, %dx */
    0xf4, 0xeb, 0xfd,                          /* 1: hlt; jmp 1b */
};

/* AP, started by SIPI at 0x8000 in real mode: 'A'. */
static const uint8_t ap_code[] = {
    0xba, 0xf0, 0x00, 0xb0, 0x41, 0xee,        /* mov $0xf0,%dx; mov $'A',%al; out */
    0xfa, 0xf4, 0xeb, 0xfd,                    /* cli; 1: hlt; jmp 1b */
};

/* The AP waits in the kernel until the BSP's INIT/SIPI, then runs. */
static void test_guest_smp_startup(void)
{
    X86CpuState s;

    if (!kvm_usable()) {
        return;
    }
    TestVm *vm = vm_new_smp(2);
    vm_load(vm, 0x1000, bsp_code, sizeof(bsp_code));
    vm_load(vm, 0x8000, ap_code, sizeof(ap_code));
    x86_cpu_flat32_state(&vm->m.boot_state, 0x1000);
    /* Twice: the second boot checks that vcpu_reset re-arms the AP. */
    for (int boot = 0; boot < 2; boot++) {
        devs_reset();
        devs.stop_cpu = &vm->tc[0].cpu;
        for (unsigned i = 0; i < 2; i++) {
            vm->tc[i].started = vm->tc[i].finished = false;
            atomic_store(&vm->tc[i].cpu.stop, false);
            g_assert_true(kvm_accel_ops.vcpu_reset(&vm->tc[i].cpu, NULL));
        }
        vm_start_cpu(vm, 1);
        vm_start_cpu(vm, 0);
        wait_fifo(2);
        for (unsigned i = 0; i < 2; i++) {
            atomic_store(&vm->tc[i].cpu.stop, true);
            kvm_accel_ops.vcpu_kick(&vm->tc[i].cpu);
        }
        g_assert_cmpint(vm_wait_cpu(vm, 0), ==, VCPU_EXIT_KICKED);
        g_assert_cmpint(vm_wait_cpu(vm, 1), ==, VCPU_EXIT_KICKED);
        g_assert_cmpuint(devs.fifo->len, ==, 2);
        g_assert_true(memchr(devs.fifo->data, 'A', 2) &&
                      memchr(devs.fifo->data, 'B', 2));
        g_assert_true(kvm_accel_ops.get_state(&vm->tc[1].cpu, &s));
        g_assert_cmphex(s.seg[SEG_CS].selector, ==, 0x800);
        g_assert_cmphex(s.apic_base & 0x100, ==, 0);   /* not the BSP */
    }
    vm_free(vm);
}

/* ud2 with an empty IDT: #UD -> #GP -> #DF -> triple fault. */
static const uint8_t ud2_code[] = {
    0xba, 0xf0, 0x00, 0x00, 0x00, 0xee,   /* mov $0xf0, %edx; out %al, %dx */
    0x0f, 0x0b,                            /* ud2 */
};

static void test_triple_fault(void)
{
    if (!kvm_usable()) {
        return;
    }
    if (g_test_subprocess()) {
        X86CpuState s;
        TestVm *vm = vm_new();
        vm_load(vm, LM_CODE, ud2_code, sizeof(ud2_code));
        long_mode_state(vm, &s, LM_CODE);
        s.idt.limit = 0;
        g_assert_true(kvm_accel_ops.set_state(VM_CPU(vm), &s));
        vm_start(vm);
        g_assert_cmpint(vm_wait(vm), ==, VCPU_EXIT_FATAL);
        g_assert_true(runstate_shutdown_requested());
        g_assert_cmpint(runstate_exit_status(), ==, 1);
        vm_free(vm);
        return;
    }
    g_test_trap_subprocess(NULL, 60 * G_USEC_PER_SEC, 0);
    g_test_trap_assert_passed();
    g_test_trap_assert_stderr("*vCPU 0: *RIP=0000000000020006*CS =0008*EFER=*");
}

static void test_preferred(void)
{
    const char *why = NULL;
    bool hw = g_file_test("/sys/module/kvm_intel", G_FILE_TEST_EXISTS) ||
              g_file_test("/sys/module/kvm_amd", G_FILE_TEST_EXISTS);
    bool pref = kvm_accel_ops.preferred(&why);

    if (hw && kvm_accel_ops.available()) {
        g_assert_true(pref);
    } else {
        g_assert_false(pref);
        g_assert_nonnull(why);
        if (g_file_test("/sys/module/kvm_pvm", G_FILE_TEST_EXISTS) && !hw) {
            g_assert_nonnull(strstr(why, "kvm_pvm"));
        }
    }
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add("/kvm/exit/io-sizes", ExitFixture, NULL, exit_setup,
               test_exit_io_sizes, exit_teardown);
    g_test_add("/kvm/exit/io-string", ExitFixture, NULL, exit_setup,
               test_exit_io_string, exit_teardown);
    g_test_add("/kvm/exit/io-bad", ExitFixture, NULL, exit_setup,
               test_exit_io_bad, exit_teardown);
    g_test_add("/kvm/exit/mmio", ExitFixture, NULL, exit_setup,
               test_exit_mmio, exit_teardown);
    g_test_add("/kvm/exit/fatal", ExitFixture, NULL, exit_setup,
               test_exit_fatal, exit_teardown);
    g_test_add("/kvm/exit/benign", ExitFixture, NULL, exit_setup,
               test_exit_benign, exit_teardown);
    g_test_add_func("/kvm/preferred", test_preferred);
    g_test_add_func("/kvm/guest/state-roundtrip", test_state_roundtrip);
    g_test_add_func("/kvm/guest/real-mode", test_guest_real_mode);
    g_test_add_func("/kvm/guest/long-mode", test_guest_long_mode);
    g_test_add_func("/kvm/guest/ioeventfd", test_ioeventfd);
    g_test_add_func("/kvm/guest/kick-spin", test_kick_spin);
    g_test_add_func("/kvm/guest/kick-halt", test_kick_halt);
    g_test_add_func("/kvm/guest/kick-early", test_kick_early);
    g_test_add_func("/kvm/guest/smp-startup", test_guest_smp_startup);
    g_test_add_func("/kvm/guest/triple-fault", test_triple_fault);
    return g_test_run();
}
