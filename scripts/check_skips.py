#!/usr/bin/python3
"""Fails when ctest skipped a test that the allow-list does not name.

Usage: check_skips.py CTEST_JUNIT_XML ALLOWED_SKIPS_FILE

A skipped test has not shown that what it covers works, so a suite that skips one is not
green by default. ALLOWED_SKIPS_FILE (docs/testing.md) names the tests that may be skipped,
one per line as "<test name> <reason>", where the name may end in '*' to take a prefix.
Prints one line per skipped test, allowed or not, and exits 1 if any is not allowed.
"""

import sys
import xml.etree.ElementTree as ElementTree


def read_allowed(path):
    allowed = []
    with open(path, encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            name, _, reason = line.partition(" ")
            if not reason.strip():
                sys.exit(f"{path}:{number}: '{name}' needs a reason after its name")
            allowed.append((name, reason.strip()))
    return allowed


def allowed_reason(test, allowed):
    for name, reason in allowed:
        if test == name or (name.endswith("*") and test.startswith(name[:-1])):
            return reason
    return None


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    junit, allowed_file = sys.argv[1:]
    allowed = read_allowed(allowed_file)
    not_allowed = 0
    for case in ElementTree.parse(junit).getroot().iter("testcase"):
        skipped = case.find("skipped") is not None or case.get("status") in ("notrun", "disabled")
        if not skipped or case.find("failure") is not None:
            continue
        name = case.get("name", "")
        reason = allowed_reason(name, allowed)
        if reason is None:
            not_allowed += 1
            print(f"skipped, NOT allowed: {name} (add it to {allowed_file} with its reason, "
                  "or make it run)")
        else:
            print(f"skipped, allowed: {name}: {reason}")
    if not_allowed:
        print(f"skip check: FAILED: {not_allowed} test(s) skipped that the allow-list does not name")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
