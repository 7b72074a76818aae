"""A small Python runtime interface client for the local sandbox.

Loads the handler named by _HANDLER from LAMBDA_TASK_ROOT, then loops on the
Runtime API (invocation/next -> handler -> response / error). Like Lambda's
Python runtime, the root logger writes "[LEVEL]\t<time>\t<request id>\t<msg>"
lines in the Text log format and JSON objects in the JSON format; print()
output stays as it is (Lambda wraps it when the format is JSON).
"""

import http.client
import importlib
import json
import logging
import os
import sys
import time
import traceback
from datetime import datetime, timezone

BASE = "/2018-06-01/runtime"
API_HOST, API_PORT = os.environ["AWS_LAMBDA_RUNTIME_API"].split(":")
JSON_FORMAT = os.environ.get("AWS_LAMBDA_LOG_FORMAT") == "JSON"

current_request_id = None


def call(method, path, body=None, headers=None):
    """One Runtime API request without a timeout: /next waits as long as Lambda wants."""
    connection = http.client.HTTPConnection(API_HOST, int(API_PORT))
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return (
            response.status,
            {name.lower(): value for name, value in response.getheaders()},
            response.read(),
        )
    finally:
        connection.close()


def utc_timestamp(seconds):
    moment = datetime.fromtimestamp(seconds, tz=timezone.utc)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class LambdaLogFormatter(logging.Formatter):
    """Formats records the way Lambda's Python runtime does, per log format."""

    def format(self, record):
        if JSON_FORMAT:
            entry = {
                "timestamp": utc_timestamp(record.created),
                "level": record.levelname,
                "message": record.getMessage(),
                "logger": record.name,
            }
            if current_request_id:
                entry["requestId"] = current_request_id
            if record.exc_info:
                error = record.exc_info[1]
                entry["errorType"] = type(error).__name__
                entry["errorMessage"] = str(error)
                entry["stackTrace"] = traceback.format_tb(record.exc_info[2])
            return json.dumps(entry, ensure_ascii=False)
        message = record.getMessage().replace("\n", "\r")
        return "[%s]\t%s\t%s\t%s" % (
            record.levelname,
            utc_timestamp(record.created),
            current_request_id or "",
            message,
        )


def configure_logging():
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(LambdaLogFormatter())
    root = logging.getLogger()
    root.handlers = [handler]
    # Lambda filters by AWS_LAMBDA_LOG_LEVEL (INFO by default) only in the
    # JSON format; in Text the root logger keeps Python's WARNING default.
    default_level = "INFO" if JSON_FORMAT else "WARNING"
    root.setLevel(os.environ.get("AWS_LAMBDA_LOG_LEVEL", default_level).upper())


def error_document(error):
    return {
        "errorType": type(error).__name__,
        "errorMessage": str(error),
        "stackTrace": traceback.format_tb(error.__traceback__),
    }


class LambdaContext:
    """The context object handed to the handler."""

    def __init__(self, headers):
        self.aws_request_id = headers.get("lambda-runtime-aws-request-id")
        self.invoked_function_arn = headers.get("lambda-runtime-invoked-function-arn")
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION")
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME")
        self._deadline_ms = int(headers.get("lambda-runtime-deadline-ms", "0"))

    def get_remaining_time_in_millis(self):
        return max(0, self._deadline_ms - int(time.time() * 1000))


def load_handler():
    spec = os.environ.get("_HANDLER", "handler.handler")
    module_name, _, function_name = spec.rpartition(".")
    sys.path.insert(0, os.environ.get("LAMBDA_TASK_ROOT", os.getcwd()))
    module = importlib.import_module(module_name)
    handler = getattr(module, function_name, None)
    if not callable(handler):
        raise AttributeError("handler %s is not defined" % spec)
    return handler


def main():
    global current_request_id
    configure_logging()
    try:
        handler = load_handler()
    except Exception as error:  # noqa: BLE001 - every init failure is reported
        document = error_document(error)
        print(json.dumps(document), file=sys.stderr)
        call(
            "POST",
            BASE + "/init/error",
            json.dumps(document),
            {"Lambda-Runtime-Function-Error-Type": "Runtime.ImportModuleError"},
        )
        sys.exit(1)
    while True:
        status, headers, body = call("GET", BASE + "/invocation/next")
        if status != 200:
            raise RuntimeError("invocation/next answered %d" % status)
        request_id = headers["lambda-runtime-aws-request-id"]
        current_request_id = request_id
        os.environ["_X_AMZN_TRACE_ID"] = headers.get("lambda-runtime-trace-id", "")
        try:
            result = handler(json.loads(body), LambdaContext(headers))
            call(
                "POST",
                "%s/invocation/%s/response" % (BASE, request_id),
                json.dumps(result, ensure_ascii=False).encode("utf-8"),
            )
        except Exception as error:  # noqa: BLE001 - the handler's failure goes to Lambda
            document = error_document(error)
            logging.getLogger().error("Invoke Error %s", json.dumps(document))
            call(
                "POST",
                "%s/invocation/%s/error" % (BASE, request_id),
                json.dumps(document),
                {"Lambda-Runtime-Function-Error-Type": document["errorType"]},
            )


if __name__ == "__main__":
    main()
