/* The machine's device list and -device creation (include/hw/device.h). */
#include <string.h>
#include "hw/device.h"
#include "kemu/error.h"
#include "system/machine.h"

void device_add(Machine *m, Device *d, const DeviceClass *cls, const char *id)
{
    d->cls = cls;
    d->m = m;
    d->id = g_strdup(id);
    d->next = NULL;
    if (m->devices_tail) {
        m->devices_tail->next = d;
    } else {
        m->devices = d;
    }
    m->devices_tail = d;
}

void devices_reset(Machine *m)
{
    for (Device *d = m->devices; d; d = d->next) {
        if (d->cls->reset) {
            d->cls->reset(d);
        }
    }
}

void devices_free(Machine *m)
{
    Device *next;

    for (Device *d = m->devices; d; d = next) {
        next = d->next;
        if (d->cls->finalize) {
            d->cls->finalize(d);
        }
        g_free(d->id);
        g_free(d);
    }
    m->devices = m->devices_tail = NULL;
}

Device *device_find(Machine *m, const char *id)
{
    for (Device *d = m->devices; d; d = d->next) {
        if (d->id && !strcmp(d->id, id)) {
            return d;
        }
    }
    return NULL;
}

bool device_create_from_string(Machine *m, const char *str, GError **errp)
{
    g_autoptr(GError) err = NULL;
    Opts *o = opts_parse(str, "driver", &err);
    bool ok = false;

    if (!o) {
        error_setg(errp, "-device %s: %s", str, err->message);
        return false;
    }
    const char *driver = opts_get(o, "driver");
    const DeviceType *t = driver ? device_type_find(driver) : NULL;
    if (!driver || !*driver) {
        error_setg(errp, "-device %s: no device name given", str);
    } else if (!t) {
        error_setg(errp, "-device %s: unknown device '%s' (try -device help)", str, driver);
    } else {
        const char *id = opts_get(o, "id");
        if (id && device_find(m, id)) {
            error_setg(errp, "-device %s: duplicate id '%s'", str, id);
        } else if (!t->create(m, o, &err)) {
            error_setg(errp, "-device %s: %s", driver, err->message);
        } else if (!opts_check_all_used(o, driver, &err)) {
            error_setg(errp, "-device %s", err->message);
        } else {
            ok = true;
        }
    }
    opts_free(o);
    return ok;
}
