/*
 * smp AP start-up code. The BSP copies smp_tramp_start..smp_tramp_end
 * to physical 0x8000 and sends SIPI vector 0x08, so the AP starts here
 * in real mode with CS = 0x0800, IP = 0: every reference inside the
 * trampoline is an offset from smp_tramp_start. It loads the guest's
 * flat GDT (lib/entry32.S), sets CR0.PE and far-jumps into the image
 * proper (linked at 1 MiB), which sets up a stack and calls smp_ap_main.
 */
#define TRAMP_OFF(sym) ((sym) - smp_tramp_start)

    .text
    .code16
    .globl smp_tramp_start, smp_tramp_end
smp_tramp_start:
    cli
    cld
    lgdtl %cs:TRAMP_OFF(tramp_gdt_desc)
    mov %cr0, %eax
    or $1, %eax
    mov %eax, %cr0
    ljmpl $0x08, $ap_entry32

    .balign 4
    .word 0
tramp_gdt_desc:
    .word 23                    /* three descriptors */
    .long guest_gdt32
smp_tramp_end:

    .code32
ap_entry32:
    mov $0x10, %eax
    mov %eax, %ds
    mov %eax, %es
    mov %eax, %fs
    mov %eax, %gs
    mov %eax, %ss
    mov $ap_stack_top, %esp
    call smp_ap_main
1:  cli
    hlt
    jmp 1b

    .bss
    .balign 16
    .skip 4096
ap_stack_top:

    .section .note.GNU-stack, "", @progbits
