/**
 * A small Node.js runtime interface client for the local sandbox: loads the
 * handler module from LAMBDA_TASK_ROOT, then loops on the Runtime API
 * (`invocation/next` → handler → `response` / `error`). Like Lambda's own
 * Node runtime it patches `console` so every message becomes one line:
 * tab-separated in the Text log format, a JSON object in the JSON format.
 *
 * Plain `node:http` on purpose: `fetch` (undici) gives up on a long poll
 * after 300 s, and a frozen environment can wait longer than that.
 *
 * @module
 */
import { AsyncLocalStorage } from "node:async_hooks";
import http from "node:http";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import util from "node:util";

const [apiHost, apiPort] = (process.env.AWS_LAMBDA_RUNTIME_API ?? "").split(
  ":",
);
// Lambda Managed Instances: the Node.js runtime runs this many invocations
// at once in one process (AWS_LAMBDA_MAX_CONCURRENCY is set only there).
const CONCURRENCY = Math.max(
  1,
  Math.floor(Number(process.env.AWS_LAMBDA_MAX_CONCURRENCY)) || 1,
);
const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
const BASE = "/2018-06-01/runtime";
const LOG_LEVELS = ["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"];

/** The request id of the invocation whose code is running (one per async context). */
const invocationContext = new AsyncLocalStorage();
const currentRequestIdOf = () => invocationContext.getStore();

/** Sends one request to the Runtime API; resolves with status, headers and body text. */
function call(method, path, body, headers = {}) {
  return new Promise((resolve, reject) => {
    const request = http.request({
      host: apiHost,
      port: Number(apiPort),
      method,
      path,
      agent,
      headers: {
        ...(body !== undefined
          ? {
            "content-type": "application/json",
            "content-length": Buffer.byteLength(body),
          }
          : {}),
        ...headers,
      },
    }, (response) => {
      const chunks = [];
      response.on("data", (chunk) => chunks.push(chunk));
      response.on("end", () =>
        resolve({
          status: response.statusCode,
          headers: response.headers,
          body: Buffer.concat(chunks).toString("utf8"),
        }));
      response.on("error", reject);
    });
    request.on("error", reject);
    request.end(body);
  });
}

/** The error document Lambda expects. */
function errorDocument(error) {
  const isError = error instanceof Error;
  return {
    errorType: isError ? error.name : typeof error,
    errorMessage: isError ? error.message : String(error),
    stackTrace: isError && error.stack ? error.stack.split("\n") : [],
  };
}

/** One log line in the function's log format. */
function formatLog(level, params) {
  const timestamp = new Date().toISOString();
  if (process.env.AWS_LAMBDA_LOG_FORMAT !== "JSON") {
    // Lambda's runtime keeps a multi-line message on one line with \r.
    const message = util.format(...params).replace(/\n/g, "\r");
    return `${timestamp}\t${
      currentRequestIdOf() ?? "undefined"
    }\t${level}\t${message}`;
  }
  const entry = { timestamp, level, requestId: currentRequestIdOf() };
  if (params.length === 1 && !(params[0] instanceof Error)) {
    entry.message = params[0];
    try {
      return JSON.stringify(entry);
    } catch {
      entry.message = util.format(params[0]);
      return JSON.stringify(entry);
    }
  }
  entry.message = util.format(...params);
  const error = params.find((param) => param instanceof Error);
  if (error) Object.assign(entry, errorDocument(error));
  return JSON.stringify(entry);
}

function patchConsole() {
  const minimum = LOG_LEVELS.indexOf(
    // Lambda filters by level only in the JSON format (INFO by default).
    (process.env.AWS_LAMBDA_LOG_LEVEL ??
      (process.env.AWS_LAMBDA_LOG_FORMAT === "JSON" ? "INFO" : "TRACE"))
      .toUpperCase(),
  );
  const levels = {
    trace: "TRACE",
    debug: "DEBUG",
    info: "INFO",
    log: "INFO",
    warn: "WARN",
    error: "ERROR",
  };
  for (const [method, level] of Object.entries(levels)) {
    console[method] = (...params) => {
      if (LOG_LEVELS.indexOf(level) < minimum) return;
      process.stdout.write(`${formatLog(level, params)}\n`);
    };
  }
}

