/*
 * Multiboot v1 header and 32-bit entry for the protected-mode guests.
 * The loader enters at _start in flat 32-bit protected mode with
 * EAX = magic and EBX = information address, but with no GDT we may
 * rely on: load our own before touching segment registers, then call
 * guest_main(magic, info). guest_main should not return; if it does the
 * guest exits with EXIT_FAIL (0x7f).
 */
#define MB_MAGIC 0x1BADB002
#define MB_FLAGS 0x00000003     /* page-align modules, want memory info */

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
    lgdt guest_gdt32_desc
    ljmp $0x08, $1f
1:  mov $0x10, %ecx
    mov %ecx, %ds
    mov %ecx, %es
    mov %ecx, %fs
    mov %ecx, %gs
    mov %ecx, %ss
    mov $stack_top, %esp
    push %ebx
    push %eax
    call guest_main
    push $0x7f
    call guest_exit

    /* Flat segments: 0x08 code, 0x10 data. Also used by the smp AP. */
    .section .rodata
    .balign 8
    .globl guest_gdt32
guest_gdt32:
    .quad 0
    .quad 0x00cf9a000000ffff
    .quad 0x00cf92000000ffff
guest_gdt32_end:
    .balign 4
    .word 0
    .globl guest_gdt32_desc
guest_gdt32_desc:
    .word guest_gdt32_end - guest_gdt32 - 1
    .long guest_gdt32

    .bss
    .balign 16
    .skip 16384
stack_top:

    .section .note.GNU-stack, "", @progbits
