/*
 * Trap stubs for the long-mode system test guests (paging, exceptions,
 * usermode). Each stub pushes a zero error code when the CPU pushes none,
 * then the vector and every GPR, and calls sys64_trap(frame) (the guest's
 * C handler, which may change the frame, e.g. the return RIP); IRETQ then
 * resumes from the frame. sys64_syscall_entry is the LSTAR target: it
 * calls sys64_syscall(rax) on the user stack (rcx/r11 preserved) and
 * returns with SYSRETQ.
 */
    .text
    .code64

    .macro push_gprs
    push %rax
    push %rcx
    push %rdx
    push %rbx
    push %rbp
    push %rsi
    push %rdi
    push %r8
    push %r9
    push %r10
    push %r11
    push %r12
    push %r13
    push %r14
    push %r15
    .endm

    .macro pop_gprs
    pop %r15
    pop %r14
    pop %r13
    pop %r12
    pop %r11
    pop %r10
    pop %r9
    pop %r8
    pop %rdi
    pop %rsi
    pop %rbp
    pop %rbx
    pop %rdx
    pop %rcx
    pop %rax
    .endm

trap_common:
    push_gprs
    cld
    mov %rsp, %rdi
    mov %rsp, %rbx
    and $-16, %rsp
    call sys64_trap
    mov %rbx, %rsp
    pop_gprs
    add $16, %rsp               /* vector, error code */
    iretq

    .macro stub n, has_error
    .globl sys64_stub_\n
sys64_stub_\n:
    .if \has_error == 0
    push $0
    .endif
    push $\n
    jmp trap_common
    .endm

    .irp n, 0,1,2,3,4,5,6,7,9,15,16,18,19,20,21,22,23,24,25,26,27,28,29,30,31,128,129
    stub \n, 0
    .endr
    .irp n, 8,10,11,12,13,14,17
    stub \n, 1
    .endr

    .weak sys64_syscall           /* only usermode.c provides it */
    .globl sys64_syscall_entry
sys64_syscall_entry:
    push %rcx
    push %r11
    push %rbp
    mov %rsp, %rbp
    and $-16, %rsp
    mov %rax, %rdi
    call sys64_syscall
    mov %rbp, %rsp
    pop %rbp
    pop %r11
    pop %rcx
    sysretq

    /* Stub addresses for vectors 0..31, then 0x80 and 0x81. */
    .section .rodata
    .balign 8
    .globl sys64_stubs
sys64_stubs:
    .irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31,128,129
    .quad sys64_stub_\n
    .endr

    .section .note.GNU-stack, "", @progbits
