/*
 * The e1000 (82540EM) on the real PCI bus, driven through config space
 * and BAR0 the way Linux's e1000 driver does, with a test back end that
 * records transmitted frames and can inject received ones.
 */
#include <string.h>
#include <glib.h>
#include "hw/device.h"
#include "hw/net/e1000-regs.h"
#include "hw/pci/pci.h"
#include "net/net.h"
#include "system/machine.h"

#define BAR0 0xc0000000ull
#define BAR1 0xc000u
#define TX_RING 0x10000ull
#define RX_RING 0x20000ull
#define TX_BUFS 0x100000ull
#define RX_BUFS 0x200000ull

typedef struct Fixture {
    Machine *m;
    PciDevice *pci;
    NetClient *be;                  /* the test back end */
    GPtrArray *sent;                /* GBytes the NIC transmitted */
    int gsi_level[MACHINE_NR_GSI];
} Fixture;

static void be_receive(NetClient *nc, const uint8_t *buf, size_t len)
{
    Fixture *f = nc->opaque;

    g_ptr_array_add(f->sent, g_bytes_new(buf, len));
}

static const NetClientOps be_ops = { .type = "test", .receive = be_receive };

static void gsi_handler(void *opaque, int n, int level)
{
    ((Fixture *)opaque)->gsi_level[n] = level;
}

static void cfg_write(Fixture *f, unsigned off, uint32_t val, unsigned size)
{
    iobus_write(f->m->pio, 0xcf8, 0x80000000u | f->pci->devfn << 8 | (off & 0xfc), 4);
    iobus_write(f->m->pio, 0xcfc + (off & 3), val, size);
}

static uint32_t rd(Fixture *f, unsigned reg)
{
    return iobus_read(f->m->mmio, BAR0 + reg, 4);
}

static void wr(Fixture *f, unsigned reg, uint32_t val)
{
    iobus_write(f->m->mmio, BAR0 + reg, val, 4);
}

static int irq_level(Fixture *f)
{
    return f->gsi_level[PCI_INTX_GSI(f->pci->devfn >> 3, 0)];
}

static uint8_t *ram(Fixture *f, uint64_t gpa)
{
    return machine_gpa_to_hva(f->m, gpa, 1);
}

static void setup(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) err = NULL;
    const char *dev = data ? data : "e1000,netdev=be0,id=nic0,mac=52:54:00:aa:bb:cc";

    f->m = g_new0(Machine, 1);
    f->m->cfg.ram_size = 32 << 20;
    g_assert_true(machine_ram_init(f->m, &err));
    f->m->pio = iobus_new("pio");
    f->m->mmio = iobus_new("mmio");
    for (int i = 0; i < MACHINE_NR_GSI; i++) {
        f->m->gsi[i] = irq_new(gsi_handler, f, i);
    }
    g_assert_true(pci_host_create(f->m, &err));
    f->sent = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);
    f->be = net_client_new(&be_ops, "be0", f);
    net_backend_register(f->be);
    g_assert_true(device_create_from_string(f->m, dev, &err));
    g_assert_no_error(err);
    f->pci = (PciDevice *)device_find(f->m, "nic0");
    g_assert_nonnull(f->pci);
    cfg_write(f, 0x10, BAR0, 4);
    cfg_write(f, 0x14, BAR1, 4);
    cfg_write(f, 0x04, 0x7, 2);     /* I/O, memory, bus master */
}

static void teardown(Fixture *f, gconstpointer data)
{
    (void)data;
    devices_free(f->m);
    net_backends_free();
    for (int i = 0; i < MACHINE_NR_GSI; i++) {
        irq_free(f->m->gsi[i]);
    }
    iobus_free(f->m->pio);
    iobus_free(f->m->mmio);
    machine_ram_free(f->m);
    g_free(f->m);
    g_ptr_array_free(f->sent, TRUE);
}

