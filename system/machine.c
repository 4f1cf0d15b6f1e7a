/* Guest RAM and the ROM list (include/system/machine.h). */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include "kemu/error.h"
#include "accel/accel.h"
#include "hw/intc/apic.h"
#include "system/machine.h"

/* Like QEMU's pc machine: RAM above this goes to 4 GiB and up. */
#define PC_BELOW_4G_LIMIT 0xc0000000ull
#define GIB4 0x100000000ull

static bool ram_block_add(Machine *m, uint64_t gpa, uint64_t size, GError **errp)
{
    void *host = mmap(NULL, size, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

    if (host == MAP_FAILED) {
        error_setg(errp, "cannot allocate %" G_GUINT64_FORMAT " MiB of guest RAM: %s",
                   size >> 20, g_strerror(errno));
        return false;
    }
    /* Guest RAM is large and short of locality: ask for huge pages. */
    madvise(host, size, MADV_HUGEPAGE);
    m->ram[m->nr_ram++] = (RamBlock){ .gpa = gpa, .size = size, .host = host };
    return true;
}

bool machine_ram_init(Machine *m, GError **errp)
{
    uint64_t size = m->cfg.ram_size;
    uint64_t below = MIN(size, PC_BELOW_4G_LIMIT);

    if (size == 0) {
        error_setg(errp, "RAM size must be greater than 0");
        return false;
    }
    if (!ram_block_add(m, 0, below, errp)) {
        return false;
    }
    if (size > below && !ram_block_add(m, GIB4, size - below, errp)) {
        machine_ram_free(m);
        return false;
    }
    return true;
}

void machine_ram_free(Machine *m)
{
    for (unsigned i = 0; i < m->nr_ram; i++) {
        munmap(m->ram[i].host, m->ram[i].size);
    }
    m->nr_ram = 0;
}

void *machine_gpa_to_hva(Machine *m, uint64_t gpa, uint64_t len)
{
    for (unsigned i = 0; i < m->nr_ram; i++) {
        RamBlock *rb = &m->ram[i];
        /* Written to avoid overflow for any guest-supplied gpa and len. */
        if (gpa >= rb->gpa && gpa - rb->gpa <= rb->size &&
            len <= rb->size - (gpa - rb->gpa)) {
            return rb->host + (gpa - rb->gpa);
        }
    }
    return NULL;
}

uint64_t machine_ram_below_4g(const Machine *m)
{
    return m->nr_ram && m->ram[0].gpa == 0 ? m->ram[0].size : 0;
}

bool machine_add_rom(Machine *m, uint64_t gpa, const void *data, size_t len,
                     GError **errp)
{
    void *host = machine_gpa_to_hva(m, gpa, len);
    RomBlob blob = { .gpa = gpa, .data = g_bytes_new(data, len) };

    if (!host) {
        error_setg(errp, "image range 0x%" G_GINT64_MODIFIER "x-0x%"
                   G_GINT64_MODIFIER "x is outside guest RAM", gpa, gpa + len);
        g_bytes_unref(blob.data);
        return false;
    }
    memcpy(host, data, len);
    if (!m->roms) {
        m->roms = g_array_new(FALSE, FALSE, sizeof(RomBlob));
    }
    g_array_append_val(m->roms, blob);
    return true;
}

void machine_roms_reload(Machine *m)
{
    for (guint i = 0; m->roms && i < m->roms->len; i++) {
        RomBlob *b = &g_array_index(m->roms, RomBlob, i);
        gsize len;
        const void *data = g_bytes_get_data(b->data, &len);
        memcpy(machine_gpa_to_hva(m, b->gpa, len), data, len);
    }
}

uint64_t machine_ram_resident(const Machine *m)
{
    long page = sysconf(_SC_PAGESIZE);
    uint64_t bytes = 0;

    for (unsigned i = 0; i < m->nr_ram; i++) {
        const RamBlock *rb = &m->ram[i];
        size_t pages = (rb->size + page - 1) / page;
        g_autofree unsigned char *vec = g_malloc(pages);
        if (mincore(rb->host, rb->size, vec) == 0) {
            for (size_t p = 0; p < pages; p++) {
                bytes += (vec[p] & 1) ? (uint64_t)page : 0;
            }
        }
    }
    return bytes;
}

void machine_dma_written(Machine *m, uint64_t gpa, uint64_t len)
{
    if (m->accel && m->accel->dma_written && len) {
        m->accel->dma_written(m, gpa, len);
    }
}

bool machine_dma_read(Machine *m, uint64_t gpa, void *buf, size_t len)
{
    void *host = machine_gpa_to_hva(m, gpa, len);

    if (!host) {
        return false;
    }
    memcpy(buf, host, len);
    return true;
}

bool machine_dma_write(Machine *m, uint64_t gpa, const void *buf, size_t len)
{
    void *host = machine_gpa_to_hva(m, gpa, len);

    if (!host) {
        return false;
    }
    memcpy(host, buf, len);
    machine_dma_written(m, gpa, len);
    return true;
}

void machine_signal_msi(Machine *m, uint64_t addr, uint32_t data)
{
    if (m->accel && m->accel->signal_msi) {
        m->accel->signal_msi(m, addr, data);
    } else {
        apic_deliver_msi(m, addr, data);
    }
}
