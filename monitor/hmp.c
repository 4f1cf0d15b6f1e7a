/*
 * HMP: the "(qemu) " prompt, its line editing and commands. Commands
 * write into a GString so human-monitor-command can return the text.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "accel/accel.h"
#include "block/block.h"
#include "hw/acpi/pm.h"
#include "hw/device.h"
#include "hw/pci/pci.h"
#include "monitor-int.h"
#include "system/cpus.h"
#include "system/runstate.h"
#include "target/x86/debug-walk.h"

/* QEMU's prompt: scripts that drive QEMU's monitor wait for it. */
#define HMP_PROMPT "(qemu) "
#define HMP_MAX_LINE 1024
#define HMP_MAX_DUMP 4096     /* items one x/xp prints at most */

static const char hmp_help[] =
    "cont                  resume the guest\n"
    "help                  this text\n"
    "info block            drives\n"
    "info chardev          character devices\n"
    "info cpus             vCPUs and their host threads\n"
    "info mtree            I/O port and MMIO ranges\n"
    "info pci              PCI devices\n"
    "info qtree            devices\n"
    "info registers        vCPU registers\n"
    "info status           run state\n"
    "info version          kemu's version\n"
    "quit                  exit kemu\n"
    "stop                  pause the guest\n"
    "system_powerdown      press the ACPI power button\n"
    "system_reset          reset the machine\n"
    "x /fmt ADDR           dump guest-virtual memory (CPU 0's paging)\n"
    "xp /fmt ADDR          dump guest-physical memory; fmt is N[x|d|u|c][b|h|w|g]\n";

static void info_registers(Machine *m, GString *out)
{
    bool running = runstate_get() == RUN_STATE_RUNNING;

    if (!m || m->ncpus == 0 || !m->accel || !m->accel->get_state) {
        g_string_append(out, "no CPUs\n");
        return;
    }
    /* The accelerators read state only from stopped vCPUs. */
    if (running) {
        cpus_pause(m);
    }
    for (unsigned i = 0; i < m->ncpus; i++) {
        X86CpuState s;
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        if (!f) {
            break;
        }
        fprintf(f, "CPU#%u\n", i);
        if (m->accel->get_state(m->cpus[i], &s)) {
            x86_cpu_dump(&s, f);
        } else {
            fprintf(f, "(state not available)\n");
        }
        fclose(f);
        g_string_append_len(out, buf, len);
        free(buf);
    }
    if (running) {
        cpus_resume(m);
    }
}

/* The device that owns a bus range, if its opaque is the device itself. */
static const char *owner_name(Machine *m, void *opaque)
{
    for (Device *d = m->devices; d; d = d->next) {
        if ((void *)d == opaque) {
            return d->id ? d->id : d->cls->name;
        }
    }
    return "?";
}

typedef struct MtreeCtx {
    Machine *m;
    GString *out;
} MtreeCtx;

static void mtree_range(void *ctx, uint64_t base, uint64_t len,
                        const IoOps *ops G_GNUC_UNUSED, void *opaque)
{
    MtreeCtx *c = ctx;

    g_string_append_printf(c->out, "  %016" G_GINT64_MODIFIER "x-%016" G_GINT64_MODIFIER
                           "x: %s\n", base, base + len - 1, owner_name(c->m, opaque));
}

static void info_mtree(Machine *m, GString *out)
{
    MtreeCtx c = { m, out };

    g_string_append(out, "address-space: memory\n");
    for (unsigned i = 0; i < m->nr_ram; i++) {
        g_string_append_printf(out, "  %016" G_GINT64_MODIFIER "x-%016" G_GINT64_MODIFIER
                               "x: ram\n", m->ram[i].gpa, m->ram[i].gpa + m->ram[i].size - 1);
    }
    if (m->mmio) {
        iobus_foreach(m->mmio, mtree_range, &c);
    }
    g_string_append(out, "address-space: I/O\n");
    if (m->pio) {
        iobus_foreach(m->pio, mtree_range, &c);
    }
}

