#!/usr/bin/env python3
"""test-disk.py's guest disk cases with the io_uring engine (aio=io_uring).

usage: test-disk-aio.py KEMU KIT_DIR CASE

Runs test-disk.py's CASE (rw, readonly, blockdev, sigkill, fs) unchanged,
except that every -drive and every -blockdev driver=file gets aio=io_uring.
If kemu warns that io_uring is unavailable (and falls back to threads), the
case still runs but the test reports SKIP (exit status 77): it did not test
io_uring.
Exit status: 0 pass, 1 fail, 77 skipped.
"""
import importlib.util
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import kemu_guest  # noqa: E402

spec = importlib.util.spec_from_file_location("test_disk", os.path.join(HERE, "test-disk.py"))
test_disk = importlib.util.module_from_spec(spec)
spec.loader.exec_module(test_disk)

FALLBACK = b"aio=io_uring unavailable"


def with_aio(args):
    """@args with aio=io_uring added to each -drive and -blockdev driver=file."""
    out = list(args)
    for i in range(len(out) - 1):
        if out[i] == "-drive" or (out[i] == "-blockdev" and "driver=file" in out[i + 1]):
            out[i + 1] += ",aio=io_uring"
    return out


class UringGuest(kemu_guest.Guest):
    """Guest, with every disk on aio=io_uring; remembers whether kemu fell back."""
    fell_back = False

    def __init__(self, kemu, kit, args, **kw):
        super().__init__(kemu, kit, with_aio(args), **kw)

    def wait_for(self, pattern, *a, **kw):
        r = super().wait_for(pattern, *a, **kw)
        UringGuest.fell_back |= FALLBACK in self.out
        return r

    def finish(self, *a, **kw):
        r = super().finish(*a, **kw)
        UringGuest.fell_back |= FALLBACK in self.out
        return r


def main():
    case = sys.argv[3]
    if case not in test_disk.CASES:
        print(f"FAIL: unknown case {case!r} ({', '.join(test_disk.CASES)})")
        return 1
    test_disk.Guest = UringGuest
    sys.argv = sys.argv[:4]
    status = test_disk.main()
    if status == 0 and UringGuest.fell_back:
        print("SKIP: kemu fell back to aio=threads (io_uring unavailable here); "
              "the case passed on threads")
        return 77
    if status == 0:
        print(f"PASS (aio=io_uring): disk-{case}")
    return status


if __name__ == "__main__":
    sys.exit(main())
