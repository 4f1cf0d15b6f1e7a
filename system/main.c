/*
 * kemu: parse the command line, build the machine, run the main loop.
 * The only place (with vCPU thread tops) that ends the process.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "accel/accel.h"
#include "block/block.h"
#include "chardev/chardev.h"
#include "hw/block/virtio-blk.h"
#include "hw/clock.h"
#include "hw/device.h"
#include "hw/loader.h"
#include "hw/x86/pc.h"
#include "kemu/error.h"
#include "kemu/log.h"
#include "monitor/monitor.h"
#include "net/net.h"
#include "system/bql.h"
#include "system/cmdline.h"
#include "system/cpus.h"
#include "system/mainloop.h"
#include "system/runstate.h"
#include "target/x86/cpuid.h"

static Machine machine;

/* Put the terminal back, then die of the same signal. */
static void fatal_signal(int sig)
{
    chardev_restore_terminals();
    signal(sig, SIG_DFL);
    raise(sig);
}

static void install_exit_handlers(void)
{
    static const int sigs[] = { SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT };

    atexit(chardev_restore_terminals);
    for (size_t i = 0; i < G_N_ELEMENTS(sigs); i++) {
        signal(sigs[i], fatal_signal);
    }
    /* A socket peer that goes away must not kill us. */
    signal(SIGPIPE, SIG_IGN);
}

/* -d startup: figures for bench/ (RSS overhead, instruction counts). */
static void report_memory(const Machine *m)
{
    g_autofree char *status = NULL;
    const char *hwm;

    if (!(log_mask & LOG_STARTUP)) {
        return;
    }
    /* VmHWM, not ru_maxrss: the latter includes the parent's RSS at fork. */
    if (!g_file_get_contents("/proc/self/status", &status, NULL, NULL) ||
        !(hwm = strstr(status, "VmHWM:"))) {
        return;
    }
    log_info("memory: peak RSS %ld KiB, guest RAM resident %" G_GUINT64_FORMAT " KiB",
             strtol(hwm + 6, NULL, 10), machine_ram_resident(m) >> 10);
    if (m->accel->insns_retired) {
        uint64_t n = 0;
        for (unsigned i = 0; i < m->ncpus; i++) {
            n += m->accel->insns_retired(m->cpus[i]);
        }
        log_info("guest instructions retired: %" G_GUINT64_FORMAT, n);
    }
}

static bool setup_chardevs(KemuOptions *o, GPtrArray *serials, GError **errp)
{
    for (guint i = 0; i < o->chardevs->len; i++) {
        const char *s = o->chardevs->pdata[i];
        g_autoptr(GError) err = NULL;
        Opts *opts = opts_parse(s, "backend", &err);
        Chardev *c = opts ? chardev_new_from_opts(opts, &err) : NULL;
        opts_free(opts);
        if (!c) {
            error_setg(errp, "-chardev %s: %s", s, err->message);
            return false;
        }
    }
    if (o->nographic && o->serials->len == 0) {
        g_ptr_array_add(o->serials, "mon:stdio");
    }
    for (guint i = 0; i < o->serials->len; i++) {
        const char *spec = o->serials->pdata[i];
        g_autoptr(GError) err = NULL;
        g_autofree char *label = g_strdup_printf("serial%u", i);
        Chardev *c = chardev_new_from_spec(label, spec, &err);
        if (!c && err) {
            error_setg(errp, "-serial %s: %s", spec, err->message);
            return false;
        }
        g_ptr_array_add(serials, c);
    }
    return true;
}

/*
 * -daemonize, as QEMU does it: fork before anything is set up (KVM file
 * descriptors and threads do not survive a fork), let the child build the
 * machine, and keep the parent waiting on a pipe so that the command's exit
 * status says whether start-up worked. daemon_fd is the child's write end.
 */
static int daemon_fd = -1;

/*
 * Fork. In the child returns 0 with daemon_fd set; the child continues in a
 * new session without a controlling terminal. In the parent (daemon_fd
 * stays -1) waits for the child's report and returns the exit status for
 * the command: 0 once the child said it is running, 1 if the child ended
 * first (it printed why on the shared stderr). Returns -1 with @errp set
 * if the fork itself failed.
 */
static int daemon_fork(GError **errp)
{
    int fds[2];
    pid_t pid;
    char report;
    ssize_t n;

    if (pipe(fds) < 0) {
        error_setg(errp, "-daemonize: pipe: %s", g_strerror(errno));
        return -1;
    }
    /* Buffered output would otherwise be written twice. */
    fflush(NULL);
    pid = fork();
    if (pid < 0) {
        error_setg(errp, "-daemonize: fork: %s", g_strerror(errno));
        close(fds[0]);
        close(fds[1]);
        return -1;
    }
    if (pid == 0) {
        close(fds[0]);
        /* Programs kemu runs (tap scripts) must not hold the parent up. */
        fcntl(fds[1], F_SETFD, FD_CLOEXEC);
        daemon_fd = fds[1];
        setsid();
        return 0;
    }
    close(fds[1]);
    do {
        n = read(fds[0], &report, 1);
    } while (n < 0 && errno == EINTR);
    close(fds[0]);
    if (n == 1 && report == 0) {
        return 0;
    }
    /* The child failed: let it finish printing before the shell prompt returns. */
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
    }
    return 1;
}

/*
 * The child is running: detach from the terminal (stdin, stdout and stderr
 * become /dev/null, as in QEMU; -D FILE still logs), then release the parent.
 */