static void test_reset_values(Fixture *f, gconstpointer data)
{
    (void)data;
    g_assert_cmphex(rd(f, E1000_STATUS) & (E1000_STATUS_LU | E1000_STATUS_FD), ==,
                    E1000_STATUS_LU | E1000_STATUS_FD);
    g_assert_cmphex(rd(f, E1000_CTRL) & E1000_CTRL_SLU, ==, E1000_CTRL_SLU);
    g_assert_cmphex(rd(f, E1000_ICR), ==, 0);
    g_assert_cmphex(rd(f, E1000_RCTL), ==, 0);
    g_assert_cmphex(rd(f, E1000_TCTL), ==, 0);
    g_assert_cmphex(rd(f, E1000_RA), ==, 0xaa005452);
    g_assert_cmphex(rd(f, E1000_RA + 4), ==, E1000_RAH_AV | 0xccbb);
    g_assert_true(rd(f, E1000_EECD) & E1000_EECD_PRES);
    /* CTRL.RST puts registers back and clears itself. */
    wr(f, E1000_IMS, 0xff);
    wr(f, E1000_RDLEN, 4096);
    wr(f, E1000_CTRL, rd(f, E1000_CTRL) | E1000_CTRL_RST);
    g_assert_cmphex(rd(f, E1000_CTRL) & E1000_CTRL_RST, ==, 0);
    g_assert_cmphex(rd(f, E1000_IMS), ==, 0);
    g_assert_cmphex(rd(f, E1000_RDLEN), ==, 0);
    /* Through the I/O window too. */
    iobus_write(f->m->pio, BAR1, E1000_STATUS, 4);
    g_assert_cmphex(iobus_read(f->m->pio, BAR1 + 4, 4), ==, rd(f, E1000_STATUS));
    iobus_write(f->m->pio, BAR1, 0xfffffff0, 4);
    g_assert_cmphex(iobus_read(f->m->pio, BAR1 + 4, 4), ==, 0);
}

/* Linux's Microwire read: CS, opcode 110, 6 address bits, 16 data bits. */
static uint16_t eeprom_bitbang(Fixture *f, unsigned addr)
{
    uint32_t e = E1000_EECD_REQ;
    uint32_t bits = (6u << 6) | addr;
    uint16_t v = 0;

    wr(f, E1000_EECD, e);
    g_assert_true(rd(f, E1000_EECD) & E1000_EECD_GNT);
    e |= E1000_EECD_CS;
    wr(f, E1000_EECD, e);
    for (int i = 8; i >= 0; i--) {
        uint32_t di = (bits >> i) & 1 ? E1000_EECD_DI : 0;
        wr(f, E1000_EECD, e | di);
        wr(f, E1000_EECD, e | di | E1000_EECD_SK);
        wr(f, E1000_EECD, e | di);
    }
    for (int i = 0; i < 16; i++) {
        wr(f, E1000_EECD, e | E1000_EECD_SK);
        v = v << 1 | !!(rd(f, E1000_EECD) & E1000_EECD_DO);
        wr(f, E1000_EECD, e);
    }
    wr(f, E1000_EECD, 0);
    return v;
}

static uint16_t eeprom_eerd(Fixture *f, unsigned addr)
{
    wr(f, E1000_EERD, addr << E1000_EERD_ADDR_SHIFT | E1000_EERD_START);
    uint32_t v = rd(f, E1000_EERD);
    g_assert_true(v & E1000_EERD_DONE);
    return v >> 16;
}

static void test_eeprom(Fixture *f, gconstpointer data)
{
    uint16_t sum = 0;

    (void)data;
    g_assert_cmphex(eeprom_bitbang(f, 0), ==, 0x5452);
    g_assert_cmphex(eeprom_bitbang(f, 1), ==, 0xaa00);
    g_assert_cmphex(eeprom_bitbang(f, 2), ==, 0xccbb);
    for (unsigned i = 0; i < 64; i++) {
        uint16_t w = eeprom_bitbang(f, i);
        g_assert_cmphex(w, ==, eeprom_eerd(f, i));
        sum += w;
    }
    g_assert_cmphex(sum, ==, EEPROM_SUM);
}

