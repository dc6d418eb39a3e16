#!/usr/bin/env python3
"""Summarise a meson testlog.json: count every cmocka test case (a test executable that is not
cmocka counts as one case) and print the closing line 'N passed, M failed'."""
import json
import re
import sys

passed = failed = 0
executables = 0
for line in open(sys.argv[1]):
    t = json.loads(line)
    executables += 1
    out = t.get("stdout") or ""
    ok = t["result"] in ("OK", "EXPECTEDFAIL")
    started = len(re.findall(r"^\[ RUN      \] ", out, re.M))
    cases_ok = len(re.findall(r"^\[       OK \] ", out, re.M))
    cases_bad = started - cases_ok
    if cases_ok or cases_bad:
        passed += cases_ok
        failed += cases_bad
        if not ok and cases_bad == 0:
            failed += 1  # crashed or sanitizer report after its cases ran
    elif t["result"] == "SKIP":
        continue
    elif ok:
        passed += 1
    else:
        failed += 1
print(f"{executables} test executables")
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