static void pci_line(void *ctx, PciDevice *d)
{
    GString *out = ctx;
    uint16_t vendor = d->config[0] | d->config[1] << 8;
    uint16_t device = d->config[2] | d->config[3] << 8;
    uint32_t cls = d->config[9] | d->config[10] << 8 | d->config[11] << 16;

    g_string_append_printf(out, "  Bus  0, device %3u, function %u:\n"
                           "    class %06x: PCI device %04x:%04x (%s)\n",
                           d->devfn >> 3, d->devfn & 7, cls, vendor, device, d->dev.cls->name);
    for (int i = 0; i < PCI_NUM_BARS; i++) {
        if (d->bars[i].size && d->bars[i].mapped != PCI_BAR_UNMAPPED) {
            g_string_append_printf(out, "      BAR%d: at 0x%" G_GINT64_MODIFIER "x size 0x%"
                                   G_GINT64_MODIFIER "x\n", i, d->bars[i].mapped, d->bars[i].size);
        }
    }
}

static void info_qtree(Machine *m, GString *out)
{
    for (Device *d = m->devices; d; d = d->next) {
        g_string_append_printf(out, "  dev: %s, id \"%s\"\n", d->cls->name, d->id ? d->id : "");
    }
}

static void chardev_line(void *ctx, const char *label, const char *filename)
{
    g_string_append_printf(ctx, "%s: filename=%s\n", label, filename ? filename : "");
}

/* QEMU's layout: "ID: FILE (raw[, read-only])" and the cache mode. */
static void block_line(BlockBackend *blk, void *ctx)
{
    BlockCacheMode cache = blk_cache_mode(blk);

    g_string_append_printf(ctx, "%s: %s (raw%s)\n    Cache mode:       %s%s%s\n",
                           blk_name(blk), blk_filename(blk),
                           blk_is_read_only(blk) ? ", read-only" : "",
                           cache == BLK_CACHE_WRITETHROUGH ? "writethrough" : "writeback",
                           cache == BLK_CACHE_NONE ? ", direct" : "",
                           cache == BLK_CACHE_UNSAFE ? ", ignore flushes" : "");
}

static void do_info(Machine *m, const char *what, GString *out)
{
    if (!what || !*what) {
        g_string_append(out, "info block|chardev|cpus|mtree|pci|qtree|registers|status|"
                        "version\n");
    } else if (!strcmp(what, "block")) {
        blk_foreach(block_line, out);
    } else if (!strcmp(what, "status")) {
        g_string_append_printf(out, "VM status: %s\n", runstate_name(runstate_get()));
    } else if (!strcmp(what, "version")) {
        g_string_append(out, "0.1.0 (kemu-0.1.0)\n");
    } else if (!strcmp(what, "chardev")) {
        monitor_foreach_chardev(chardev_line, out);
    } else if (!m) {
        g_string_append(out, "no machine\n");
    } else if (!strcmp(what, "registers")) {
        info_registers(m, out);
    } else if (!strcmp(what, "cpus")) {
        for (unsigned i = 0; i < m->ncpus; i++) {
            g_string_append_printf(out, "%c CPU #%u: thread_id=%" G_GINT64_FORMAT "\n",
                                   i == 0 ? '*' : ' ', i, monitor_vcpu_thread_id(i));
        }
    } else if (!strcmp(what, "mtree")) {
        info_mtree(m, out);
    } else if (!strcmp(what, "pci")) {
        pci_foreach(m, pci_line, out);
    } else if (!strcmp(what, "qtree")) {
        info_qtree(m, out);
    } else {
        g_string_append_printf(out, "info: unknown item '%s' (try: info)\n", what);
    }
}

/* The address space x/xp read: guest-physical, or virtual through a vCPU's paging. */
typedef struct DumpSpace {
    Machine *m;
    bool virt;
    X86CpuState s;           /* virt: the vCPU's registers */
    bool cached;             /* virt: vpage -> ppage holds the last walk */
    uint64_t vpage, ppage;
} DumpSpace;

/* Snapshot CPU 0's registers (pausing the vCPUs briefly if running). */
static bool dump_space_virt(DumpSpace *d, Machine *m)
{
    bool running = runstate_get() == RUN_STATE_RUNNING;
    bool ok;

    if (m->ncpus == 0 || !m->accel || !m->accel->get_state) {
        return false;
    }
    /* The accelerators read state only from stopped vCPUs. */
    if (running) {
        cpus_pause(m);
    }
    ok = m->accel->get_state(m->cpus[0], &d->s);
    if (running) {
        cpus_resume(m);
    }
    d->virt = ok;
    return ok;
}

