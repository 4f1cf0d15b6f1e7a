/*
 * Intel 82540EM Gigabit Ethernet (8086:100e), the NIC QEMU gives -nic by
 * default. Enough of it for Linux's e1000 driver: the register file in
 * BAR0 (128 KiB MMIO) and through the IOADDR/IODATA window of BAR1, a
 * Microwire EEPROM (bit-banged through EECD, or read through EERD) holding
 * the MAC, an M88E1011 PHY behind MDIC with the link up, interrupt causes
 * on INTx, legacy receive descriptors, and legacy, context and data
 * transmit descriptors with IP/TCP/UDP checksum insertion and TCP
 * segmentation (TSO), which Linux turns on for this model.
 *
 * Every descriptor address and ring index comes from the guest: DMA goes
 * only with bus mastering on and inside RAM (as pci_dma_read/write), and
 * indices are checked against the ring size before use.
 */
#include <string.h>
#include <zlib.h>
#include "hw/net/e1000-regs.h"
#include "hw/net/nic.h"
#include "hw/pci/pci.h"
#include "kemu/error.h"
#include "kemu/log.h"
#include "net/net.h"

#define E1000_MMIO_SIZE 0x20000
#define E1000_IO_SIZE 0x40
#define EEPROM_WORDS 64
#define PHY_REGS 32
#define TX_MAX (65536 + 16)          /* a TSO payload plus its header */

typedef struct E1000TxCtx {
    uint8_t ipcss, ipcso, tucss, tucso;
    uint16_t ipcse, tucse, mss;
} E1000TxCtx;

typedef struct E1000 {
    PciDevice pci;
    NetClient *nic;
    uint8_t macaddr[6];
    uint32_t regs[E1000_MMIO_SIZE / 4];
    uint16_t eeprom[EEPROM_WORDS];
    uint16_t phy[PHY_REGS];
    uint32_t ioaddr;                 /* BAR1 IOADDR */
    /* Microwire EEPROM serial state */
    struct {
        uint32_t in;                 /* bits shifted in since CS rose */
        unsigned nbits;
        unsigned out_pos;            /* data bits shifted out */
        uint16_t addr;
        bool reading;
        bool sk;
    } ee;
    /* Transmit in progress: the packet being gathered across descriptors. */
    E1000TxCtx ctx;
    uint8_t tx_popts;
    bool tx_tse;
    size_t tx_len;
    uint8_t tx_buf[TX_MAX];
    uint8_t rx_buf[NET_MAX_FRAME + 64];
} E1000;

#define R(s, reg) ((s)->regs[(reg) >> 2])

/*
 * pci_dma_read/write's rule (bus master enabled, RAM only), spelled out
 * here so that device tests with a fake PCI bus (tests/dev/
 * virtio-pci-fake.h, which lacks the DMA calls) still link while this
 * device sits in the -device table.
 */
static bool dma_allowed(E1000 *s)
{
    return s->pci.dev.m && (s->pci.config[4] & 4);   /* COMMAND.MASTER */
}

static bool dma_read(E1000 *s, uint64_t gpa, void *buf, size_t len)
{
    return dma_allowed(s) && machine_dma_read(s->pci.dev.m, gpa, buf, len);
}

static bool dma_write(E1000 *s, uint64_t gpa, const void *buf, size_t len)
{
    return dma_allowed(s) && machine_dma_write(s->pci.dev.m, gpa, buf, len);
}

static void e1000_update_irq(E1000 *s)
{
    pci_set_irq(&s->pci, (R(s, E1000_ICR) & R(s, E1000_IMS)) != 0);
}

static void e1000_raise(E1000 *s, uint32_t cause)
{
    R(s, E1000_ICR) |= cause;
    e1000_update_irq(s);
}

/* ---- EEPROM and PHY ---- */

static void e1000_eeprom_init(E1000 *s)
{
    uint16_t sum = 0;

    memset(s->eeprom, 0, sizeof(s->eeprom));
    for (int i = 0; i < 3; i++) {
        s->eeprom[i] = s->macaddr[2 * i] | s->macaddr[2 * i + 1] << 8;
    }
    s->eeprom[0x0a] = 0x6400;        /* init control 1: valid signature 01b */
    s->eeprom[0x0b] = 0x001e;        /* subsystem id */
    s->eeprom[0x0c] = 0x8086;        /* subsystem vendor */
    s->eeprom[0x0d] = 0x100e;        /* device id */
    s->eeprom[0x0e] = 0x8086;        /* vendor id */
    s->eeprom[0x0f] = 0x3040;        /* init control 2 */
    for (int i = 0; i < EEPROM_CHECKSUM_WORD; i++) {
        sum += s->eeprom[i];
    }
    s->eeprom[EEPROM_CHECKSUM_WORD] = EEPROM_SUM - sum;
}

