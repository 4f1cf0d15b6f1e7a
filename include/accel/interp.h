/*
 * The x86 interpreter accelerator (accel/interp), selected with
 * "-accel tcg" as QEMU users spell it. Pure software: no JIT, no KVM.
 */
#ifndef ACCEL_INTERP_H
#define ACCEL_INTERP_H

#include "accel/accel.h"

extern const AccelOps interp_accel_ops;

#endif
