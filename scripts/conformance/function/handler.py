"""The function the conformance run invokes under AWS's emulator, through
AWS's runtime interface client (awslambdaric). Each invocation writes the
number of log lines it is asked for, each naming its request id and its
index, so the run can tell which lines must be in the stream."""

import os
import time


def handler(event, context):
    lines = int(event.get("lines", 0))
    for index in range(lines):
        # One write per line: in LMI mode several worker processes share the
        # emulator's log pipe, and print()'s separate write of the newline
        # lets their lines interleave.
        os.write(1, f"conformance line {index} of {context.aws_request_id}\n".encode())
    # A little work, so that LMI invocations overlap.
    time.sleep(float(event.get("sleepMs", 0)) / 1000)
    return {"requestId": context.aws_request_id, "lines": lines}