static void e1000_phy_reset(E1000 *s)
{
    memset(s->phy, 0, sizeof(s->phy));
    s->phy[PHY_CTRL] = 0x1140;       /* autoneg enable, full duplex, 1000 */
    s->phy[PHY_STATUS] = 0x796d;     /* link up, autoneg complete */
    s->phy[PHY_ID1] = 0x0141;        /* Marvell M88E1011 */
    s->phy[PHY_ID2] = 0x0c20;
    s->phy[PHY_AUTONEG_ADV] = 0x0de1;
    s->phy[PHY_LP_ABILITY] = 0x45e1;
    s->phy[PHY_AUTONEG_EXP] = 0x000f;
    s->phy[PHY_1000T_CTRL] = 0x0e00;
    s->phy[PHY_1000T_STATUS] = 0x3c00;
    s->phy[PHY_EXT_STATUS] = 0x3000;
    s->phy[M88_PHY_SPEC_CTRL] = 0x0068;
    s->phy[M88_PHY_SPEC_STATUS] = 0xac00;   /* 1000 Mb/s, full, resolved, link */
}

static void e1000_mdic_write(E1000 *s, uint32_t val)
{
    unsigned reg = (val >> 16) & 0x1f, phy = (val >> 21) & 0x1f, op = (val >> 26) & 3;
    uint32_t result = val & ~(E1000_MDIC_READY | E1000_MDIC_ERROR);

    if (phy != 1 || (op != 1 && op != 2)) {
        result |= E1000_MDIC_ERROR;
    } else if (op == 2) {
        result = (result & ~0xffffu) | s->phy[reg];
    } else if (reg == PHY_CTRL) {
        /* Reset and restart-autonegotiation complete at once. */
        s->phy[PHY_CTRL] = val & 0xffff & ~(0x8000 | 0x0200);
        s->phy[PHY_STATUS] |= 0x0024;
    } else if (reg != PHY_STATUS && reg != PHY_ID1 && reg != PHY_ID2 &&
               reg != M88_PHY_SPEC_STATUS) {
        s->phy[reg] = val & 0xffff;
    }
    R(s, E1000_MDIC) = result | E1000_MDIC_READY;
    if (val & E1000_MDIC_INT_EN) {
        e1000_raise(s, E1000_ICR_MDAC);
    }
}

/*
 * Microwire: with CS high, each rising SK edge shifts one DI bit in: a
 * start bit, the 2-bit opcode (10 = READ) and 6 address bits. After that,
 * each rising edge shifts the next data bit out on DO, MSB first, moving
 * on to the next word after 16 bits.
 */
static void e1000_eecd_write(E1000 *s, uint32_t val)
{
    uint32_t old = R(s, E1000_EECD);
    bool cs = val & E1000_EECD_CS, sk = val & E1000_EECD_SK;

    R(s, E1000_EECD) = (val & (E1000_EECD_SK | E1000_EECD_CS | E1000_EECD_DI |
                               E1000_EECD_REQ)) | (old & E1000_EECD_DO);
    if (!cs) {
        memset(&s->ee, 0, sizeof(s->ee));
        R(s, E1000_EECD) &= ~E1000_EECD_DO;
        return;
    }
    if (sk && !s->ee.sk) {
        if (s->ee.reading) {
            unsigned bit = 15 - (s->ee.out_pos & 15);
            uint16_t word = s->eeprom[(s->ee.addr + s->ee.out_pos / 16) % EEPROM_WORDS];
            R(s, E1000_EECD) = (R(s, E1000_EECD) & ~E1000_EECD_DO) |
                               (((word >> bit) & 1) ? E1000_EECD_DO : 0);
            s->ee.out_pos++;
        } else if (s->ee.nbits < 9) {
            s->ee.in = s->ee.in << 1 | !!(val & E1000_EECD_DI);
            if (++s->ee.nbits == 9) {
                s->ee.reading = (s->ee.in >> 6) == 6;   /* start 1, opcode 10 */
                s->ee.addr = s->ee.in & 0x3f;
                R(s, E1000_EECD) &= ~E1000_EECD_DO;
            }
        }
    }
    s->ee.sk = sk;
}