/* Read @size bytes at @addr (little-endian) into *@v; false if unmapped. */
static bool dump_read(DumpSpace *d, uint64_t addr, unsigned size, uint64_t *v)
{
    *v = 0;
    for (unsigned b = 0; b < size; b++) {
        uint64_t a = addr + b, pa = a;
        const uint8_t *h;
        if (d->virt) {
            /* One walk per page: an item may straddle two. */
            if (!d->cached || d->vpage != (a & ~0xfffull)) {
                if (!x86_debug_translate(d->m, &d->s, a & ~0xfffull, &d->ppage)) {
                    d->cached = false;
                    return false;
                }
                d->vpage = a & ~0xfffull;
                d->cached = true;
            }
            pa = d->ppage | (a & 0xfff);
        }
        h = machine_gpa_to_hva(d->m, pa, 1);
        if (!h) {
            return false;
        }
        *v |= (uint64_t)*h << (8 * b);
    }
    return true;
}

/*
 * x (@virt) and xp: "/N[x|d|u|c][b|h|w|g]" (defaults /1xw) then ADDR.
 * x translates through CPU 0's page tables, xp reads physical memory.
 */
static void do_dump(Machine *m, bool virt, const char *fmtarg, const char *addrarg,
                    GString *out)
{
    DumpSpace d = { .m = m };
    unsigned long count = 1;
    char fmt = 'x';
    unsigned size = 4;
    const char *p;
    char *end;
    uint64_t addr;

    if (fmtarg && fmtarg[0] == '/') {
        p = fmtarg + 1;
        if (g_ascii_isdigit(*p)) {
            count = strtoul(p, &end, 10);
            p = end;
        }
        for (; *p; p++) {
            switch (*p) {
            case 'x': case 'd': case 'u': case 'c': fmt = *p; break;
            case 'b': size = 1; break;
            case 'h': size = 2; break;
            case 'w': size = 4; break;
            case 'g': size = 8; break;
            default:
                g_string_append_printf(out, "invalid format '%c'\n", *p);
                return;
            }
        }
        if (fmt == 'c') {
            size = 1;
        }
    } else {
        addrarg = fmtarg;
    }
    if (!addrarg || !*addrarg) {
        g_string_append_printf(out, "usage: %s /fmt ADDR\n", virt ? "x" : "xp");
        return;
    }
    addr = g_ascii_strtoull(addrarg, &end, 0);
    if (*end) {
        g_string_append_printf(out, "invalid address '%s'\n", addrarg);
        return;
    }
    if (virt && !dump_space_virt(&d, m)) {
        g_string_append(out, "no CPU state to translate addresses with\n");
        return;
    }
    count = MIN(count, HMP_MAX_DUMP);
    unsigned per_line = fmt == 'c' ? 16 : (size == 8 ? 2 : size == 4 ? 4 : 8);
    for (unsigned long i = 0; i < count; i++) {
        uint64_t a = addr + i * size, v;
        if (i % per_line == 0) {
            g_string_append_printf(out, "%s%016" G_GINT64_MODIFIER "x:", i ? "\n" : "", a);
        }
        if (!dump_read(&d, a, size, &v)) {
            g_string_append_printf(out, "\nCannot access memory at 0x%" G_GINT64_MODIFIER "x\n", a);
            return;
        }
        switch (fmt) {
        case 'x':
            g_string_append_printf(out, " 0x%0*" G_GINT64_MODIFIER "x", (int)size * 2, v);
            break;
        case 'u':
            g_string_append_printf(out, " %" G_GINT64_MODIFIER "u", v);
            break;
        case 'd': {
            int shift = 64 - 8 * size;
            g_string_append_printf(out, " %" G_GINT64_MODIFIER "d",
                                   (gint64)(v << shift) >> shift);
            break;
        }
        case 'c':
            g_string_append_printf(out, g_ascii_isprint(v) ? " '%c'" : " '\\x%02x'", (int)v);
            break;
        }
    }
    g_string_append_c(out, '\n');
}

