/*
 * The command line, in QEMU's spellings. cmdline_parse() only checks and
 * records; main() acts on the result.
 */
#ifndef SYSTEM_CMDLINE_H
#define SYSTEM_CMDLINE_H

#include <stdbool.h>
#include <glib.h>
#include "system/machine.h"

typedef enum CmdlineAction {
    CMDLINE_RUN,          /* start the VM */
    CMDLINE_EXIT,         /* -help, -version, "help" listings: printed, exit 0 */
} CmdlineAction;

typedef struct KemuOptions {
    MachineConfig mc;
    const char *accel;            /* "kvm", "tcg", or NULL for the default */
    bool nographic;
    bool display_none;
    GPtrArray *serials;           /* -serial specs, in order */
    GPtrArray *chardevs;          /* -chardev strings */
    GPtrArray *devices;           /* -device strings */
    GPtrArray *netdevs;           /* -netdev strings */
    GPtrArray *nics;              /* -nic strings */
    GPtrArray *drives;            /* -drive strings */
    GPtrArray *blockdevs;         /* -blockdev strings */
    const char *name;             /* -name */
    GPtrArray *qmps;              /* -qmp specs */
    GPtrArray *monitors;          /* -monitor specs */
    GPtrArray *mons;              /* -mon strings */
    bool start_paused;            /* -S */
    const char *pidfile;          /* -pidfile */
    bool daemonize;               /* -daemonize (checked against stdio users) */
} KemuOptions;

/*
 * Parse argv into @o (which the caller zeroes). Returns false with @errp
 * set to a one-line message naming the option on any error; "help"
 * requests print their listing and set *@action to CMDLINE_EXIT.
 */
bool cmdline_parse(int argc, char **argv, KemuOptions *o, CmdlineAction *action,
                   GError **errp);
void cmdline_free(KemuOptions *o);

#endif
