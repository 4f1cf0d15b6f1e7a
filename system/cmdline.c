/* Command-line parsing (include/system/cmdline.h). */
#include <stdio.h>
#include <string.h>
#include "hw/device.h"
#include "kemu/error.h"
#include "kemu/log.h"
#include "system/cmdline.h"
#include "system/opts.h"
#include "target/x86/cpuid.h"

#define KEMU_VERSION "0.1.0"

typedef struct Option {
    const char *name;
    bool has_arg;
    const char *help;
} Option;

static const Option options[] = {
    { "accel", true, "kvm|tcg  select the accelerator (tcg: kemu's interpreter)" },
    { "append", true, "CMDLINE  kernel command line" },
    { "blockdev", true, "driver=file|raw,node-name=N,...  add a block node (raw images)" },
    { "chardev", true, "BACKEND,id=ID,...  create a character device" },
    { "cpu", true, "MODEL[,+feat,-feat]  CPU model (-cpu help lists them)" },
    { "D", true, "FILE  write log output to FILE" },
    { "d", true, "ITEM,...  enable log items (-d help lists them)" },
    { "daemonize", false, "run in the background once the machine is set up (see -pidfile)" },
    { "device", true, "DRIVER[,key=val...]  add a device (-device help lists them)" },
    { "display", true, "none  display back end (no window yet)" },
    { "drive", true, "file=F[,format=raw][,if=virtio|none][,id=][,cache=][,readonly=on]  add a disk" },
    { "enable-kvm", false, "same as -accel kvm" },
    { "h", false, "print this help" },
    { "help", false, "print this help" },
    { "initrd", true, "FILE[ ARGS][,FILE...]  initial ramdisk / multiboot modules" },
    { "kernel", true, "FILE  kernel image (multiboot)" },
    { "m", true, "SIZE  guest RAM (default 128M; bare numbers are MiB)" },
    { "M", true, "pc[,accel=kvm|tcg]  machine type" },
    { "machine", true, "pc[,accel=kvm|tcg]  machine type" },
    { "mon", true, "chardev=ID[,mode=readline|control]  a monitor on a -chardev" },
    { "monitor", true, "DEV  human monitor back end (stdio, unix:..., tcp:..., none)" },
    { "name", true, "NAME  name of the guest" },
    { "no-reboot", false, "exit instead of rebooting" },
    { "no-shutdown", false, "accepted for compatibility; a guest power-off still exits" },
    { "netdev", true, "user|tap,id=ID,...  add a network back end" },
    { "nic", true, "user|tap[,model=e1000|virtio-net-pci][,mac=][,...]  back end + NIC" },
    { "nographic", false, "no window; serial and monitor multiplexed on stdio" },
    { "pidfile", true, "FILE  write the process id to FILE (removed at exit)" },
    { "qmp", true, "DEV  QMP server (unix:PATH,server=on,wait=off or tcp:HOST:PORT,...)" },
    { "S", false, "start with the vCPUs paused (cont starts them)" },
    { "serial", true, "DEV  serial port back end (stdio, pty, file:F, tcp:..., unix:..., none)" },
    { "smp", true, "N[,cpus=N]  number of vCPUs" },
    { "version", false, "print the version" },
};

static const Option *find_option(const char *name)
{
    for (size_t i = 0; i < G_N_ELEMENTS(options); i++) {
        if (!strcmp(options[i].name, name)) {
            return &options[i];
        }
    }
    return NULL;
}

static void print_help(void)
{
    printf("usage: kemu [options]\n\nOptions (QEMU spellings):\n");
    for (size_t i = 0; i < G_N_ELEMENTS(options); i++) {
        printf("  -%-12s %s\n", options[i].name, options[i].help);
    }
    printf("\nDuring -nographic: C-a h for help, C-a x to quit.\n");
}