static uint32_t e1000_eecd_read(E1000 *s)
{
    uint32_t v = R(s, E1000_EECD) | E1000_EECD_PRES;

    /* The EEPROM is the driver's whenever it asks (no firmware competes). */
    if (v & E1000_EECD_REQ) {
        v |= E1000_EECD_GNT;
    }
    return v;
}

static void e1000_eerd_write(E1000 *s, uint32_t val)
{
    unsigned addr = (val >> E1000_EERD_ADDR_SHIFT) & 0xff;

    if (!(val & E1000_EERD_START)) {
        R(s, E1000_EERD) = val;
        return;
    }
    R(s, E1000_EERD) = (val & 0xff00) | E1000_EERD_DONE |
                       (addr < EEPROM_WORDS ? (uint32_t)s->eeprom[addr] << 16 : 0);
}

/* ---- receive ---- */

static unsigned ring_size(E1000 *s, unsigned len_reg)
{
    return R(s, len_reg) / 16;
}

/* Descriptors the guest gave us (head..tail), or 0 if the ring is broken. */
static unsigned rx_available(E1000 *s)
{
    unsigned n = ring_size(s, E1000_RDLEN), h = R(s, E1000_RDH), t = R(s, E1000_RDT);

    if (n == 0 || h >= n || t >= n) {
        return 0;
    }
    return (t + n - h) % n;
}

static size_t rx_buf_size(E1000 *s)
{
    uint32_t rctl = R(s, E1000_RCTL);
    unsigned bsize = (rctl >> 16) & 3;

    if (rctl & E1000_RCTL_BSEX) {
        return bsize == 1 ? 16384 : bsize == 2 ? 8192 : bsize == 3 ? 4096 : 2048;
    }
    return bsize == 0 ? 2048 : bsize == 1 ? 1024 : bsize == 2 ? 512 : 256;
}

static bool e1000_can_receive(NetClient *nc)
{
    E1000 *s = nc->opaque;

    /* Room for a full-size frame, so no frame is cut short for lack of it. */
    return (R(s, E1000_RCTL) & E1000_RCTL_EN) &&
           rx_available(s) * rx_buf_size(s) >= 1522;
}

static bool rx_match(E1000 *s, const uint8_t *dst)
{
    uint32_t rctl = R(s, E1000_RCTL);
    static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

    if (!memcmp(dst, bcast, 6)) {
        return rctl & E1000_RCTL_BAM;
    }
    if (dst[0] & 1) {
        unsigned mo = (rctl >> 12) & 3, shift = 4 - mo;
        unsigned hash = ((dst[4] >> shift) | (dst[5] << (8 - shift))) & 0xfff;
        if (mo == 3) {
            hash = (dst[4] | dst[5] << 8) & 0xfff;
        }
        return (rctl & E1000_RCTL_MPE) ||
               (R(s, E1000_MTA + 4 * (hash >> 5)) >> (hash & 31) & 1);
    }
    if (rctl & E1000_RCTL_UPE) {
        return true;
    }
    for (int i = 0; i < 16; i++) {
        uint32_t lo = R(s, E1000_RA + 8 * i), hi = R(s, E1000_RA + 8 * i + 4);
        uint8_t a[6] = { lo, lo >> 8, lo >> 16, lo >> 24, hi, hi >> 8 };
        if ((hi & E1000_RAH_AV) && !memcmp(a, dst, 6)) {
            return true;
        }
    }
    return false;
}

static void stat_add(E1000 *s, unsigned reg, uint32_t n)
{
    if (R(s, reg) + n >= R(s, reg)) {
        R(s, reg) += n;
    }
}