static uint32_t mdic(Fixture *f, unsigned op, unsigned phy, unsigned reg, uint16_t data)
{
    wr(f, E1000_MDIC, op << 26 | phy << 21 | reg << 16 | data);
    uint32_t v = rd(f, E1000_MDIC);
    g_assert_true(v & E1000_MDIC_READY);
    return v;
}

static void test_phy(Fixture *f, gconstpointer data)
{
    (void)data;
    g_assert_cmphex(mdic(f, 2, 1, PHY_ID1, 0) & 0xffff, ==, 0x0141);
    g_assert_cmphex(mdic(f, 2, 1, PHY_ID2, 0) & 0xfff0, ==, 0x0c20);
    uint16_t st = mdic(f, 2, 1, PHY_STATUS, 0);
    g_assert_true(st & 0x0004);     /* link up */
    g_assert_true(st & 0x0020);     /* autonegotiation complete */
    mdic(f, 1, 1, PHY_AUTONEG_ADV, 0x01e1);
    g_assert_cmphex(mdic(f, 2, 1, PHY_AUTONEG_ADV, 0) & 0xffff, ==, 0x01e1);
    /* Reset + restart autonegotiation bits complete at once. */
    mdic(f, 1, 1, PHY_CTRL, 0x9340);
    g_assert_cmphex(mdic(f, 2, 1, PHY_CTRL, 0) & 0x8200, ==, 0);
    g_assert_true(mdic(f, 2, 1, PHY_STATUS, 0) & 0x0024);
    /* Another PHY address: error. */
    g_assert_true(mdic(f, 2, 2, PHY_ID1, 0) & E1000_MDIC_ERROR);
}

static void put_txd(Fixture *f, unsigned i, uint64_t addr, uint16_t len, uint8_t cmd,
                    uint8_t cso, uint8_t css)
{
    uint8_t *d = ram(f, TX_RING + 16 * i);

    memset(d, 0, 16);
    memcpy(d, &addr, 8);
    d[8] = len;
    d[9] = len >> 8;
    d[10] = cso;
    d[11] = cmd;
    d[13] = css;
}

static void tx_setup(Fixture *f, unsigned n)
{
    wr(f, E1000_TDBAL, TX_RING);
    wr(f, E1000_TDBAH, 0);
    wr(f, E1000_TDLEN, n * 16);
    wr(f, E1000_TDH, 0);
    wr(f, E1000_TDT, 0);
    wr(f, E1000_TCTL, E1000_TCTL_EN);
}

static void test_tx_legacy(Fixture *f, gconstpointer data)
{
    uint8_t *buf = ram(f, TX_BUFS);
    gsize len;

    (void)data;
    tx_setup(f, 8);
    wr(f, E1000_IMS, E1000_ICR_TXDW);
    for (int i = 0; i < 100; i++) {
        buf[i] = i;
    }
    /* One frame in two descriptors, one in one. */
    put_txd(f, 0, TX_BUFS, 40, E1000_TXD_CMD_RS, 0, 0);
    put_txd(f, 1, TX_BUFS + 40, 24, E1000_TXD_CMD_EOP | E1000_TXD_CMD_RS, 0, 0);
    put_txd(f, 2, TX_BUFS, 60, E1000_TXD_CMD_EOP | E1000_TXD_CMD_RS, 0, 0);
    wr(f, E1000_TDT, 3);
    g_assert_cmpuint(f->sent->len, ==, 2);
    const uint8_t *d = g_bytes_get_data(f->sent->pdata[0], &len);
    g_assert_cmpuint(len, ==, 64);
    g_assert_cmpmem(d, 64, buf, 64);
    g_bytes_get_data(f->sent->pdata[1], &len);
    g_assert_cmpuint(len, ==, 60);
    g_assert_cmpuint(rd(f, E1000_TDH), ==, 3);
    for (int i = 0; i < 3; i++) {
        g_assert_cmpuint(ram(f, TX_RING + 16 * i)[12] & E1000_TXD_STAT_DD, ==, 1);
    }
    g_assert_cmpint(irq_level(f), ==, 1);
    g_assert_true(rd(f, E1000_ICR) & E1000_ICR_TXDW);
    g_assert_cmpint(irq_level(f), ==, 0);
    g_assert_cmpuint(rd(f, E1000_GPTC), ==, 2);
    g_assert_cmpuint(rd(f, E1000_GPTC), ==, 0);     /* clear on read */
}