static bool parse_m(const char *arg, KemuOptions *o, GError **errp)
{
    g_autoptr(GError) err = NULL;
    Opts *opts = opts_parse(arg, "size", &err);
    uint64_t size = 0;
    bool ok = opts &&
              opts_get_size(opts, "size", 1 << 20, 128 << 20, &size, &err) &&
              opts_check_all_used(opts, "-m", &err);

    opts_free(opts);
    if (!ok) {
        error_setg(errp, "-m %s: %s", arg, err->message);
        return false;
    }
    if (size < (1 << 20)) {
        error_setg(errp, "-m %s: RAM size must be at least 1 MiB", arg);
        return false;
    }
    if (size > (1ull << 40)) {
        error_setg(errp, "-m %s: RAM size is larger than 1 TiB", arg);
        return false;
    }
    o->mc.ram_size = size & ~0xfffull;
    return true;
}

static bool parse_smp(const char *arg, KemuOptions *o, GError **errp)
{
    g_autoptr(GError) err = NULL;
    Opts *opts = opts_parse(arg, "cpus", &err);
    uint64_t n = 0, maxcpus = 0;
    bool ok = opts &&
              opts_get_u64(opts, "cpus", 1, &n, &err) &&
              opts_get_u64(opts, "maxcpus", 0, &maxcpus, &err) &&
              opts_check_all_used(opts, "-smp", &err);

    opts_free(opts);
    if (!ok) {
        error_setg(errp, "-smp %s: %s", arg, err->message);
        return false;
    }
    if (n == 0) {
        error_setg(errp, "-smp %s: the number of CPUs must be at least 1", arg);
        return false;
    }
    if (n > MACHINE_MAX_CPUS || (maxcpus && n > maxcpus)) {
        error_setg(errp, "-smp %s: at most %u CPUs are supported", arg,
                   maxcpus ? (unsigned)MIN(maxcpus, MACHINE_MAX_CPUS) : MACHINE_MAX_CPUS);
        return false;
    }
    o->mc.smp = n;
    return true;
}

static bool parse_accel(const char *opt, const char *name, KemuOptions *o, GError **errp)
{
    if (strcmp(name, "kvm") && strcmp(name, "tcg")) {
        error_setg(errp, "-%s %s: unknown accelerator (kvm or tcg)", opt, name);
        return false;
    }
    o->accel = g_intern_string(name);
    return true;
}

static bool parse_machine(const char *arg, KemuOptions *o, GError **errp)
{
    g_autoptr(GError) err = NULL;
    Opts *opts = opts_parse(arg, "type", &err);
    bool ok = false;

    if (!opts) {
        error_setg(errp, "-machine %s: %s", arg, err->message);
        return false;
    }
    const char *type = opts_get(opts, "type");
    const char *accel = opts_get(opts, "accel");
    if (type && !strcmp(type, "help")) {
        printf("Supported machines:\npc                   Standard PC (the default)\n");
        ok = true;
    } else if (type && strcmp(type, "pc") && strcmp(type, "pc-i440fx") &&
               strncmp(type, "pc-i440fx-", 10)) {
        error_setg(errp, "-machine %s: unsupported machine type '%s' (try -machine help)",
                   arg, type);
    } else if (accel && !parse_accel("machine accel=", accel, o, errp)) {
        /* error set */
    } else if (!opts_check_all_used(opts, "-machine", &err)) {
        error_setg(errp, "%s", err->message);
    } else {
        ok = true;
    }
    opts_free(opts);
    return ok;
}

static bool parse_display(const char *arg, KemuOptions *o, GError **errp)
{
    g_auto(GStrv) parts = g_strsplit(arg, ",", 2);

    if (!strcmp(parts[0], "none")) {
        o->display_none = true;
        return true;
    }
    if (!strcmp(parts[0], "sdl")) {
        error_setg(errp, "-display sdl: the SDL window is not available yet "
                   "(use -display none or -nographic)");
        return false;
    }
    error_setg(errp, "-display %s: unknown display (kemu supports: none)", arg);
    return false;
}

/* Options whose argument "help" prints a listing instead of running. */
static bool handle_help_arg(const char *name, const char *arg, bool *handled)
{
    *handled = false;
    if (strcmp(arg, "help") && strcmp(arg, "?")) {
        return true;
    }
    if (!strcmp(name, "device")) {
        device_type_list(stdout);
        *handled = true;
    } else if (!strcmp(name, "cpu")) {
        cpu_model_list(stdout);
        *handled = true;
    }
    return true;
}

