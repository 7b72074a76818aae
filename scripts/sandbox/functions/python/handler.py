"""A small Python function for the local sandbox: the same event contract as
the Node demo function (style, fail, logLines/lineBytes), logging with both
print() and the logging module, including non-ASCII text."""

import json
import logging
import signal
import sys

GREETING = "héllo wörld ✓ 日本語 🚀"

logger = logging.getLogger("demo")
# As real functions do: the root logger's default level is WARNING.
logger.setLevel(logging.INFO)


def on_sigterm(signum, frame):
    # Lambda's SIGTERM at SHUTDOWN (with an extension registered): up to 300 ms.
    print("SIGTERM received: the function is shutting down", flush=True)
    print("SIGTERM handler done — bye ✓", flush=True)
    sys.exit(0)


signal.signal(signal.SIGTERM, on_sigterm)


def filler_line(index, size):
    label = "line %d " % index
    if size <= len(label):
        return label[: max(size, 0)]
    return label + "x" * (size - len(label))


def handler(event, context):
    event = event or {}
    style = "json" if event.get("style") == "json" else "text"
    request_id = context.aws_request_id
    if style == "json":
        print(json.dumps({"msg": "order received", "requestId": request_id, "greeting": GREETING}, ensure_ascii=False))
    else:
        print("order received — " + GREETING)
    logger.warning("stock level low for TEA-GREEN (3 left)")
    for index in range(int(event.get("logLines") or 0)):
        print(filler_line(index, int(event.get("lineBytes") or 100)))
    if event.get("fail"):
        logger.error("payment declined for this order")
        raise RuntimeError("payment declined (demo failure requested by the event)")
    logger.info("order priced: total 21.0 EUR ✓")
    return {"ok": True, "total": 21.0, "currency": "EUR", "runtime": "python"}
