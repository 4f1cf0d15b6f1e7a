/*
 * Interrupt lines. A line connects a device output to a handler (an
 * interrupt controller input, or the accelerator's in-kernel irqchip).
 * Levels are 0 or 1; the handler is called on every irq_set(), also when
 * the level does not change, so edge-triggered sinks can use irq_pulse().
 * Called with the BQL held.
 */
#ifndef HW_IRQ_H
#define HW_IRQ_H

typedef void (*IrqHandler)(void *opaque, int n, int level);

typedef struct IrqLine {
    IrqHandler handler;
    void *opaque;
    int n;
} IrqLine;

IrqLine *irq_new(IrqHandler handler, void *opaque, int n);
void irq_free(IrqLine *l);

/* A NULL line is allowed and ignores every call (an unconnected output). */
void irq_set(IrqLine *l, int level);
static inline void irq_raise(IrqLine *l) { irq_set(l, 1); }
static inline void irq_lower(IrqLine *l) { irq_set(l, 0); }
void irq_pulse(IrqLine *l);          /* raise then lower */

#endif