static bool apply(const char *name, const char *arg, KemuOptions *o,
                  CmdlineAction *action, GError **errp)
{
    bool handled, help_shown;

    handle_help_arg(name, arg ? arg : "", &handled);
    if (handled) {
        *action = CMDLINE_EXIT;
        return true;
    }
    if (!strcmp(name, "m")) {
        return parse_m(arg, o, errp);
    } else if (!strcmp(name, "smp")) {
        return parse_smp(arg, o, errp);
    } else if (!strcmp(name, "accel")) {
        g_auto(GStrv) parts = g_strsplit(arg, ",", 2);
        if (parts[1]) {
            error_setg(errp, "-accel %s: options are not supported", arg);
            return false;
        }
        return parse_accel("accel", parts[0], o, errp);
    } else if (!strcmp(name, "enable-kvm")) {
        o->accel = "kvm";
    } else if (!strcmp(name, "M") || !strcmp(name, "machine")) {
        if (!strcmp(arg, "help")) {
            *action = CMDLINE_EXIT;
        }
        return parse_machine(arg, o, errp);
    } else if (!strcmp(name, "cpu")) {
        o->mc.cpu_model = arg;
    } else if (!strcmp(name, "kernel")) {
        o->mc.kernel = arg;
    } else if (!strcmp(name, "initrd")) {
        o->mc.initrd = arg;
    } else if (!strcmp(name, "append")) {
        o->mc.append = arg;
    } else if (!strcmp(name, "nographic")) {
        o->nographic = true;
    } else if (!strcmp(name, "display")) {
        return parse_display(arg, o, errp);
    } else if (!strcmp(name, "serial")) {
        g_ptr_array_add(o->serials, (gpointer)arg);
    } else if (!strcmp(name, "chardev")) {
        g_ptr_array_add(o->chardevs, (gpointer)arg);
    } else if (!strcmp(name, "device")) {
        g_ptr_array_add(o->devices, (gpointer)arg);
    } else if (!strcmp(name, "netdev")) {
        g_ptr_array_add(o->netdevs, (gpointer)arg);
    } else if (!strcmp(name, "nic")) {
        g_ptr_array_add(o->nics, (gpointer)arg);
    } else if (!strcmp(name, "drive")) {
        g_ptr_array_add(o->drives, (gpointer)arg);
    } else if (!strcmp(name, "blockdev")) {
        g_ptr_array_add(o->blockdevs, (gpointer)arg);
    } else if (!strcmp(name, "no-reboot")) {
        o->mc.no_reboot = true;
    } else if (!strcmp(name, "no-shutdown")) {
        o->mc.no_shutdown = true;
    } else if (!strcmp(name, "name")) {
        o->name = arg;
    } else if (!strcmp(name, "qmp")) {
        g_ptr_array_add(o->qmps, (gpointer)arg);
    } else if (!strcmp(name, "monitor")) {
        g_ptr_array_add(o->monitors, (gpointer)arg);
    } else if (!strcmp(name, "mon")) {
        g_ptr_array_add(o->mons, (gpointer)arg);
    } else if (!strcmp(name, "S")) {
        o->start_paused = true;
    } else if (!strcmp(name, "pidfile")) {
        o->pidfile = arg;
    } else if (!strcmp(name, "daemonize")) {
        o->daemonize = true;
    } else if (!strcmp(name, "d")) {
        if (!log_parse_items(arg, &help_shown, errp)) {
            return false;
        }
        if (help_shown) {
            *action = CMDLINE_EXIT;
        }
    } else if (!strcmp(name, "D")) {
        return log_set_file(arg, errp);
    } else if (!strcmp(name, "h") || !strcmp(name, "help")) {
        print_help();
        *action = CMDLINE_EXIT;
    } else if (!strcmp(name, "version")) {
        printf("kemu version " KEMU_VERSION " (QEMU-compatible command line)\n");
        *action = CMDLINE_EXIT;
    }
    return true;
}

