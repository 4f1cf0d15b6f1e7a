/*
 * Interrupt stubs for pit-irq (32-bit protected mode, flat segments).
 * pit_isr_timer counts a tick and acknowledges the master PIC.
 * pit_isr_exc_N (N = 0..31) report an unexpected exception and exit.
 *
 * Why no IRET: on a software KVM such as kvm_pvm every CPL0 instruction
 * goes through KVM's instruction emulator, which handles IRET only in
 * real mode and fails protected-mode IRET with an emulation error. The
 * handler returns with POPF (restores IF) and a far return that drops
 * the EFLAGS slot, which that emulator does handle. An IRQ taken in the
 * two-instruction window between them only nests one level.
 */
    .text
    .code32
    .globl pit_isr_timer
pit_isr_timer:
    push %eax
    lock incl pit_ticks
    mov $0x20, %al              /* non-specific EOI */
    outb %al, $0x20
    pop %eax
    pushl 8(%esp)               /* the interrupted EFLAGS */
    popfl
    lret $4                     /* pop EIP and CS, drop EFLAGS */

exc_common:
    cld
    call pit_unexpected_exception   /* (vector) on the stack; no return */
1:  cli
    hlt
    jmp 1b

    .macro exc_stub n
    .globl pit_isr_exc_\n
pit_isr_exc_\n:
    push $\n
    jmp exc_common
    .endm

    .irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
    exc_stub \n
    .endr

    /* Stub addresses by vector, for the IDT setup in C. */
    .section .rodata
    .balign 4
    .globl pit_exc_stubs
pit_exc_stubs:
    .irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
    .long pit_isr_exc_\n
    .endr

    .section .note.GNU-stack, "", @progbits