/* A UDP/IPv4 frame whose checksums the NIC inserts (context + data). */
static void test_tx_checksum_offload(Fixture *f, gconstpointer data)
{
    uint8_t *p = ram(f, TX_BUFS);
    uint8_t *ctx = ram(f, TX_RING), *dd = ram(f, TX_RING + 16);
    size_t len = 14 + 20 + 8 + 10;
    gsize outlen;

    (void)data;
    memset(p, 0, len);
    p[12] = 0x08;
    p[14] = 0x45;
    p[16] = 0;
    p[17] = 20 + 8 + 10;
    p[22] = 64;
    p[23] = 17;
    uint8_t src[4] = { 10, 0, 2, 15 }, dst[4] = { 10, 0, 2, 2 };
    memcpy(p + 26, src, 4);
    memcpy(p + 30, dst, 4);
    p[34] = 0x12;
    p[36] = 0x00;
    p[37] = 53;
    p[39] = 18;
    memcpy(p + 42, "kemu-hello", 10);
    /* The driver seeds the UDP checksum with the pseudo-header sum. */
    uint32_t ph = (0x0a00 + 0x020f) + (0x0a00 + 0x0202) + 17 + 18;
    p[40] = ph >> 8;
    p[41] = ph;
    tx_setup(f, 8);
    memset(ctx, 0, 32);
    ctx[0] = 14;                    /* ipcss */
    ctx[1] = 14 + 10;               /* ipcso */
    ctx[2] = 14 + 19;               /* ipcse */
    ctx[4] = 34;                    /* tucss */
    ctx[5] = 34 + 6;                /* tucso */
    /* DTYP 0 (context), TUCMD.IP (UDP: TUCMD.TCP clear) */
    uint32_t ctl = E1000_TXD_CMD_IP << 24 | E1000_TXD_CMD_DEXT << 24;
    memcpy(ctx + 8, &ctl, 4);
    uint64_t a = TX_BUFS;
    memcpy(dd, &a, 8);
    ctl = len | 1u << 20 | (uint32_t)(E1000_TXD_CMD_DEXT | E1000_TXD_CMD_EOP) << 24;
    memcpy(dd + 8, &ctl, 4);
    dd[13] = E1000_TXD_POPTS_IXSM | E1000_TXD_POPTS_TXSM;
    wr(f, E1000_TDT, 2);
    g_assert_cmpuint(f->sent->len, ==, 1);
    const uint8_t *o = g_bytes_get_data(f->sent->pdata[0], &outlen);
    g_assert_cmpuint(outlen, ==, len);
    /* Verify: IP header sums to 0xffff; UDP with pseudo-header too. */
    g_assert_cmphex(net_checksum(o + 14, 20, 0), ==, 0);
    uint32_t pseudo = (0x0a00 + 0x020f) + (0x0a00 + 0x0202) + 17 + 18;
    g_assert_cmphex(net_checksum(o + 34, 18, pseudo), ==, 0);
}

