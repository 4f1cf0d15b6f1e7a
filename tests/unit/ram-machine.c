/*
 * A RAM-only Machine for loader tests (ram-machine.h).
 */
#include <glib.h>
#include "hw/device.h"
#include "ram-machine.h"

Machine *ram_machine_new(uint64_t ram_size, unsigned ncpus)
{
    Machine *m = g_new0(Machine, 1);
    g_autoptr(GError) err = NULL;

    m->cfg.ram_size = ram_size;
    m->ncpus = ncpus;
    g_assert_true(machine_ram_init(m, &err));
    g_assert_no_error(err);
    return m;
}

void ram_machine_clear_roms(Machine *m)
{
    for (unsigned i = 0; i < ram_machine_nr_roms(m); i++) {
        g_bytes_unref(g_array_index(m->roms, RomBlob, i).data);
    }
    if (m->roms) {
        g_array_set_size(m->roms, 0);
    }
}

void ram_machine_free(Machine *m)
{
    ram_machine_clear_roms(m);
    if (m->roms) {
        g_array_free(m->roms, TRUE);
    }
    devices_free(m);
    machine_ram_free(m);
    g_free(m);
}

unsigned ram_machine_nr_roms(const Machine *m)
{
    return m->roms ? m->roms->len : 0;
}

uint8_t *guest_ram(Machine *m, uint64_t gpa, uint64_t len)
{
    uint8_t *p = machine_gpa_to_hva(m, gpa, len);

    g_assert_nonnull(p);
    return p;
}
