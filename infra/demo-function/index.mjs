/**
 * Demo function for kinesis-telemetry: a small order-pricing handler that
 * logs the way real functions do (structured objects, plain text with
 * non-ASCII characters, warnings and errors), so every kind of `function`
 * telemetry reaches the stream. Deployed unchanged by the Pulumi program and
 * run unchanged by the local sandbox.
 *
 * Event fields (all optional):
 * - `style`: "text" (default) logs plain lines, "json" logs structured objects.
 * - `fail`: true makes the handler throw after logging.
 * - `logLines` / `lineBytes`: also log that many lines of that many bytes
 *   (UTF-8) each, for load tests.
 * - `delayMs`: how long the simulated stock lookup takes (default 2).
 * - `items`: the order lines to price, e.g. `[{ "sku": "A-1", "qty": 2, "price": 9.5 }]`.
 *
 * @module
 */

const GREETING = "héllo wörld ✓ 日本語 🚀";

const DEFAULT_ITEMS = [
  { sku: "TEA-GREEN", qty: 2, price: 4.5 },
  { sku: "MUG-BLUE", qty: 1, price: 12 },
];

/** A line of exactly `bytes` UTF-8 bytes (ASCII), labelled with its number. */
function fillerLine(index, bytes) {
  const label = `line ${index} `;
  if (bytes <= label.length) return label.slice(0, Math.max(bytes, 0));
  return label + "x".repeat(bytes - label.length);
}

/** Stands in for a downstream call (a stock service): resolves after `ms`. */
function checkStock(items, ms) {
  return new Promise((resolve) =>
    setTimeout(
      () => resolve(items.map((item) => ({ sku: item.sku, available: 3 }))),
      ms,
    )
  );
}

/** Prices an order. */
function priceOrder(items) {
  let total = 0;
  for (const item of items) {
    if (!(item.qty > 0)) {
      throw new RangeError(`invalid quantity for ${item.sku}`);
    }
    total += item.qty * item.price;
  }
  return Math.round(total * 100) / 100;
}

// Lambda sends SIGTERM to the runtime at SHUTDOWN when an extension is
// registered, and gives it up to 300 ms: log, then end (a listener keeps
// Node from exiting by itself).
process.on("SIGTERM", () => {
  console.log("SIGTERM received: the function is shutting down");
  console.info("SIGTERM handler done — bye ✓");
  process.exit(0);
});

/** Lambda entry point. */
export async function handler(event = {}, context = {}) {
  const started = Date.now();
  const style = event.style === "json" ? "json" : "text";
  const items = Array.isArray(event.items) ? event.items : DEFAULT_ITEMS;
  const requestId = context.awsRequestId;

  if (style === "json") {
    console.log({
      msg: "order received",
      requestId,
      items: items.length,
      greeting: GREETING,
    });
  } else {
    console.log(`order received: ${items.length} item(s) — ${GREETING}`);
  }

  const total = priceOrder(items);
  const stock = await checkStock(items, Number(event.delayMs ?? 2));
  if (total > 100) console.warn(`large order: ${total} EUR needs review`);
  else {console.warn(
      `stock level low for ${stock[0]?.sku ?? "?"} (${
        stock[0]?.available ?? 0
      } left)`,
    );}

  const lines = Number(event.logLines) || 0;
  const lineBytes = Number(event.lineBytes) || 100;
  for (let index = 0; index < lines; index++) {
    console.log(fillerLine(index, lineBytes));
  }

  if (event.fail) {
    console.error(
      style === "json"
        ? { msg: "payment declined", requestId }
        : "payment declined for this order",
    );
    throw new Error("payment declined (demo failure requested by the event)");
  }

  const result = {
    ok: true,
    total,
    currency: "EUR",
    elapsedMs: Date.now() - started,
  };
  if (style === "json") console.info({ msg: "order priced", ...result });
  else console.info(`order priced: total ${total} EUR ✓`);
  return result;
}
