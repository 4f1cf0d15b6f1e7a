"""HMP memory dumps read back by the tests: `x` (guest-virtual, through the
guest's page tables) against `xp` (guest-physical)."""
import re

UNMAPPED = 0xffff800000000000       # the 4-level hole below Linux's direct map


def dump_values(text):
    """The values of an HMP x/xp /Nx[bhwg] dump, in order."""
    assert "Cannot access" not in text, text
    return [int(v, 16) for v in re.findall(r"0x([0-9a-f]+)\b", text.split(":", 1)[1])]


def check_x_vs_xp(vm, label, virt, phys):
    """Assert that `x` at VIRT shows the 32 bytes `xp` shows at PHYS, that
    they are not all zero, that an unmapped address is refused, and that the
    monitor still answers. Returns the bytes."""
    hmp = lambda line: vm.qmp("human-monitor-command", command_line=line)  # noqa: E731
    x = hmp(f"x /32xb {virt:#x}")
    xp = hmp(f"xp /32xb {phys:#x}")
    vx, vp = dump_values(x), dump_values(xp)
    assert len(vx) == 32 and vx == vp, f"{label}: x and xp differ:\n{x}\n{xp}"
    assert any(vx), f"{label}: {virt:#x} reads as zeroes:\n{x}"
    assert x.startswith(f"{virt:016x}:"), x
    bad = hmp(f"x /2xg {UNMAPPED:#x}")
    assert "Cannot access memory" in bad, bad
    assert hmp("info status").startswith("VM status: running"), "monitor stuck"
    return vx