void hmp_execute(const char *line, GString *out)
{
    g_auto(GStrv) w = g_strsplit_set(line, " \t", -1);
    const char *a[4] = { 0 };
    unsigned n = 0;
    Machine *m = monitor_machine();

    for (unsigned i = 0; w[i] && n < G_N_ELEMENTS(a); i++) {
        if (*w[i]) {
            a[n++] = w[i];
        }
    }
    if (n == 0) {
        return;
    }
    if (!strcmp(a[0], "help") || !strcmp(a[0], "?")) {
        g_string_append(out, hmp_help);
    } else if (!strcmp(a[0], "info")) {
        do_info(m, a[1], out);
    } else if (!strcmp(a[0], "stop")) {
        runstate_request_pause();
    } else if (!strcmp(a[0], "cont") || !strcmp(a[0], "c")) {
        runstate_request_resume();
    } else if (!strcmp(a[0], "system_reset")) {
        runstate_request_reset(SHUTDOWN_CAUSE_HOST_QMP_SYSTEM_RESET);
    } else if (!strcmp(a[0], "system_powerdown")) {
        if (m && m->acpi_pm) {
            acpi_pm_power_button(m->acpi_pm);
            monitor_event_powerdown();
        } else {
            g_string_append(out, "this machine has no ACPI power button\n");
        }
    } else if (!strcmp(a[0], "quit") || !strcmp(a[0], "q")) {
        runstate_request_shutdown(SHUTDOWN_CAUSE_HOST_QMP_QUIT, 0);
    } else if ((!strcmp(a[0], "xp") || !strcmp(a[0], "x")) && m) {
        do_dump(m, a[0][1] == '\0', a[1], a[2], out);
    } else {
        g_string_append_printf(out, "unknown command: '%s' (try: help)\n", a[0]);
    }
}

/* Terminal output wants CR LF. */
static void hmp_print(Monitor *mon, const char *s)
{
    g_autoptr(GString) crlf = g_string_new(NULL);

    for (; *s; s++) {
        if (*s == '\n') {
            g_string_append_c(crlf, '\r');
        }
        g_string_append_c(crlf, *s);
    }
    chardev_write(mon->chr, (const uint8_t *)crlf->str, crlf->len);
}

static void hmp_banner(Monitor *mon)
{
    hmp_print(mon, "kemu 0.1.0 monitor - type 'help' for more information\n" HMP_PROMPT);
}

static int hmp_can_receive(void *opaque G_GNUC_UNUSED)
{
    return HMP_MAX_LINE;
}

static void hmp_receive(void *opaque, const uint8_t *buf, int len)
{
    Monitor *mon = opaque;

    for (int i = 0; i < len; i++) {
        uint8_t c = buf[i];
        if (c == '\r' || c == '\n') {
            g_autoptr(GString) out = g_string_new(NULL);
            g_autofree char *line = g_strdup(mon->line->str);
            hmp_print(mon, "\n");
            g_string_truncate(mon->line, 0);
            hmp_execute(line, out);
            hmp_print(mon, out->str);
            hmp_print(mon, HMP_PROMPT);
        } else if (c == 0x7f || c == 0x08) {
            if (mon->line->len) {
                g_string_truncate(mon->line, mon->line->len - 1);
                hmp_print(mon, "\b \b");
            }
        } else if (c >= 0x20 && c < 0x7f && mon->line->len < HMP_MAX_LINE) {
            char echo[2] = { (char)c, 0 };
            g_string_append_c(mon->line, c);
            hmp_print(mon, echo);
        }
    }
}

static void hmp_event(void *opaque, int event)
{
    Monitor *mon = opaque;

    switch (event) {
    case CHR_EVENT_OPENED:
        /* On a multiplexer the prompt waits until C-a c gives us the focus. */
        if (chardev_is_mux(mon->chr)) {
            break;
        }
        /* fall through */
    case CHR_EVENT_MUX_IN:
        mon->focused = true;
        g_string_truncate(mon->line, 0);
        hmp_banner(mon);
        break;
    case CHR_EVENT_MUX_OUT:
    case CHR_EVENT_CLOSED:
        mon->focused = false;
        break;
    }
}

static const ChardevFrontend hmp_frontend = {
    .can_receive = hmp_can_receive,
    .receive = hmp_receive,
    .event = hmp_event,
};

Monitor *monitor_new_hmp(Machine *m, Chardev *c, GError **errp)
{
    Monitor *mon = g_new0(Monitor, 1);

    mon->m = m;
    mon->chr = c;
    mon->line = g_string_new(NULL);
    monitor_register(mon);
    monitor_note_machine(m);
    if (!chardev_attach(c, &hmp_frontend, mon, errp)) {
        monitor_unregister(mon);
        g_string_free(mon->line, TRUE);
        g_free(mon);
        return NULL;
    }
    return mon;
}
