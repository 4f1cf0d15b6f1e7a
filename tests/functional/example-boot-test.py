#!/usr/bin/env python3
"""The boot test to copy: boot the guest kit, run a command on its shell,
ask QMP for the run state, quit, check the SHUTDOWN event and exit status.
usage: example-boot-test.py KEMU KIT_DIR   (kit: python3 scripts/guest-kit.py)"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kemu_machine import Machine  # noqa: E402

kemu, kit = sys.argv[1], sys.argv[2]
args = ["-accel", "tcg", "-m", "512",
        "-kernel", os.path.join(kit, "vmlinuz"),
        "-initrd", os.path.join(kit, "initrd.img"),
        "-append", "console=ttyS0 quiet nokaslr tsc=reliable no_timer_check "
                   "cryptomgr.notests panic=-1"]

with Machine(kemu, args) as vm:
    vm.wait_for_console(r"KEMU-GUEST-READY", timeout=240)
    vm.console_write("uname -r\n")
    release = vm.wait_for_console(r"\n(\d+\.\d+\.\d+\S*)\r?\n", timeout=60).group(1)
    assert vm.qmp("query-status")["status"] == "running"
    status = vm.shutdown()
    event = vm.wait_event("SHUTDOWN", timeout=10)
    assert event["data"] == {"guest": False, "reason": "host-qmp-quit"}, event
    assert status == 0, f"kemu exit status {status}"

print(f"PASS: booted Linux {release}; query-status running; quit gave SHUTDOWN, exit 0")
