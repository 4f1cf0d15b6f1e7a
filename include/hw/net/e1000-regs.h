/*
 * Intel 82540EM register offsets and bits used by hw/net/e1000.c and its
 * tests (from the 8254x Software Developer's Manual).
 */
#ifndef HW_NET_E1000_REGS_H
#define HW_NET_E1000_REGS_H

/* Register offsets in BAR0 */
#define E1000_CTRL 0x0000
#define E1000_STATUS 0x0008
#define E1000_EECD 0x0010
#define E1000_EERD 0x0014
#define E1000_CTRL_EXT 0x0018
#define E1000_MDIC 0x0020
#define E1000_ICR 0x00c0
#define E1000_ITR 0x00c4
#define E1000_ICS 0x00c8
#define E1000_IMS 0x00d0
#define E1000_IMC 0x00d8
#define E1000_RCTL 0x0100
#define E1000_TCTL 0x0400
#define E1000_TIPG 0x0410
#define E1000_LEDCTL 0x0e00
#define E1000_PBA 0x1000
#define E1000_RDBAL 0x2800
#define E1000_RDBAH 0x2804
#define E1000_RDLEN 0x2808
#define E1000_RDH 0x2810
#define E1000_RDT 0x2818
#define E1000_TDBAL 0x3800
#define E1000_TDBAH 0x3804
#define E1000_TDLEN 0x3808
#define E1000_TDH 0x3810
#define E1000_TDT 0x3818
#define E1000_MPC 0x4010         /* missed packets */
#define E1000_GPRC 0x4074        /* good packets received */
#define E1000_GPTC 0x4080        /* good packets transmitted */
#define E1000_GORCL 0x4088
#define E1000_GOTCL 0x4090
#define E1000_TPR 0x40d0
#define E1000_TPT 0x40d4
#define E1000_MTA 0x5200         /* 128 multicast hash words */
#define E1000_RA 0x5400          /* 16 RAL/RAH pairs */

#define E1000_CTRL_FD (1u << 0)
#define E1000_CTRL_SLU (1u << 6)
#define E1000_CTRL_SPEED_1000 (2u << 8)
#define E1000_CTRL_RST (1u << 26)
#define E1000_CTRL_PHY_RST (1u << 31)

#define E1000_STATUS_FD (1u << 0)
#define E1000_STATUS_LU (1u << 1)
#define E1000_STATUS_SPEED_1000 (2u << 6)
#define E1000_STATUS_ASDV_1000 (2u << 8)

#define E1000_EECD_SK (1u << 0)
#define E1000_EECD_CS (1u << 1)
#define E1000_EECD_DI (1u << 2)
#define E1000_EECD_DO (1u << 3)
#define E1000_EECD_REQ (1u << 6)
#define E1000_EECD_GNT (1u << 7)
#define E1000_EECD_PRES (1u << 8)

#define E1000_EERD_START (1u << 0)
#define E1000_EERD_DONE (1u << 4)
#define E1000_EERD_ADDR_SHIFT 8

#define E1000_MDIC_READY (1u << 28)
#define E1000_MDIC_INT_EN (1u << 29)
#define E1000_MDIC_ERROR (1u << 30)

#define E1000_ICR_TXDW (1u << 0)
#define E1000_ICR_TXQE (1u << 1)
#define E1000_ICR_LSC (1u << 2)
#define E1000_ICR_RXDMT0 (1u << 4)
#define E1000_ICR_RXO (1u << 6)
#define E1000_ICR_RXT0 (1u << 7)
#define E1000_ICR_MDAC (1u << 9)
#define E1000_ICR_INT_ASSERTED (1u << 31)

#define E1000_RCTL_EN (1u << 1)
#define E1000_RCTL_UPE (1u << 3)
#define E1000_RCTL_MPE (1u << 4)
#define E1000_RCTL_LBM (3u << 6)
#define E1000_RCTL_BAM (1u << 15)
#define E1000_RCTL_BSEX (1u << 25)
#define E1000_RCTL_SECRC (1u << 26)
#define E1000_RAH_AV (1u << 31)

#define E1000_TCTL_EN (1u << 1)

/* Receive descriptor status */
#define E1000_RXD_DD 0x01
#define E1000_RXD_EOP 0x02
#define E1000_RXD_IXSM 0x04

/* Transmit descriptor command byte (legacy CMD, extended DCMD / TUCMD) */
#define E1000_TXD_CMD_EOP 0x01
#define E1000_TXD_CMD_IFCS 0x02
#define E1000_TXD_CMD_IC 0x04
#define E1000_TXD_CMD_TCP 0x01   /* context TUCMD */
#define E1000_TXD_CMD_IP 0x02    /* context TUCMD */
#define E1000_TXD_CMD_TSE 0x04
#define E1000_TXD_CMD_RS 0x08
#define E1000_TXD_CMD_DEXT 0x20
#define E1000_TXD_STAT_DD 0x01
#define E1000_TXD_POPTS_IXSM 0x01
#define E1000_TXD_POPTS_TXSM 0x02

/* EEPROM: words 0-2 MAC; words 0..0x3f sum to EEPROM_SUM */
#define EEPROM_CHECKSUM_WORD 0x3f
#define EEPROM_SUM 0xbaba

/* PHY registers (MDIC REGADD) */
#define PHY_CTRL 0
#define PHY_STATUS 1
#define PHY_ID1 2
#define PHY_ID2 3
#define PHY_AUTONEG_ADV 4
#define PHY_LP_ABILITY 5
#define PHY_AUTONEG_EXP 6
#define PHY_1000T_CTRL 9
#define PHY_1000T_STATUS 10
#define PHY_EXT_STATUS 15
#define M88_PHY_SPEC_CTRL 16
#define M88_PHY_SPEC_STATUS 17

#endif
