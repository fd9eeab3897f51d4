"""Read a JUnit XML file with junitparser (an independent parser) and print,
as JSON, each suite's declared counts and the counts of its testcases'
elements: {"prolog": bool, "declared": <testsuites' counts>,
"suites": [{name, declared{tests,failures,errors,skipped}, counted{...}}]}. Exits 1 if junitparser cannot read it."""
import json
import sys

from junitparser import Error, Failure, JUnitXml, Skipped

path = sys.argv[1]
with open(path, "rb") as f:
    prolog = f.read(64).startswith(b"<?xml ")
xml = JUnitXml.fromfile(path)
suites = []
for suite in xml:
    counted = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    names = []
    for case in suite:
        counted["tests"] += 1
        names.append(case.name)
        kinds = [type(r) for r in case.result]
        counted["failures"] += kinds.count(Failure)
        counted["errors"] += kinds.count(Error)
        counted["skipped"] += kinds.count(Skipped)
    declared = {k: int(getattr(suite, k)) for k in counted}
    suites.append({"name": suite.name, "declared": declared, "counted": counted, "cases": names})
top = {k: int(getattr(xml, k)) for k in ("tests", "failures", "errors", "skipped")}
print(json.dumps({"prolog": prolog, "declared": top, "suites": suites}))