static void e1000_receive(NetClient *nc, const uint8_t *frame, size_t len)
{
    E1000 *s = nc->opaque;
    unsigned n = ring_size(s, E1000_RDLEN);
    size_t bufsz = rx_buf_size(s), total, off = 0;
    uint64_t base = (uint64_t)R(s, E1000_RDBAH) << 32 | R(s, E1000_RDBAL);

    if (len < 14 || len > NET_MAX_FRAME || !rx_match(s, frame)) {
        return;
    }
    /* Pad runts to the Ethernet minimum; append the FCS unless stripped. */
    memcpy(s->rx_buf, frame, len);
    total = MAX(len, 60);
    memset(s->rx_buf + len, 0, total - len);
    if (!(R(s, E1000_RCTL) & E1000_RCTL_SECRC)) {
        uint32_t crc = crc32(0, s->rx_buf, total);
        memcpy(s->rx_buf + total, &crc, 4);
        total += 4;
    }
    if (!(R(s, E1000_RCTL) & E1000_RCTL_EN) || rx_available(s) * bufsz < total) {
        stat_add(s, E1000_MPC, 1);
        e1000_raise(s, E1000_ICR_RXO);
        return;
    }
    while (off < total) {
        unsigned h = R(s, E1000_RDH);
        uint64_t da = base + 16ull * h;
        uint8_t desc[16];
        size_t chunk = MIN(bufsz, total - off);
        uint64_t buf;

        if (!dma_read(s, da, desc, 16)) {
            log_guest_error("e1000: receive descriptor at 0x%" G_GINT64_MODIFIER "x "
                            "is outside RAM", da);
            e1000_raise(s, E1000_ICR_RXO);
            return;
        }
        memcpy(&buf, desc, 8);
        buf = GUINT64_FROM_LE(buf);
        if (buf && !dma_write(s, buf, s->rx_buf + off, chunk)) {
            log_guest_error("e1000: receive buffer outside RAM");
        }
        off += chunk;
        desc[8] = chunk;
        desc[9] = chunk >> 8;
        desc[10] = desc[11] = 0;
        desc[12] = E1000_RXD_DD | E1000_RXD_IXSM | (off == total ? E1000_RXD_EOP : 0);
        desc[13] = 0;
        dma_write(s, da, desc, 16);
        R(s, E1000_RDH) = (h + 1) % n;
    }
    stat_add(s, E1000_GPRC, 1);
    stat_add(s, E1000_TPR, 1);
    stat_add(s, E1000_GORCL, total);
    unsigned thresh = n >> (1 + ((R(s, E1000_RCTL) >> 8) & 3));
    e1000_raise(s, E1000_ICR_RXT0 | (rx_available(s) <= thresh ? E1000_ICR_RXDMT0 : 0));
}

/* ---- transmit ---- */

/* Store the checksum of [@css, @cse] (0: the end) at @cso, if all fit. */
static void put_csum(uint8_t *p, size_t len, unsigned css, unsigned cso, unsigned cse,
                     uint32_t seed)
{
    size_t end = cse ? MIN((size_t)cse + 1, len) : len;
    uint16_t c;

    if (css >= end || cso + 2 > len) {
        return;
    }
    c = net_checksum(p + css, end - css, seed);
    p[cso] = c >> 8;
    p[cso + 1] = c;
}

/* Count and send (or loop back) one finished frame. */
static void tx_out(E1000 *s, const uint8_t *p, size_t len)
{
    stat_add(s, E1000_GPTC, 1);
    stat_add(s, E1000_TPT, 1);
    stat_add(s, E1000_GOTCL, len);
    if (R(s, E1000_RCTL) & E1000_RCTL_LBM) {
        e1000_receive(s->nic, p, len);
    } else {
        net_send(s->nic, p, len);
    }
}

static void tx_out_seg(void *opaque, const uint8_t *p, size_t len)
{
    tx_out(opaque, p, len);
}

/* A frame without segmentation: the context's checksums, then out. */
static void tx_emit(E1000 *s, uint8_t *p, size_t len)
{
    /* Offsets are bytes, so within the buffer; put_csum checks the length. */
    if ((s->tx_popts & E1000_TXD_POPTS_IXSM) && s->ctx.ipcso + 2u <= len) {
        p[s->ctx.ipcso] = p[s->ctx.ipcso + 1] = 0;
        put_csum(p, len, s->ctx.ipcss, s->ctx.ipcso, s->ctx.ipcse, 0);
    }
    if (s->tx_popts & E1000_TXD_POPTS_TXSM) {
        put_csum(p, len, s->ctx.tucss, s->ctx.tucso, s->ctx.tucse, 0);
    }
    tx_out(s, p, len);
}

