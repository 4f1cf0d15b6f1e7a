/*
 * virtio-blk (virtio device type 2), virtio 1.x spec section 5.2, over a
 * BlockBackend (include/block/block.h).
 *
 *   -device virtio-blk-pci,drive=ID[,num-queues=N][,serial=S][,id=][,addr=SLOT]
 *   -drive file=F,format=raw,if=virtio      (creates one automatically)
 *
 * Requests: IN, OUT, FLUSH, GET_ID (serial, up to 20 bytes), DISCARD and
 * WRITE_ZEROES (one segment each). Data moves on the block layer's worker
 * threads; requests complete on the main loop. A read-only drive offers
 * VIRTIO_BLK_F_RO and fails writes with IOERR. Sectors are 512 bytes; a
 * request beyond the capacity or with a short header fails with IOERR; a
 * request without a status byte marks the device NEEDS_RESET.
 */
#ifndef HW_BLOCK_VIRTIO_BLK_H
#define HW_BLOCK_VIRTIO_BLK_H

#include "block/block.h"
#include "hw/device.h"

#define VIRTIO_ID_BLOCK 2

/* Feature bits */
#define VIRTIO_BLK_F_SIZE_MAX 1
#define VIRTIO_BLK_F_SEG_MAX 2
#define VIRTIO_BLK_F_RO 5
#define VIRTIO_BLK_F_BLK_SIZE 6
#define VIRTIO_BLK_F_FLUSH 9
#define VIRTIO_BLK_F_MQ 12
#define VIRTIO_BLK_F_DISCARD 13
#define VIRTIO_BLK_F_WRITE_ZEROES 14

/* Request types and status values */
#define VIRTIO_BLK_T_IN 0
#define VIRTIO_BLK_T_OUT 1
#define VIRTIO_BLK_T_FLUSH 4
#define VIRTIO_BLK_T_GET_ID 8
#define VIRTIO_BLK_T_DISCARD 11
#define VIRTIO_BLK_T_WRITE_ZEROES 13
#define VIRTIO_BLK_S_OK 0
#define VIRTIO_BLK_S_IOERR 1
#define VIRTIO_BLK_S_UNSUPP 2

#define VIRTIO_BLK_ID_BYTES 20
#define VIRTIO_BLK_CONFIG_SIZE 60   /* through write_zeroes_may_unmap + padding */
#define VIRTIO_BLK_MAX_QUEUES 16

typedef struct VirtioBlkCfg {
    BlockBackend *blk;
    unsigned num_queues;        /* 1..VIRTIO_BLK_MAX_QUEUES */
    const char *serial;         /* GET_ID answer, or NULL (empty) */
    const char *id;             /* device id, or NULL */
} VirtioBlkCfg;

/*
 * Create a virtio-blk-pci on @m for cfg->blk (which it attaches), at
 * addr= from @o. False with @errp set if the drive is
 * already in use, an option is out of range or the bus refuses it.
 */
bool virtio_blk_create(Machine *m, const VirtioBlkCfg *cfg, Opts *o, GError **errp);

/* One virtio-blk-pci for each if=virtio drive not yet used by a device. */
bool virtio_blk_create_for_drives(Machine *m, GError **errp);

extern const DeviceType virtio_blk_pci_type;

#endif