static void daemon_ready(void)
{
    int null = open("/dev/null", O_RDWR);
    const char ok = 0;

    if (null >= 0) {
        dup2(null, STDIN_FILENO);
        dup2(null, STDOUT_FILENO);
        dup2(null, STDERR_FILENO);
        if (null > STDERR_FILENO) {
            close(null);
        }
    }
    if (write(daemon_fd, &ok, 1) != 1) {
        /* The parent is gone (killed): nobody is waiting for the report. */
    }
    close(daemon_fd);
    daemon_fd = -1;
}

/* Why the default accelerator was chosen; said once the machine is built. */
static const char *accel_why;

static bool choose_accel(Machine *m, const KemuOptions *o, GError **errp)
{
    if (o->accel) {
        /* cmdline.c accepted only names that accel_find() knows. */
        m->accel = accel_find(o->accel);
        if (!m->accel->available()) {
            error_setg(errp, "-accel %s: not available on this host (cannot open /dev/kvm)",
                       o->accel);
            return false;
        }
        return true;
    }
    m->accel = accel_choose_default(&accel_why, errp);
    return m->accel != NULL;
}

static bool build_machine(Machine *m, KemuOptions *o, GError **errp)
{
    g_autoptr(GPtrArray) serials = g_ptr_array_new();

    m->cfg = o->mc;
    m->ncpus = o->mc.smp;
    runstate_set_no_reboot(o->mc.no_reboot);
    if (o->mc.cpu_model) {
        m->cpu_model = cpu_model_parse(o->mc.cpu_model, errp);
        if (!m->cpu_model) {
            return false;
        }
    }
    if (!setup_chardevs(o, serials, errp) || !choose_accel(m, o, errp)) {
        return false;
    }
    m->pio = iobus_new("pio");
    m->mmio = iobus_new("mmio");
    if (!m->accel->init(m, errp) || !machine_ram_init(m, errp)) {
        return false;
    }
    for (unsigned i = 0; i < m->nr_ram; i++) {
        if (!m->accel->ram_map(m, &m->ram[i], errp)) {
            return false;
        }
    }
    x86_cpu_reset_state(&m->boot_state, true);
    if (!pc_init(m, (Chardev *const *)serials->pdata, serials->len, errp)) {
        return false;
    }
    /* -kernel first: a "-device loader,cpu-num=0" may then move the entry. */
    if (o->mc.kernel &&
        !loader_load_kernel(m, o->mc.kernel, o->mc.append, o->mc.initrd, errp)) {
        return false;
    }
    /* Block backends first: -device virtio-blk-pci,drive=ID looks them up. */
    for (guint i = 0; i < o->blockdevs->len; i++) {
        if (!blk_add_blockdev(o->blockdevs->pdata[i], errp)) {
            return false;
        }
    }
    for (guint i = 0; i < o->drives->len; i++) {
        if (!blk_add_drive(o->drives->pdata[i], errp)) {
            return false;
        }
    }
    /* Network back ends before -device: NICs find them by netdev=ID. */
    for (guint i = 0; i < o->netdevs->len; i++) {
        if (!net_netdev_create(o->netdevs->pdata[i], errp)) {
            return false;
        }
    }
    for (guint i = 0; i < o->devices->len; i++) {
        if (!device_create_from_string(m, o->devices->pdata[i], errp)) {
            return false;
        }
    }
    for (guint i = 0; i < o->nics->len; i++) {
        if (!net_nic_create(m, o->nics->pdata[i], errp)) {
            return false;
        }
    }
    /* After -device, so explicit addr= slots are taken first. */
    if (!virtio_blk_create_for_drives(m, errp)) {
        return false;
    }
    return cpus_init(m, errp);
}

int main(int argc, char **argv)
{
    struct timespec t0;
    KemuOptions opts = { 0 };
    CmdlineAction action;
    g_autoptr(GError) err = NULL;
    int status;

    clock_gettime(CLOCK_MONOTONIC, &t0);
    cpus_note_process_start(t0.tv_sec * 1000000000ll + t0.tv_nsec);
    install_exit_handlers();
    if (!cmdline_parse(argc, argv, &opts, &action, &err)) {
        log_err("%s", err->message);
        return 1;
    }
    if (action == CMDLINE_EXIT) {
        return 0;
    }
    if (opts.daemonize) {
        int parent_status = daemon_fork(&err);
        if (parent_status < 0) {
            log_err("%s", err->message);
            return 1;
        }
        if (daemon_fd < 0) {
            return parent_status;
        }
    }
    bql_lock();
    main_loop_init(&machine);
    if (!build_machine(&machine, &opts, &err)) {
        log_err("%s", err->message);
        return 1;
    }
    if (accel_why) {
        log_info("using accelerator %s (%s)", machine.accel->name, accel_why);
    }
    if (!monitor_init_from_options(&machine, &opts, &err)) {
        log_err("%s", err->message);
        return 1;
    }
    /* -S: the vCPUs and the virtual clock wait for cont. */
    if (opts.start_paused) {
        clock_pause();
    } else {
        runstate_set(RUN_STATE_RUNNING);
    }
    if (!cpus_start(&machine, opts.start_paused, &err)) {
        log_err("%s", err->message);
        return 1;
    }
    if (daemon_fd >= 0) {
        daemon_ready();
    }
    status = main_loop_run(&machine);
    report_memory(&machine);
    cpus_stop_threads(&machine);
    /* Let submitted disk writes finish before the process ends. */
    blk_close_all();
    chardev_cleanup_all();
    chardev_restore_terminals();
    cmdline_free(&opts);
    return status;
}
