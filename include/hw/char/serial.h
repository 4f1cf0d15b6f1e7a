/*
 * 16550A UART on the ISA bus (COM1..COM4).
 *
 * Transmission is instantaneous: a byte written to THR goes straight to
 * the chardev, so THR and the transmitter are always empty again when the
 * guest looks. Input comes from the chardev into a 16-byte receive FIFO
 * (one byte when FIFOs are off); the UART holds input back while the FIFO
 * is full. As on a PC, the interrupt reaches the GSI only while MCR.OUT2
 * is set (and not in loopback mode, where OUT2 is forced inactive).
 */
#ifndef HW_CHAR_SERIAL_H
#define HW_CHAR_SERIAL_H

#include <stdbool.h>
#include <stdint.h>
#include <glib.h>
#include "chardev/chardev.h"
#include "hw/device.h"
#include "system/machine.h"

#define SERIAL_MAX_LEGACY 4   /* COM1..COM4 have standard ports and IRQs */

/* The standard I/O base and GSI of COM@index+1 (@index < SERIAL_MAX_LEGACY). */
uint16_t serial_legacy_iobase(unsigned index);
unsigned serial_legacy_gsi(unsigned index);

/*
 * Create UART number @index (its name in logs: "serialN") at port
 * @iobase (8 ports) raising m->gsi[@gsi], talking to @chr (NULL: output
 * is discarded and there is no input). Returns false with @errp set if
 * @gsi is out of range, the ports are taken or @chr already has a front
 * end.
 */
bool serial_create(Machine *m, unsigned index, uint16_t iobase, unsigned gsi,
                   Chardev *chr, GError **errp);

/*
 * -device isa-serial[,chardev=ID][,index=N][,iobase=P][,irq=G][,id=X]:
 * index defaults to the number of UARTs already present; iobase and irq
 * default to the standard ones of that index.
 */
extern const DeviceType isa_serial_type;

#endif