/* TCP segmentation: 3000 bytes of payload with MSS 1000 make 3 frames. */
static void test_tx_tso(Fixture *f, gconstpointer data)
{
    enum { HLEN = 54, PAY = 3000, MSS = 1000 };
    uint8_t *p = ram(f, TX_BUFS), *ctx = ram(f, TX_RING), *dd = ram(f, TX_RING + 16);
    uint8_t *ip = p + 14, *tcp = p + 34;
    uint32_t seed = (0x0a00 + 0x020f) + (0x0a00 + 0x0202) + 6;  /* no length */
    uint32_t ctl;
    uint64_t a = TX_BUFS;

    (void)data;
    memset(p, 0, HLEN);
    p[12] = 0x08;
    ip[0] = 0x45;
    ip[4] = 0x12, ip[5] = 0x34;                 /* IP id */
    ip[8] = 64;
    ip[9] = 6;
    ip[12] = 10, ip[14] = 2, ip[15] = 15;
    ip[16] = 10, ip[18] = 2, ip[19] = 2;
    tcp[1] = 80, tcp[3] = 99;
    tcp[4] = 0x01, tcp[5] = 0x02, tcp[6] = 0x03, tcp[7] = 0x04;    /* seq */
    tcp[12] = 5 << 4;
    tcp[13] = 0x18 | 0x01;                      /* PSH ACK FIN */
    tcp[16] = seed >> 8, tcp[17] = seed;
    for (int i = 0; i < PAY; i++) {
        p[HLEN + i] = i * 13;
    }
    tx_setup(f, 8);
    memset(ctx, 0, 32);
    ctx[0] = 14, ctx[1] = 24, ctx[2] = 33;
    ctx[4] = 34, ctx[5] = 50;
    ctl = PAY | (uint32_t)(E1000_TXD_CMD_DEXT | E1000_TXD_CMD_TSE | E1000_TXD_CMD_IP |
                           E1000_TXD_CMD_TCP) << 24;
    memcpy(ctx + 8, &ctl, 4);
    ctx[13] = HLEN;
    ctx[14] = MSS & 0xff, ctx[15] = MSS >> 8;
    memcpy(dd, &a, 8);
    ctl = (HLEN + PAY) | 1u << 20 |
          (uint32_t)(E1000_TXD_CMD_DEXT | E1000_TXD_CMD_TSE | E1000_TXD_CMD_EOP) << 24;
    memcpy(dd + 8, &ctl, 4);
    dd[13] = E1000_TXD_POPTS_IXSM | E1000_TXD_POPTS_TXSM;
    wr(f, E1000_TDT, 2);
    g_assert_cmpuint(f->sent->len, ==, 3);
    for (unsigned i = 0; i < 3; i++) {
        gsize len;
        const uint8_t *o = g_bytes_get_data(f->sent->pdata[i], &len);
        const uint8_t *oip = o + 14, *otcp = o + 34;
        uint32_t seq = 0x01020304 + i * MSS;
        g_assert_cmpuint(len, ==, HLEN + MSS);
        g_assert_cmpuint(oip[2] << 8 | oip[3], ==, 20 + 20 + MSS);
        g_assert_cmpuint(oip[4] << 8 | oip[5], ==, 0x1234 + i);
        g_assert_cmphex(net_checksum(oip, 20, 0), ==, 0);
        g_assert_cmphex((uint32_t)otcp[4] << 24 | otcp[5] << 16 | otcp[6] << 8 | otcp[7], ==,
                        seq);
        g_assert_cmphex(otcp[13], ==, i == 2 ? 0x19 : 0x10);
        g_assert_cmphex(net_checksum(otcp, 20 + MSS, seed + 20 + MSS), ==, 0);
        g_assert_cmpmem(o + HLEN, MSS, p + HLEN + i * MSS, MSS);
    }
}

static void put_rxd(Fixture *f, unsigned i, uint64_t addr)
{
    uint8_t *d = ram(f, RX_RING + 16 * i);

    memset(d, 0, 16);
    memcpy(d, &addr, 8);
}

static void rx_setup(Fixture *f, unsigned n, uint32_t rctl)
{
    for (unsigned i = 0; i < n; i++) {
        put_rxd(f, i, RX_BUFS + 2048 * i);
    }
    wr(f, E1000_RDBAL, RX_RING);
    wr(f, E1000_RDLEN, n * 16);
    wr(f, E1000_RDH, 0);
    wr(f, E1000_RDT, n - 1);
    wr(f, E1000_IMS, E1000_ICR_RXT0);
    wr(f, E1000_RCTL, rctl);
}

