/**
 * Splits a Telemetry API body — a JSON array of events — into the raw bytes
 * of each element, validating the JSON on the way, without building any
 * value. Numbers such as `12345678901234567891` or `1e400`, duplicate keys
 * and escapes stay exactly as Lambda wrote them, because the envelope is
 * made of these bytes, not of a parse + stringify round trip.
 *
 * One pass over the bytes, no recursion: nesting is tracked in a byte stack,
 * so a 20,000-deep element costs 20 KB, not a stack overflow. On the way it
 * notes the spans of what the extension needs from an event (`time`, `type`,
 * `record`, and `record.requestId`), taking the last of duplicate keys as
 * `JSON.parse` does.
 *
 * @module
 */
import type { RawTelemetryEvent } from "./types.ts";

/** The body is not a JSON array of values: the whole delivery is refused. */
export class JsonSyntaxError extends Error {
  /** Names this error class in stack traces and logs. */
  override name = "JsonSyntaxError";
}

/** Byte range `[start, end)` in the body. */
export interface Span {
  /** First byte. */
  start: number;
  /** One past the last byte. */
  end: number;
}

/** What the scanner found about one element of the array. */
export interface ScannedElement {
  /** The element's bytes, from its first to its last token. */
  span: Span;
  /** First byte of the element: `{` for an object. */
  firstByte: number;
  /** Deepest nesting inside the element (0 for a scalar, 1 for `{}`). */
  depth: number;
  /** Offsets of CR and LF bytes between tokens (never inside strings). */
  lineBreaks: number[] | undefined;
  /** Value of the element's last `time` member. */
  time: Span | undefined;
  /** Value of the element's last `type` member. */
  type: Span | undefined;
  /** Value of the element's last `record` member. */
  record: Span | undefined;
  /** Value of the last `requestId` member of the `record` object. */
  requestId: Span | undefined;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;

// What the scanner accepts next.
const VALUE = 0;
const VALUE_OR_CLOSE = 1;
const KEY = 2;
const KEY_OR_CLOSE = 3;
const COLON_NEXT = 4;
const COMMA_OR_CLOSE = 5;

// Members the scanner keeps track of.
const OTHER = 0;
const TIME = 1;
const TYPE = 2;
const RECORD = 3;
const REQUEST_ID = 4;

const ESCAPABLE = new Uint8Array(128);
for (const c of '"\\/bfnrt') ESCAPABLE[c.charCodeAt(0)] = 1;
const HEX = new Uint8Array(128);
for (const c of "0123456789abcdefABCDEF") HEX[c.charCodeAt(0)] = 1;

const strictUtf8 = new TextDecoder("utf-8", { fatal: true });
const lenientUtf8 = new TextDecoder("utf-8");
const NULL_BYTES = new TextEncoder().encode("null");

/**
 * Deepest nesting an event may have (the event object itself counts 1).
 * Consumers parse envelopes with recursive parsers (Python's `json` stops
 * near 1,000 levels, `JSON.stringify` throws far earlier than V8's parser),
 * so a deeper event is dropped alone as `invalid_event` rather than shipped
 * to break them.
 */
export const MAX_EVENT_DEPTH = 512;

/** What a scan noticed on the way, besides the elements. */
export interface ScanReport {
  /**
   * Whether any string held a byte of 0x80 or more. Only then can the body
   * be invalid UTF-8 (outside strings such a byte is a syntax error), so
   * only then is a UTF-8 check worth its cost.
   */
  nonAscii: boolean;
}

let sawNonAscii = false;

/**
 * Scans `body` as a JSON array and returns its elements in order; fills
 * `report` when given.
 *
 * @throws JsonSyntaxError when the body is not exactly one JSON array
 * (with optional surrounding whitespace), naming the offending byte.
 */
export function scanEventArray(
  body: Uint8Array,
  report?: ScanReport,
): ScannedElement[] {
  sawNonAscii = false;
  const elements = scanElements(body);
  if (report) report.nonAscii = sawNonAscii;
  return elements;
}

function scanElements(body: Uint8Array): ScannedElement[] {
  const length = body.byteLength;
  const elements: ScannedElement[] = [];
  let stack = new Uint8Array(64);
  let depth = 0;
  let at = skipSpace(body, 0, undefined);
  if (body[at] !== OPEN_ARRAY) fail(body, at, "expected [");
  stack[depth++] = OPEN_ARRAY;
  at++;
  let expect = VALUE_OR_CLOSE;
  let lastTokenEnd = at;
  let element: ScannedElement | undefined;
  // Member tracking: the element object is at depth 2, `record`'s object at 3.
  let memberKey = OTHER;
  let memberStart = 0;
  let inRecord = false;
  let recordKey = OTHER;
  let recordStart = 0;
  let keyId = OTHER;

  const closeMember = (): void => {
    if (!element) return;
    if (depth === 2 && memberKey !== OTHER) {
      const span = { start: memberStart, end: lastTokenEnd };
      if (memberKey === TIME) element.time = span;
      else if (memberKey === TYPE) element.type = span;
      else element.record = span;
      memberKey = OTHER;
    } else if (depth === 3 && inRecord && recordKey === REQUEST_ID) {
      element.requestId = { start: recordStart, end: lastTokenEnd };
      recordKey = OTHER;
    }
  };

  while (depth > 0) {
    at = skipSpace(body, at, element);
    if (at >= length) fail(body, at, "unexpected end of body");
    const byte = body[at];
    if (expect === COMMA_OR_CLOSE || expect === VALUE_OR_CLOSE) {
      const top = stack[depth - 1];
      if (
        (byte === CLOSE_ARRAY && top === OPEN_ARRAY) ||
        (byte === CLOSE_OBJECT && top === OPEN_OBJECT &&
          expect === COMMA_OR_CLOSE)
      ) {
        closeMember();
        if (depth === 3 && inRecord) inRecord = false;
        depth--;
        at++;
        if (depth === 0) {
          if (element) elements.push(finish(element, lastTokenEnd));
          break;
        }
        lastTokenEnd = at;
        expect = COMMA_OR_CLOSE;
        continue;
      }
      if (expect === COMMA_OR_CLOSE) {
        if (byte !== COMMA) fail(body, at, "expected , or a closing bracket");
        closeMember();
        if (depth === 1 && element) {
          elements.push(finish(element, lastTokenEnd));
          element = undefined;
        }
        at++;
        expect = top === OPEN_OBJECT ? KEY : VALUE;
        continue;
      }
      // An array's first value follows.
    } else if (expect === KEY || expect === KEY_OR_CLOSE) {
      if (byte === CLOSE_OBJECT && expect === KEY_OR_CLOSE) {
        depth--;
        at++;
        lastTokenEnd = at;
        expect = COMMA_OR_CLOSE;
        if (depth === 2 && inRecord) inRecord = false;
        continue;
      }
      if (byte !== QUOTE) fail(body, at, "expected a member name");
      const end = scanString(body, at);
      keyId = OTHER;
      if (depth === 2 && element?.firstByte === OPEN_OBJECT) {
        keyId = classifyKey(body, at, end, false);
      } else if (depth === 3 && inRecord) {
        keyId = classifyKey(body, at, end, true);
      }
      at = end;
      lastTokenEnd = at;
      expect = COLON_NEXT;
      continue;
    } else if (expect === COLON_NEXT) {
      if (byte !== COLON) fail(body, at, "expected :");
      at++;
      expect = VALUE;
      continue;
    }

    // A value starts here.
    if (depth === 1) {
      element = {
        span: { start: at, end: at },
        firstByte: byte,
        depth: 0,
        lineBreaks: undefined,
        time: undefined,
        type: undefined,
        record: undefined,
        requestId: undefined,
      };
    } else if (depth === 2 && keyId !== OTHER) {
      memberKey = keyId;
      memberStart = at;
      // A later `record` replaces an earlier one, its requestId too.
      if (keyId === RECORD && element) element.requestId = undefined;
    } else if (depth === 3 && inRecord && keyId === REQUEST_ID) {
      recordKey = keyId;
      recordStart = at;
    }
    if (byte === OPEN_OBJECT || byte === OPEN_ARRAY) {
      if (depth === stack.length) {
        const grown = new Uint8Array(stack.length * 2);
        grown.set(stack);
        stack = grown;
      }
      if (depth === 2 && keyId === RECORD && byte === OPEN_OBJECT) {
        inRecord = true;
      }
      stack[depth++] = byte;
      if (element && depth - 1 > element.depth) element.depth = depth - 1;
      at++;
      keyId = OTHER;
      expect = byte === OPEN_OBJECT ? KEY_OR_CLOSE : VALUE_OR_CLOSE;
      continue;
    }
    if (byte === QUOTE) at = scanString(body, at);
    else if (byte === 0x2d || (byte >= 0x30 && byte <= 0x39)) {
      at = scanNumber(body, at);
    } else if (byte === 0x74) at = scanLiteral(body, at, "true");
    else if (byte === 0x66) at = scanLiteral(body, at, "false");
    else if (byte === 0x6e) at = scanLiteral(body, at, "null");
    else fail(body, at, "expected a value");
    keyId = OTHER;
    lastTokenEnd = at;
    expect = COMMA_OR_CLOSE;
  }
  at = skipSpace(body, at, undefined);
  if (at !== length) fail(body, at, "unexpected data after the array");
  return elements;
}

function finish(element: ScannedElement, end: number): ScannedElement {
  element.span.end = end;
  return element;
}

/** Skips JSON whitespace; notes line breaks inside an element. */
function skipSpace(
  body: Uint8Array,
  at: number,
  element: ScannedElement | undefined,
): number {
  while (at < body.byteLength) {
    const byte = body[at];
    if (byte === 0x20 || byte === 0x09) at++;
    else if (byte === 0x0a || byte === 0x0d) {
      if (element) (element.lineBreaks ??= []).push(at);
      at++;
    } else break;
  }
  return at;
}

// What a byte inside a string literal is: the table costs one load per
// byte where comparisons cost four (most of a delivery is log text).
const PLAIN = 0;
const NON_ASCII = 1;
const SPECIAL = 2;
const STRING_BYTE = new Uint8Array(256);
for (let byte = 0; byte < 256; byte++) {
  STRING_BYTE[byte] = byte < 0x20 || byte === QUOTE || byte === BACKSLASH
    ? SPECIAL
    : byte >= 0x80
    ? NON_ASCII
    : PLAIN;
}

/** Validates the string starting at `at` (a quote); returns the offset after it. */
function scanString(body: Uint8Array, at: number): number {
  const length = body.byteLength;
  let i = at + 1;
  while (i < length) {
    const byte = body[i];
    const kind = STRING_BYTE[byte];
    if (kind === PLAIN) {
      i++;
      continue;
    }
    if (kind === NON_ASCII) {
      sawNonAscii = true;
      i++;
      continue;
    }
    if (byte === QUOTE) return i + 1;
    if (byte === BACKSLASH) {
      const next = body[i + 1];
      if (next === 0x75) {
        for (let h = 2; h < 6; h++) {
          const digit = body[i + h];
          if (digit === undefined || digit >= 128 || !HEX[digit]) {
            fail(body, i, "bad \\u escape");
          }
        }
        i += 6;
      } else if (next !== undefined && next < 128 && ESCAPABLE[next]) {
        i += 2;
      } else fail(body, i, "bad escape");
    } else {
      fail(body, i, "control character in a string");
    }
  }
  return fail(body, at, "unterminated string");
}

/** Validates the number starting at `at`; returns the offset after it. */
function scanNumber(body: Uint8Array, at: number): number {
  let i = at;
  if (body[i] === 0x2d) i++;
  if (body[i] === 0x30) i++;
  else if (body[i] >= 0x31 && body[i] <= 0x39) i = digits(body, i);
  else fail(body, i, "bad number");
  if (body[i] === 0x2e) {
    if (!isDigit(body[i + 1])) fail(body, i, "bad fraction");
    i = digits(body, i + 1);
  }
  if (body[i] === 0x65 || body[i] === 0x45) {
    i++;
    if (body[i] === 0x2b || body[i] === 0x2d) i++;
    if (!isDigit(body[i])) fail(body, i, "bad exponent");
    i = digits(body, i);
  }
  return i;
}

function digits(body: Uint8Array, at: number): number {
  while (isDigit(body[at])) at++;
  return at;
}

function isDigit(byte: number | undefined): boolean {
  return byte !== undefined && byte >= 0x30 && byte <= 0x39;
}

function scanLiteral(body: Uint8Array, at: number, word: string): number {
  for (let i = 0; i < word.length; i++) {
    if (body[at + i] !== word.charCodeAt(i)) fail(body, at, "bad literal");
  }
  return at + word.length;
}

const KEYS: readonly [Uint8Array, number][] = [
  [asciiBytes("time"), TIME],
  [asciiBytes("type"), TYPE],
  [asciiBytes("record"), RECORD],
];
const REQUEST_ID_KEY = asciiBytes("requestId");

function asciiBytes(text: string): Uint8Array {
  return Uint8Array.from(text, (c) => c.charCodeAt(0));
}

/**
 * Which tracked member the key literal `[start, end)` names, if any.
 * Compared on bytes: this runs for every member of every event, where
 * decoding each key into a string would cost more than the whole scan.
 */
function classifyKey(
  body: Uint8Array,
  start: number,
  end: number,
  inRecord: boolean,
): number {
  if (body.subarray(start + 1, end - 1).indexOf(BACKSLASH) !== -1) {
    // Escaped (e.g. "t\u0079pe"): rare, so decoding is fine.
    const name = end - start > 64 ? "" : decodeString(body, { start, end });
    if (inRecord) return name === "requestId" ? REQUEST_ID : OTHER;
    return name === "time"
      ? TIME
      : name === "type"
      ? TYPE
      : name === "record"
      ? RECORD
      : OTHER;
  }
  if (inRecord) {
    return sameBytes(body, start + 1, end - 1, REQUEST_ID_KEY)
      ? REQUEST_ID
      : OTHER;
  }
  for (const [key, id] of KEYS) {
    if (sameBytes(body, start + 1, end - 1, key)) return id;
  }
  return OTHER;
}

function sameBytes(
  body: Uint8Array,
  start: number,
  end: number,
  key: Uint8Array,
): boolean {
  if (end - start !== key.byteLength) return false;
  for (let i = 0; i < key.byteLength; i++) {
    if (body[start + i] !== key[i]) return false;
  }
  return true;
}

/**
 * The text of a string literal at `span` (quotes included), decoded as
 * `JSON.parse` would; the literal must be valid (the scanner checked it).
 */
export function decodeString(body: Uint8Array, span: Span): string {
  const inner = body.subarray(span.start + 1, span.end - 1);
  if (inner.byteLength <= SHORT_ASCII && isPlainAscii(inner)) {
    // Times, types and request ids: cheaper than a call into the decoder.
    // `apply` on the typed array: a spread would go through its iterator.
    return String.fromCharCode.apply(null, inner as unknown as number[]);
  }
  if (inner.indexOf(BACKSLASH) === -1) return strictUtf8.decode(inner);
  return JSON.parse(strictUtf8.decode(body.subarray(span.start, span.end)));
}

/** Longest string {@link decodeString} builds without the decoder. */
const SHORT_ASCII = 128;

function isPlainAscii(bytes: Uint8Array): boolean {
  for (let i = 0; i < bytes.byteLength; i++) {
    const byte = bytes[i];
    if (byte >= 0x80 || byte === BACKSLASH) return false;
  }
  return true;
}

// The type of the event before: most events of a delivery share it, and
// comparing its bytes costs less than decoding them again.
let lastTypeBytes = new Uint8Array(0);
let lastType = "";

function typeOf(body: Uint8Array, span: Span): string {
  const length = span.end - span.start;
  if (length === lastTypeBytes.byteLength) {
    let same = true;
    for (let i = 0; i < length; i++) {
      if (body[span.start + i] !== lastTypeBytes[i]) {
        same = false;
        break;
      }
    }
    if (same) return lastType;
  }
  lastType = decodeString(body, span);
  lastTypeBytes = length <= SHORT_ASCII
    ? body.slice(span.start, span.end)
    : new Uint8Array(0);
  return lastType;
}

function fail(body: Uint8Array, at: number, why: string): never {
  const near = lenientUtf8.decode(
    body.subarray(Math.max(0, at - 20), Math.min(body.byteLength, at + 20)),
  ).replaceAll(/[\r\n]/g, " ");
  throw new JsonSyntaxError(
    `${why} at byte ${at} (near ${JSON.stringify(near)})`,
  );
}

/**
 * Turns one scanned element into the parts the envelope is made of, or
 * says why it is not an event: not an object, `type` not a non-empty
 * string, `time` not a string, or nested deeper than {@link MAX_EVENT_DEPTH}.
 * A missing `record` becomes `null`. Line breaks between the record's
 * tokens become spaces, so that an envelope is always one line (ndjson);
 * every other byte is the body's.
 */
export function readEvent(
  body: Uint8Array,
  element: ScannedElement,
): RawTelemetryEvent | string {
  if (element.firstByte !== OPEN_OBJECT) return "not a JSON object";
  if (element.depth > MAX_EVENT_DEPTH) {
    return `nested ${element.depth} levels deep (at most ${MAX_EVENT_DEPTH})`;
  }
  const { time, type, record } = element;
  if (!type || body[type.start] !== QUOTE || type.end - type.start <= 2) {
    return "type is not a non-empty string";
  }
  if (!time || body[time.start] !== QUOTE) return "time is not a string";
  let recordJson = record
    ? body.subarray(record.start, record.end)
    : NULL_BYTES;
  const breaks = record &&
    element.lineBreaks?.filter((at) => at > record.start && at < record.end);
  if (record && breaks && breaks.length > 0) {
    recordJson = recordJson.slice();
    for (const at of breaks) recordJson[at - record.start] = 0x20;
  }
  const requestId = element.requestId;
  return {
    type: typeOf(body, type),
    timeJson: body.subarray(time.start, time.end),
    typeJson: body.subarray(type.start, type.end),
    recordJson,
    recordIsString: record !== undefined && body[record.start] === QUOTE,
    requestId: requestId && body[requestId.start] === QUOTE
      ? decodeString(body, requestId)
      : undefined,
  };
}