/*
 * TCP/UDP segmentation (TSE): net_segment finds the headers in the packet
 * itself and fills every length and checksum, so the context's offsets
 * and the driver's pseudo-header seed are not needed.
 */
static void tx_segment(E1000 *s)
{
    size_t hdr = 0, left;
    unsigned n = net_segment_count(s->tx_buf, s->tx_len, s->ctx.mss, &hdr);

    if (!n) {
        log_guest_error("e1000: cannot segment a %zu-byte packet (mss %u)", s->tx_len,
                        s->ctx.mss);
        return;
    }
    if (R(s, E1000_RCTL) & E1000_RCTL_LBM) {
        net_segment(s->tx_buf, s->tx_len, s->ctx.mss, tx_out_seg, s);
        return;
    }
    /* Handed on whole (the back end cuts it or has it cut): count the
     * segments as tx_out would have, one by one. */
    left = s->tx_len - hdr;
    for (unsigned i = 0; i < n; i++) {
        size_t seg = MIN(left, (size_t)s->ctx.mss);
        stat_add(s, E1000_GPTC, 1);
        stat_add(s, E1000_TPT, 1);
        stat_add(s, E1000_GOTCL, hdr + seg);
        left -= seg;
    }
    net_send_gso(s->nic, s->tx_buf, s->tx_len, &(NetGso){ .mss = s->ctx.mss, .hdr_len = hdr });
}

static void tx_packet_done(E1000 *s)
{
    if (s->tx_tse && s->ctx.mss) {
        tx_segment(s);
    } else if (s->tx_len) {
        tx_emit(s, s->tx_buf, s->tx_len);
    }
    s->tx_len = 0;
    s->tx_tse = false;
    s->tx_popts = 0;
}

static void tx_context(E1000 *s, const uint8_t *d)
{
    E1000TxCtx *c = &s->ctx;

    c->ipcss = d[0];
    c->ipcso = d[1];
    c->ipcse = d[2] | d[3] << 8;
    c->tucss = d[4];
    c->tucso = d[5];
    c->tucse = d[6] | d[7] << 8;
    c->mss = d[14] | d[15] << 8;
}

/* Append @len bytes at guest address @addr to the packet being built. */
static void tx_gather(E1000 *s, uint64_t addr, size_t len)
{
    if (s->tx_len + len > sizeof(s->tx_buf)) {
        log_guest_error("e1000: transmit packet longer than %zu bytes", sizeof(s->tx_buf));
        len = sizeof(s->tx_buf) - s->tx_len;
    }
    if (len && !dma_read(s, addr, s->tx_buf + s->tx_len, len)) {
        log_guest_error("e1000: transmit buffer outside RAM");
        return;
    }
    s->tx_len += len;
}

static void e1000_transmit(E1000 *s)
{
    unsigned n = ring_size(s, E1000_TDLEN);
    uint64_t base = (uint64_t)R(s, E1000_TDBAH) << 32 | R(s, E1000_TDBAL);
    bool raise = false;

    if (!(R(s, E1000_TCTL) & E1000_TCTL_EN) || n == 0) {
        return;
    }
    if (R(s, E1000_TDH) >= n || R(s, E1000_TDT) >= n) {
        log_guest_error("e1000: transmit head/tail beyond the ring");
        return;
    }
    /* At most one lap, whatever the guest does to the ring meanwhile. */
    for (unsigned budget = n; R(s, E1000_TDH) != R(s, E1000_TDT) && budget; budget--) {
        unsigned h = R(s, E1000_TDH);
        uint64_t da = base + 16ull * h, addr;
        uint8_t d[16];
        uint8_t cmd;
        size_t len;

        if (!dma_read(s, da, d, 16)) {
            log_guest_error("e1000: transmit descriptor outside RAM");
            return;
        }
        memcpy(&addr, d, 8);
        addr = GUINT64_FROM_LE(addr);
        cmd = d[11];
        if (!(cmd & E1000_TXD_CMD_DEXT)) {
            len = d[8] | d[9] << 8;
            tx_gather(s, addr, len);
            if (cmd & E1000_TXD_CMD_EOP) {
                /* Legacy checksum: CSO/CSS on this descriptor. */
                if ((cmd & E1000_TXD_CMD_IC) && d[10] + 2u <= s->tx_len) {
                    put_csum(s->tx_buf, s->tx_len, d[13], d[10], 0, 0);
                }
                tx_packet_done(s);
            }
        } else if (((d[10] >> 4) & 0xf) == 0) {
            tx_context(s, d);
        } else {
            len = d[8] | d[9] << 8 | (d[10] & 0xf) << 16;
            if (s->tx_len == 0) {
                s->tx_popts = d[13];
                s->tx_tse = cmd & E1000_TXD_CMD_TSE;
            }
            tx_gather(s, addr, len);
            if (cmd & E1000_TXD_CMD_EOP) {
                tx_packet_done(s);
            }
        }
        if (cmd & E1000_TXD_CMD_RS) {
            d[12] |= E1000_TXD_STAT_DD;
            dma_write(s, da + 12, &d[12], 1);
        }
        raise = true;
        R(s, E1000_TDH) = (h + 1) % n;
    }
    if (raise) {
        e1000_raise(s, E1000_ICR_TXDW | E1000_ICR_TXQE);
    }
}