static void test_rx(Fixture *f, gconstpointer data)
{
    uint8_t frame[100];
    static const uint8_t mine[6] = { 0x52, 0x54, 0x00, 0xaa, 0xbb, 0xcc };

    (void)data;
    g_assert_false(net_peer_can_receive(f->be));    /* RCTL.EN off */
    rx_setup(f, 8, E1000_RCTL_EN | E1000_RCTL_BAM | E1000_RCTL_SECRC);
    g_assert_true(net_peer_can_receive(f->be));
    memcpy(frame, mine, 6);
    for (int i = 6; i < 100; i++) {
        frame[i] = i;
    }
    g_assert_true(net_send(f->be, frame, 100));
    uint8_t *d = ram(f, RX_RING);
    g_assert_cmpuint(d[8] | d[9] << 8, ==, 100);
    g_assert_cmphex(d[12] & (E1000_RXD_DD | E1000_RXD_EOP), ==, E1000_RXD_DD | E1000_RXD_EOP);
    g_assert_cmpmem(ram(f, RX_BUFS), 100, frame, 100);
    g_assert_cmpuint(rd(f, E1000_RDH), ==, 1);
    g_assert_cmpint(irq_level(f), ==, 1);
    g_assert_true(rd(f, E1000_ICR) & E1000_ICR_RXT0);
    g_assert_cmpint(irq_level(f), ==, 0);

    /* Someone else's unicast is filtered; a runt is padded to 60. */
    frame[5] = 0xcd;
    net_send(f->be, frame, 100);
    g_assert_cmpuint(rd(f, E1000_RDH), ==, 1);
    memset(frame, 0xff, 6);
    net_send(f->be, frame, 42);
    d = ram(f, RX_RING + 16);
    g_assert_cmpuint(d[8] | d[9] << 8, ==, 60);

    /* Without SECRC the frame carries 4 more bytes (the FCS). */
    wr(f, E1000_RCTL, E1000_RCTL_EN | E1000_RCTL_BAM);
    net_send(f->be, frame, 100);
    d = ram(f, RX_RING + 32);
    g_assert_cmpuint(d[8] | d[9] << 8, ==, 104);

    /* Ring full: frames wait in the queue until RDT moves. */
    for (int i = 0; i < 10; i++) {
        net_send(f->be, frame, 100);
    }
    g_assert_cmpuint(rd(f, E1000_RDH), <=, 7);
    g_assert_false(net_peer_can_receive(f->be));
    wr(f, E1000_RDH, 0);
    wr(f, E1000_RDT, 0);           /* head == tail: still none */
    g_assert_false(net_peer_can_receive(f->be));
    wr(f, E1000_RDT, 7);
    g_assert_cmpuint(rd(f, E1000_GPRC), >, 5);
}

static void test_loopback_mode(Fixture *f, gconstpointer data)
{
    uint8_t *buf = ram(f, TX_BUFS);

    (void)data;
    rx_setup(f, 8, E1000_RCTL_EN | E1000_RCTL_BAM | E1000_RCTL_SECRC | E1000_RCTL_LBM);
    tx_setup(f, 8);
    memset(buf, 0xff, 6);
    memset(buf + 6, 0x11, 58);
    put_txd(f, 0, TX_BUFS, 64, E1000_TXD_CMD_EOP, 0, 0);
    wr(f, E1000_TDT, 1);
    g_assert_cmpuint(f->sent->len, ==, 0);
    g_assert_cmpmem(ram(f, RX_BUFS), 64, buf, 64);
}

