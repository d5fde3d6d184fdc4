"""Add up meson (testlog.json) and pytest (JUnit XML) results into one line.

Prints "N passed, N failed" and exits 1 when anything failed or when no
test ran at all (a suite that silently ran nothing is a failure too).
Skipped pytest tests are reported separately and never counted as passed.
"""
import glob
import json
import os
import sys
import xml.etree.ElementTree as ET

results = sys.argv[1]
passed = failed = skipped = 0

for path in sorted(glob.glob(os.path.join(results, "unit-*.json"))):
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            t = json.loads(line)
            if t.get("result") == "OK":
                passed += 1
            elif t.get("result") == "SKIP":
                skipped += 1
            else:
                failed += 1
                print(f"FAILED unit {os.path.basename(path)}: {t.get('name')}")

for path in sorted(glob.glob(os.path.join(results, "bb-*.xml"))):
    root = ET.parse(path).getroot()
    suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
    for s in suites:
        for case in s.findall("testcase"):
            if case.find("failure") is not None or case.find("error") is not None:
                failed += 1
                print(f"FAILED {os.path.basename(path)}: {case.get('classname')}::{case.get('name')}")
            elif case.find("skipped") is not None:
                skipped += 1
            else:
                passed += 1

# A suite that was started but left no result file crashed: count it as failed.
for marker in sorted(glob.glob(os.path.join(results, "*.expected"))):
    base = marker[: -len(".expected")]
    if not (os.path.exists(base + ".xml") or os.path.exists(base + ".json")):
        failed += 1
        print(f"FAILED {os.path.basename(base)}: produced no results")
if passed == 0:
    print("no test ran")
    failed += 1
suffix = f", {skipped} skipped" if skipped else ""
print(f"{passed} passed, {failed} failed{suffix}")
sys.exit(1 if failed else 0)