/* ---- registers ---- */

static void e1000_reset_regs(E1000 *s)
{
    memset(s->regs, 0, sizeof(s->regs));
    memset(&s->ee, 0, sizeof(s->ee));
    s->tx_len = 0;
    s->tx_tse = false;
    s->tx_popts = 0;
    memset(&s->ctx, 0, sizeof(s->ctx));
    R(s, E1000_CTRL) = E1000_CTRL_FD | E1000_CTRL_SLU | E1000_CTRL_SPEED_1000;
    R(s, E1000_STATUS) = E1000_STATUS_FD | E1000_STATUS_LU | E1000_STATUS_SPEED_1000 |
                         E1000_STATUS_ASDV_1000;
    R(s, E1000_EECD) = E1000_EECD_PRES;
    R(s, E1000_MDIC) = E1000_MDIC_READY;
    R(s, E1000_PBA) = 0x00100030;
    R(s, E1000_LEDCTL) = 0x07068302;
    R(s, E1000_RA) = s->macaddr[0] | s->macaddr[1] << 8 | s->macaddr[2] << 16 |
                     (uint32_t)s->macaddr[3] << 24;
    R(s, E1000_RA + 4) = s->macaddr[4] | s->macaddr[5] << 8 | E1000_RAH_AV;
    e1000_phy_reset(s);
}

static bool is_stat(uint64_t off)
{
    return off >= 0x4000 && off < 0x4100;
}

static uint32_t e1000_reg_read(E1000 *s, uint64_t off)
{
    uint32_t v;

    switch (off) {
    case E1000_EECD:
        return e1000_eecd_read(s);
    case E1000_ICR:
        /* Reading ICR acknowledges every cause. */
        v = R(s, E1000_ICR);
        if (v & R(s, E1000_IMS)) {
            v |= E1000_ICR_INT_ASSERTED;
        }
        R(s, E1000_ICR) = 0;
        e1000_update_irq(s);
        return v;
    case E1000_IMC:
    case E1000_ICS:
        return 0;
    default:
        v = R(s, off);
        if (is_stat(off)) {
            R(s, off) = 0;
        }
        return v;
    }
}

static void e1000_reg_write(E1000 *s, uint64_t off, uint32_t val)
{
    switch (off) {
    case E1000_CTRL:
        if (val & E1000_CTRL_RST) {
            e1000_reset_regs(s);
            e1000_update_irq(s);
            return;
        }
        if (val & E1000_CTRL_PHY_RST) {
            e1000_phy_reset(s);
        }
        R(s, off) = val & ~(E1000_CTRL_RST | E1000_CTRL_PHY_RST);
        return;
    case E1000_STATUS:
        return;
    case E1000_EECD:
        e1000_eecd_write(s, val);
        return;
    case E1000_EERD:
        e1000_eerd_write(s, val);
        return;
    case E1000_MDIC:
        e1000_mdic_write(s, val);
        return;
    case E1000_ICR:
        R(s, off) &= ~val;       /* write 1 to clear */
        e1000_update_irq(s);
        return;
    case E1000_ICS:
        e1000_raise(s, val);
        return;
    case E1000_IMS:
        R(s, E1000_IMS) |= val;
        e1000_update_irq(s);
        return;
    case E1000_IMC:
        R(s, E1000_IMS) &= ~val;
        e1000_update_irq(s);
        return;
    case E1000_RCTL:
        R(s, off) = val;
        net_client_ready(s->nic);
        return;
    case E1000_RDLEN:
    case E1000_TDLEN:
        R(s, off) = val & 0xfff80;
        return;
    case E1000_RDH:
    case E1000_TDH:
        R(s, off) = val & 0xffff;
        return;
    case E1000_RDT:
        R(s, off) = val & 0xffff;
        net_client_ready(s->nic);
        return;
    case E1000_TDT:
        R(s, off) = val & 0xffff;
        e1000_transmit(s);
        return;
    case E1000_TCTL:
        R(s, off) = val;
        e1000_transmit(s);
        return;
    default:
        if (!is_stat(off)) {
            R(s, off) = val;
        }
        return;
    }
}