async function loadHandler() {
  const spec = process.env._HANDLER ?? "index.handler";
  const dot = spec.lastIndexOf(".");
  const moduleName = spec.slice(0, dot);
  const exportName = spec.slice(dot + 1);
  const root = process.env.LAMBDA_TASK_ROOT ?? process.cwd();
  const file = [".mjs", ".js", ".cjs"]
    .map((extension) => join(root, moduleName + extension))
    .find((candidate) => existsSync(candidate));
  if (!file) {
    throw Object.assign(
      new Error(`Cannot find module '${moduleName}' in ${root}`),
      {
        name: "Runtime.ImportModuleError",
      },
    );
  }
  const module = await import(pathToFileURL(file).href);
  const handler = module[exportName] ?? module.default?.[exportName];
  if (typeof handler !== "function") {
    throw Object.assign(new Error(`${spec} is undefined or not exported`), {
      name: "Runtime.HandlerNotFound",
    });
  }
  return handler;
}

/** Runs the handler with async or callback style. */
function runHandler(handler, event, context) {
  return new Promise((resolve, reject) => {
    const callback = (
      error,
      result,
    ) => (error ? reject(error) : resolve(result));
    try {
      const returned = handler(event, context, callback);
      if (returned && typeof returned.then === "function") {
        returned.then(resolve, reject);
      } else if (handler.length < 3) resolve(returned);
    } catch (error) {
      reject(error);
    }
  });
}

function contextFor(headers) {
  const deadline = Number(headers["lambda-runtime-deadline-ms"]);
  return {
    awsRequestId: headers["lambda-runtime-aws-request-id"],
    invokedFunctionArn: headers["lambda-runtime-invoked-function-arn"],
    functionName: process.env.AWS_LAMBDA_FUNCTION_NAME,
    functionVersion: process.env.AWS_LAMBDA_FUNCTION_VERSION,
    memoryLimitInMB: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
    logGroupName: process.env.AWS_LAMBDA_LOG_GROUP_NAME,
    logStreamName: process.env.AWS_LAMBDA_LOG_STREAM_NAME,
    callbackWaitsForEmptyEventLoop: true,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
  };
}

async function main() {
  patchConsole();
  let handler;
  try {
    handler = await loadHandler();
  } catch (error) {
    const document = errorDocument(error);
    console.error(error);
    await call("POST", `${BASE}/init/error`, JSON.stringify(document), {
      "Lambda-Runtime-Function-Error-Type": document.errorType,
    });
    process.exit(1);
  }
  await Promise.all(
    Array.from({ length: CONCURRENCY }, () => invocationLoop(handler)),
  );
}

/** Takes invocations one after another; CONCURRENCY of these run at once. */
async function invocationLoop(handler) {
  for (;;) {
    const next = await call("GET", `${BASE}/invocation/next`);
    if (next.status !== 200) {
      throw new Error(`invocation/next answered ${next.status}: ${next.body}`);
    }
    const requestId = next.headers["lambda-runtime-aws-request-id"];
    process.env._X_AMZN_TRACE_ID = next.headers["lambda-runtime-trace-id"] ??
      "";
    await invocationContext.run(requestId, () => invokeOnce(handler, next));
  }
}

/** Runs one invocation and posts its response or error. */
async function invokeOnce(handler, next) {
  const requestId = next.headers["lambda-runtime-aws-request-id"];
  try {
    const result = await runHandler(
      handler,
      JSON.parse(next.body),
      contextFor(next.headers),
    );
    await call(
      "POST",
      `${BASE}/invocation/${requestId}/response`,
      JSON.stringify(result ?? null),
    );
  } catch (error) {
    const document = errorDocument(error);
    console.error(`Invoke Error ${JSON.stringify(document)}`);
    await call(
      "POST",
      `${BASE}/invocation/${requestId}/error`,
      JSON.stringify(document),
      {
        "Lambda-Runtime-Function-Error-Type": document.errorType,
      },
    );
  }
}

main().catch((error) => {
  process.stderr.write(`runtime client failed: ${error?.stack ?? error}\n`);
  process.exit(1);
});
