/*
 * realmode-hello entry: a flat real-mode image for linear 0x7c00, entered
 * either as 07c0:0000 (kemu's -device loader,addr=0x7c00,cpu-num=0) or
 * as 0000:7c00 (a BIOS booting it as a boot sector). Both name the same
 * linear address: re-enter through a far return as CS = linear >> 4,
 * IP = offset from the image start, so the C code (gcc -m16, linked at
 * 0) sees one flat 64 KiB segment with CS = DS = ES = SS.
 */
    .code16
    .section .text.start, "ax"
    .globl _start
_start:
    cli
    cld
    xor %ax, %ax
    mov %ax, %ss
    mov $0x7c00, %sp            /* a stack for the call below */
    call 1f
1:  pop %bx
    sub $(1b - _start), %bx     /* bx = IP of _start */
    shr $4, %bx                 /* _start is 16-byte aligned (0x7c00) */
    mov %cs, %ax
    add %bx, %ax                /* ax = linear(_start) >> 4 */
    push %ax
    push $(2f - _start)
    lret
2:  mov %ax, %ds
    mov %ax, %es
    mov %ax, %ss
    movl $0xfff0, %esp          /* esp, not sp: -m16 code uses 32-bit esp */
    calll realmode_main
3:  hlt
    jmp 3b

    .section .note.GNU-stack, "", @progbits