/* Hostile rings: nothing crashes, nothing outside RAM is touched. */
static void test_hostile(Fixture *f, gconstpointer data)
{
    uint8_t frame[64] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

    (void)data;
    /* TX: ring outside RAM, zero length, huge, head/tail beyond the end. */
    tx_setup(f, 8);
    wr(f, E1000_TDBAL, 0xfffff000);
    wr(f, E1000_TDBAH, 0xffffffff);
    wr(f, E1000_TDT, 2);
    wr(f, E1000_TDLEN, 0);
    wr(f, E1000_TDT, 3);
    wr(f, E1000_TDLEN, 0xffffffff);
    wr(f, E1000_TDBAL, 0);
    wr(f, E1000_TDBAH, 0);
    wr(f, E1000_TDH, 0xffff);
    wr(f, E1000_TDT, 0xfffe);
    /* Descriptors pointing outside RAM, and a huge packet. */
    wr(f, E1000_TDLEN, 8 * 16);
    wr(f, E1000_TDBAL, TX_RING);
    wr(f, E1000_TDH, 0);
    put_txd(f, 0, 0xffffffffffff0000ull, 0xffff, 0, 0, 0);
    for (int i = 1; i < 4; i++) {
        put_txd(f, i, TX_BUFS, 0xffff, E1000_TXD_CMD_IC, 0xff, 0xfe);
    }
    wr(f, E1000_TDT, 3);
    put_txd(f, 3, TX_BUFS, 0xffff, E1000_TXD_CMD_EOP | E1000_TXD_CMD_IC, 0xff, 0xfe);
    wr(f, E1000_TDT, 0);
    /* A TSO context with nonsense sizes, then data. */
    uint8_t *ctx = ram(f, TX_RING + 16);
    memset(ctx, 0xff, 16);
    uint32_t ctl = 0xff000000u;     /* DTYP 0: context, every TUCMD bit */
    memcpy(ctx + 8, &ctl, 4);
    uint8_t *dd = ram(f, TX_RING + 32);
    uint64_t a = TX_BUFS;
    memcpy(dd, &a, 8);
    ctl = 100 | 1u << 20 | (uint32_t)(E1000_TXD_CMD_DEXT | E1000_TXD_CMD_EOP |
                                      E1000_TXD_CMD_TSE) << 24;
    memcpy(dd + 8, &ctl, 4);
    dd[13] = 3;
    wr(f, E1000_TDT, 3);

    /* RX: ring outside RAM, broken indices, tiny buffers. */
    rx_setup(f, 8, E1000_RCTL_EN | E1000_RCTL_BAM);
    wr(f, E1000_RDBAL, 0xfffffff0);
    wr(f, E1000_RDBAH, 0xffff);
    net_send(f->be, frame, 64);
    wr(f, E1000_RDBAH, 0);
    wr(f, E1000_RDBAL, RX_RING);
    put_rxd(f, 0, 0xfffffffffffff000ull);
    wr(f, E1000_RDH, 0);
    wr(f, E1000_RDT, 3);
    net_send(f->be, frame, 64);
    wr(f, E1000_RDH, 9999);
    net_send(f->be, frame, 64);
    wr(f, E1000_RDLEN, 0);
    net_send(f->be, frame, 64);
    wr(f, E1000_RDLEN, 0xffffffff);
    wr(f, E1000_RDH, 0);
    wr(f, E1000_RDT, 1);
    net_send(f->be, frame, 64);
    /* Bus mastering off: no DMA at all. */
    cfg_write(f, 0x04, 0x3, 2);
    rx_setup(f, 8, E1000_RCTL_EN | E1000_RCTL_BAM);
    memset(ram(f, RX_BUFS), 0, 64);
    net_send(f->be, frame, 64);
    g_assert_cmpuint(ram(f, RX_BUFS)[0], ==, 0);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
#define ADD(path, fn) g_test_add(path, Fixture, NULL, setup, fn, teardown)
    ADD("/e1000/reset-values", test_reset_values);
    ADD("/e1000/eeprom", test_eeprom);
    ADD("/e1000/phy", test_phy);
    ADD("/e1000/tx-legacy", test_tx_legacy);
    ADD("/e1000/tx-checksum-offload", test_tx_checksum_offload);
    ADD("/e1000/tx-tso", test_tx_tso);
    ADD("/e1000/rx", test_rx);
    ADD("/e1000/loopback", test_loopback_mode);
    ADD("/e1000/hostile", test_hostile);
    return g_test_run();
}
