"""A scripted node for the conformance kit: succeed, fail, fail-first-attempt or run-until-stopped."""
import os
import sys
import time

behaviour = sys.argv[1]
if behaviour == "fail" or (behaviour == "fail-first-attempt" and os.environ.get("MILLRACE_ATTEMPT") == "0"):
    sys.exit(3)
if behaviour == "run-until-stopped":
    while True:
        time.sleep(1)
