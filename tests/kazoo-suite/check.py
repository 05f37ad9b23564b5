"""Compares a kazoo suite run (pytest's JUnit XML) with the failures expected against Polis.

Every test not listed in `expected-failures` must pass (or be skipped); every listed one must
still fail, so that the list stays true, except those listed with a leading `?`, whose outcome
depends on a race inside the test itself. Prints the summary line and exits 0 only if all hold.
usage: check.py RESULTS_XML EXPECTED_FAILURES
"""

import sys
import xml.etree.ElementTree as ElementTree


def main():
    results, expected_file = sys.argv[1], sys.argv[2]
    expected, racy = set(), set()
    with open(expected_file) as lines:
        for line in lines:
            line = line.split("#", 1)[0].strip()
            if line.startswith("?"):
                racy.add(line[1:].strip())
            elif line:
                expected.add(line)
    passed, failed, skipped = set(), set(), set()
    for case in ElementTree.parse(results).getroot().iter("testcase"):
        name = f"{case.get('classname')}.{case.get('name')}"
        if case.find("failure") is not None or case.find("error") is not None:
            failed.add(name)
        elif case.find("skipped") is not None:
            skipped.add(name)
        else:
            passed.add(name)
    print(
        f"kazoo suite: {len(passed)} passed, {len(failed)} failed, "
        f"{len(skipped)} skipped ({len(failed & expected)} failures expected, "
        f"{len(failed & racy)} racy)"
    )
    unexpected = sorted(failed - expected - racy)
    fixed = sorted(expected - failed)
    for name in unexpected:
        print(f"unexpected failure: {name}")
    for name in fixed:
        print(f"expected to fail but did not (remove it from expected-failures): {name}")
    sys.exit(1 if unexpected or fixed else 0)


if __name__ == "__main__":
    main()
