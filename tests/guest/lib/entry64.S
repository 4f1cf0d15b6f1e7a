/*
 * Multiboot v1 header and entry for the long-mode guests. Assembled as
 * 64-bit code (the image is converted to ELF32 afterwards, since
 * multiboot loaders such as QEMU's refuse ELF64), but the loader enters
 * _start in flat 32-bit protected mode, so the first part is .code32.
 *
 * It identity-maps the first 4 GiB with 2 MiB pages (4-level tables:
 * one PML4, one PDPT, four page directories), so RAM, the LAPIC and the
 * MMIO window below 4 GiB are all reachable, then enables PAE,
 * EFER.LME and paging, and far-jumps to 64-bit code that calls
 * guest_main(magic, info) with the multiboot registers.
 */
#define MB_MAGIC 0x1BADB002
#define MB_FLAGS 0x00000003     /* page-align modules, want memory info */

#define CR0_PE (1 << 0)
#define CR0_PG (1 << 31)
#define CR4_PAE (1 << 5)
#define MSR_EFER 0xc0000080
#define EFER_LME (1 << 8)
#define PTE_P_W 0x003           /* present, writable */
#define PDE_2M 0x083            /* present, writable, 2 MiB page */

    .section .multiboot, "a"
    .balign 4
    .long MB_MAGIC
    .long MB_FLAGS
    .long -(MB_MAGIC + MB_FLAGS)

    .text
    .code32
    .globl _start
_start:
    cli
    mov %eax, %edi              /* kept for guest_main: edi = magic */
    mov %ebx, %esi              /*                      esi = info */
    mov $stack_top, %esp

    /* The loader should zero .bss, but do not depend on it for tables. */
    mov $pml4, %edx
    push %edi
    mov %edx, %edi
    xor %eax, %eax
    mov $(6 * 4096 / 4), %ecx
    rep stosl
    pop %edi

    /* PML4[0] -> PDPT; PDPT[0..3] -> page directories 0..3. */
    mov $(pdpt + PTE_P_W), %eax
    mov %eax, pml4
    mov $pd, %eax
    or $PTE_P_W, %eax
    xor %ecx, %ecx
1:  mov %eax, pdpt(, %ecx, 8)
    add $4096, %eax
    inc %ecx
    cmp $4, %ecx
    jne 1b

    /* 2048 entries of 2 MiB: physical = index * 2 MiB (high dword 0). */
    xor %ecx, %ecx
2:  mov %ecx, %eax
    shl $21, %eax
    or $PDE_2M, %eax
    mov %eax, pd(, %ecx, 8)
    inc %ecx
    cmp $2048, %ecx
    jne 2b

    mov %cr4, %eax
    or $CR4_PAE, %eax
    mov %eax, %cr4
    mov $pml4, %eax
    mov %eax, %cr3
    mov $MSR_EFER, %ecx
    rdmsr
    or $EFER_LME, %eax
    wrmsr
    mov %cr0, %eax
    or $(CR0_PG | CR0_PE), %eax
    mov %eax, %cr0

    lgdt gdt64_desc
    ljmp $0x08, $long_entry

    .code64
long_entry:
    mov $0x10, %eax
    mov %eax, %ds
    mov %eax, %es
    mov %eax, %fs
    mov %eax, %gs
    mov %eax, %ss
    mov $stack_top, %rsp
    /* Upper halves are undefined after the mode switch: zero-extend. */
    mov %edi, %edi
    mov %esi, %esi
    call guest_main
    mov $0x7f, %edi
    call guest_exit

    /* 0x08: 64-bit code; 0x10: data. */
    .section .rodata
    .balign 8
gdt64:
    .quad 0
    .quad 0x00af9a000000ffff
    .quad 0x00cf92000000ffff
gdt64_end:
    .balign 4
    .word 0
gdt64_desc:
    .word gdt64_end - gdt64 - 1
    .long gdt64

    .bss
    .balign 4096
pml4:
    .skip 4096
pdpt:
    .skip 4096
pd:
    .skip 4 * 4096
    .balign 16
    .skip 16384
stack_top:

    .section .note.GNU-stack, "", @progbits