/* Is @spec (a -serial/-monitor/-qmp value or a -chardev string) the stdio back end? */
static bool spec_is_stdio(const char *spec, bool chardev_opts)
{
    size_t n = strlen("stdio");

    if (!chardev_opts && g_str_has_prefix(spec, "mon:")) {
        spec += 4;
    }
    if (chardev_opts && g_str_has_prefix(spec, "backend=")) {
        spec += strlen("backend=");
    }
    return !strncmp(spec, "stdio", n) && (spec[n] == '\0' || spec[n] == ',');
}

/*
 * -daemonize closes stdin, stdout and stderr once the machine is set up, so
 * (as in QEMU) nothing may use them: no -nographic, no stdio chardev.
 */
static bool check_daemonize(const KemuOptions *o, GError **errp)
{
    const struct {
        const char *opt;
        const GPtrArray *specs;
        bool chardev_opts;          /* "BACKEND,id=..." rather than a -serial spec */
    } users[] = {
        { "-serial", o->serials, false },
        { "-monitor", o->monitors, false },
        { "-qmp", o->qmps, false },
        { "-chardev", o->chardevs, true },
    };

    if (o->nographic) {
        error_setg(errp, "-nographic cannot be used with -daemonize");
        return false;
    }
    for (size_t i = 0; i < G_N_ELEMENTS(users); i++) {
        for (guint j = 0; j < users[i].specs->len; j++) {
            const char *spec = users[i].specs->pdata[j];
            if (spec_is_stdio(spec, users[i].chardev_opts)) {
                error_setg(errp, "%s %s: cannot use stdio with -daemonize", users[i].opt, spec);
                return false;
            }
        }
    }
    return true;
}

bool cmdline_parse(int argc, char **argv, KemuOptions *o, CmdlineAction *action,
                   GError **errp)
{
    o->mc.ram_size = 128 << 20;
    o->mc.smp = 1;
    o->serials = g_ptr_array_new();
    o->chardevs = g_ptr_array_new();
    o->devices = g_ptr_array_new();
    o->netdevs = g_ptr_array_new();
    o->nics = g_ptr_array_new();
    o->drives = g_ptr_array_new();
    o->blockdevs = g_ptr_array_new();
    o->qmps = g_ptr_array_new();
    o->monitors = g_ptr_array_new();
    o->mons = g_ptr_array_new();
    *action = CMDLINE_RUN;

    for (int i = 1; i < argc && *action == CMDLINE_RUN; i++) {
        const char *a = argv[i];
        if (a[0] != '-' || !a[1]) {
            error_setg(errp, "%s: unexpected argument (options start with '-')", a);
            return false;
        }
        /* QEMU accepts --opt for -opt. */
        const char *name = a[1] == '-' ? a + 2 : a + 1;
        const Option *opt = find_option(name);
        if (!opt) {
            error_setg(errp, "%s: invalid option (try -help)", a);
            return false;
        }
        const char *arg = NULL;
        if (opt->has_arg) {
            if (i + 1 >= argc) {
                error_setg(errp, "%s: requires an argument", a);
                return false;
            }
            arg = argv[++i];
        }
        if (!apply(opt->name, arg, o, action, errp)) {
            return false;
        }
    }
    if (*action == CMDLINE_RUN && o->mc.initrd && !o->mc.kernel) {
        error_setg(errp, "-initrd requires -kernel");
        return false;
    }
    if (*action == CMDLINE_RUN && o->mc.append && !o->mc.kernel) {
        error_setg(errp, "-append requires -kernel");
        return false;
    }
    if (*action == CMDLINE_RUN && o->daemonize && !check_daemonize(o, errp)) {
        return false;
    }
    return true;
}

void cmdline_free(KemuOptions *o)
{
    g_ptr_array_free(o->serials, TRUE);
    g_ptr_array_free(o->chardevs, TRUE);
    g_ptr_array_free(o->devices, TRUE);
    g_ptr_array_free(o->netdevs, TRUE);
    g_ptr_array_free(o->nics, TRUE);
    g_ptr_array_free(o->drives, TRUE);
    g_ptr_array_free(o->blockdevs, TRUE);
    g_ptr_array_free(o->qmps, TRUE);
    g_ptr_array_free(o->monitors, TRUE);
    g_ptr_array_free(o->mons, TRUE);
}
