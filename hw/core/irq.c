/* Interrupt lines (include/hw/irq.h). */
#include <glib.h>
#include "hw/irq.h"

IrqLine *irq_new(IrqHandler handler, void *opaque, int n)
{
    IrqLine *l = g_new0(IrqLine, 1);

    l->handler = handler;
    l->opaque = opaque;
    l->n = n;
    return l;
}

void irq_free(IrqLine *l)
{
    g_free(l);
}

void irq_set(IrqLine *l, int level)
{
    if (l && l->handler) {
        l->handler(l->opaque, l->n, !!level);
    }
}

void irq_pulse(IrqLine *l)
{
    irq_set(l, 1);
    irq_set(l, 0);
}
