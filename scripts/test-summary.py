#!/usr/bin/env python3
"""Print one line `tests: N passed, M failed, K skipped` from meson test logs.

Each argument is a meson build directory whose meson-logs/testlog.json
holds the last `meson test` run. Exits 1 if any test failed or a log is
missing (a suite that never ran is a failure, not a pass).
"""
import json
import os
import sys

PASS = {"OK", "EXPECTEDFAIL"}
SKIP = {"SKIP"}


def main():
    passed = failed = skipped = 0
    missing = []
    for build in sys.argv[1:]:
        path = os.path.join(build, "meson-logs", "testlog.json")
        if not os.path.exists(path):
            missing.append(path)
            continue
        with open(path) as f:
            for line in f:
                if not line.strip():
                    continue
                result = json.loads(line).get("result")
                if result in PASS:
                    passed += 1
                elif result in SKIP:
                    skipped += 1
                else:
                    failed += 1
    for path in missing:
        print(f"missing test log: {path}")
    print(f"tests: {passed} passed, {failed} failed, {skipped} skipped")
    return 1 if failed or missing else 0


if __name__ == "__main__":
    sys.exit(main())