static uint64_t e1000_mmio_read(void *opaque, uint64_t off, unsigned size)
{
    (void)size;
    return e1000_reg_read(opaque, off & ~3ull);
}

static void e1000_mmio_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
    (void)size;
    e1000_reg_write(opaque, off & ~3ull, val);
}

static const IoOps e1000_mmio_ops = {
    .read = e1000_mmio_read,
    .write = e1000_mmio_write,
    .min_size = 4,
    .max_size = 4,
};

/* BAR1: IOADDR at 0 selects a register, IODATA at 4 accesses it. */
static uint64_t e1000_io_read(void *opaque, uint64_t off, unsigned size)
{
    E1000 *s = opaque;

    (void)size;
    if (off == 0) {
        return s->ioaddr;
    }
    if (off == 4 && s->ioaddr < E1000_MMIO_SIZE) {
        return e1000_reg_read(s, s->ioaddr & ~3u);
    }
    return 0;
}

static void e1000_io_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
    E1000 *s = opaque;

    (void)size;
    if (off == 0) {
        s->ioaddr = val;
    } else if (off == 4 && s->ioaddr < E1000_MMIO_SIZE) {
        e1000_reg_write(s, s->ioaddr & ~3u, val);
    }
}

static const IoOps e1000_io_ops = {
    .read = e1000_io_read,
    .write = e1000_io_write,
    .min_size = 4,
    .max_size = 4,
};

static void e1000_reset(Device *d)
{
    E1000 *s = (E1000 *)d;

    e1000_reset_regs(s);
    s->ioaddr = 0;
    pci_set_irq(&s->pci, 0);
}

static void e1000_finalize(Device *d)
{
    E1000 *s = (E1000 *)d;

    net_client_free(s->nic);
    s->nic = NULL;
}

static const DeviceClass e1000_class = {
    .name = "e1000",
    .reset = e1000_reset,
    .finalize = e1000_finalize,
};

static const NetClientOps e1000_nic_ops = {
    .type = "nic",
    .receive = e1000_receive,
    .can_receive = e1000_can_receive,
};

static bool e1000_create(Machine *m, Opts *o, GError **errp)
{
    static const PciIdentity ident = {
        .vendor = 0x8086, .device = 0x100e,
        .subsys_vendor = 0x8086, .subsys = 0x001e,
        .revision = 3, .class_code = 0x020000, .irq_pin = 1,
    };
    const char *id = opts_get(o, "id");
    E1000 *s = g_new0(E1000, 1);
    int devfn;

    s->nic = net_client_new(&e1000_nic_ops, id ? id : "e1000", s);
    if (!pci_parse_addr(o, &devfn, errp) || !net_nic_setup(s->nic, o, s->macaddr, errp)) {
        goto fail;
    }
    e1000_eeprom_init(s);
    e1000_reset_regs(s);
    if (!pci_device_init(&s->pci, m, &e1000_class, id, &ident, devfn, errp)) {
        goto fail;
    }
    pci_register_bar(&s->pci, 0, PCI_BAR_MEM32, E1000_MMIO_SIZE, &e1000_mmio_ops, s);
    pci_register_bar(&s->pci, 1, PCI_BAR_IO, E1000_IO_SIZE, &e1000_io_ops, s);
    return true;
fail:
    net_client_free(s->nic);
    g_free(s);
    return false;
}

const DeviceType e1000_type = {
    .name = "e1000",
    .help = "Intel 82540EM Gigabit Ethernet (netdev=ID, mac=MAC, addr=SLOT)",
    .create = e1000_create,
};
