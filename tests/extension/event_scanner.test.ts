import assert from "node:assert/strict";
import {
  decodeString,
  JsonSyntaxError,
  MAX_EVENT_DEPTH,
  readEvent,
  scanEventArray,
} from "../../extension/event_scanner.ts";
import {
  type SeededRandom,
  seededRandom,
  trickyText,
} from "./_codec_fixtures.ts";

const utf8 = new TextEncoder();
const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

/** A random JSON value, as text, with random whitespace between tokens. */
function randomJson(random: SeededRandom, depth: number): string {
  const space = () => random.pick(["", "", "", " ", "\t", "\n", "\r\n "]);
  const kind = random.int(0, depth > 4 ? 3 : 5);
  switch (kind) {
    case 0:
      return random.pick([
        "0",
        "-0",
        "12345678901234567891",
        "1e400",
        "-1.5E-7",
        "3.25e+2",
        String(random.int(-1e6, 1e6)),
      ]);
    case 1:
      return JSON.stringify(trickyText(random, random.int(0, 4))).replace(
        "a",
        "\\u0061",
      );
    case 2:
      return random.pick(["true", "false", "null"]);
    case 3:
      return JSON.stringify(trickyText(random, 1));
    case 4: {
      const items = Array.from(
        { length: random.int(0, 4) },
        () => space() + randomJson(random, depth + 1) + space(),
      );
      return `[${items.join(",")}]`;
    }
    default: {
      const members = Array.from(
        { length: random.int(0, 4) },
        () =>
          `${space()}${
            JSON.stringify(trickyText(random, 1))
          }${space()}:${space()}${randomJson(random, depth + 1)}${space()}`,
      );
      return `{${members.join(",")}}`;
    }
  }
}

Deno.test("scanner: element spans are exactly the elements' texts (seeded, against JSON.parse)", () => {
  const random = seededRandom(77);
  for (let round = 0; round < 300; round++) {
    const elements = Array.from(
      { length: random.int(0, 6) },
      () => randomJson(random, 0),
    );
    const body = utf8.encode(` [ ${elements.join(" ,\n")} ]\n`);
    const scanned = scanEventArray(body);
    assert.equal(scanned.length, elements.length);
    scanned.forEach((element, i) => {
      const raw = text(body.subarray(element.span.start, element.span.end));
      assert.equal(raw, elements[i].trim());
      assert.deepEqual(JSON.parse(raw), JSON.parse(elements[i]));
    });
  }
});

Deno.test("scanner: rejects exactly what JSON.parse rejects (seeded mutations)", () => {
  const random = seededRandom(78);
  const noise = [
    "",
    "[",
    "]",
    "{",
    "}",
    ",",
    ":",
    '"',
    "\\",
    "0",
    "-",
    ".",
    "e",
    "t",
    "x",
    "\u0001",
    " ",
  ];
  let rejected = 0;
  for (let round = 0; round < 3000; round++) {
    const good = `[${randomJson(random, 2)},${randomJson(random, 3)}]`;
    const at = random.int(0, good.length - 1);
    const cut = random.int(0, 2);
    const mutated = good.slice(0, at) + random.pick(noise) +
      good.slice(at + cut);
    let parsed: unknown;
    let parseFailed = false;
    try {
      parsed = JSON.parse(mutated);
    } catch {
      parseFailed = true;
    }
    const expectFailure = parseFailed || !Array.isArray(parsed);
    if (expectFailure) {
      rejected++;
      assert.throws(
        () => scanEventArray(utf8.encode(mutated)),
        JsonSyntaxError,
        mutated,
      );
    } else {
      const scanned = scanEventArray(utf8.encode(mutated));
      assert.equal(scanned.length, (parsed as unknown[]).length, mutated);
    }
  }
  assert.ok(rejected > 1000, `${rejected} mutations rejected`);
});

Deno.test("scanner: finds time, type, record and record.requestId, the last of duplicates", () => {
  const body = utf8.encode(
    '[{"type":"old","time":"t0","record":{"requestId":"a"},' +
      '"t\\u0079pe":"platform.report","time":"t1","x":{"requestId":"no"},' +
      '"\\u0174ime":"not time","r\\u0065cord":"escaped record",' +
      '"record":{"n":{"requestId":"nested"},"requestId":"r1","requestId":"r2"}},' +
      '{"time":"t","type":"function","record":{"requestId":"gone"},"record":"text"},' +
      '{"time":"t","type":"function","record":{"requestId":7}}]',
  );
  const [first, second, third] = scanEventArray(body).map((element) =>
    readEvent(body, element)
  );
  assert.ok(typeof first !== "string");
  assert.equal(first.type, "platform.report");
  assert.equal(text(first.timeJson), '"t1"');
  assert.equal(first.requestId, "r2");
  assert.equal(
    text(first.recordJson),
    '{"n":{"requestId":"nested"},"requestId":"r1","requestId":"r2"}',
  );
  assert.equal(first.recordIsString, false);
  assert.ok(typeof second !== "string");
  assert.equal(second.requestId, undefined);
  assert.equal(second.recordIsString, true);
  assert.equal(text(second.recordJson), '"text"');
  assert.ok(typeof third !== "string");
  assert.equal(third.requestId, undefined);
});

Deno.test("scanner: readEvent says why an element is not an event", () => {
  const cases: [string, RegExp][] = [
    ["null", /not a JSON object/],
    ["[1]", /not a JSON object/],
    ['"s"', /not a JSON object/],
    ['{"time":"t"}', /type is not a non-empty string/],
    ['{"time":"t","type":""}', /type is not a non-empty string/],
    ['{"time":"t","type":5}', /type is not a non-empty string/],
    ['{"type":"x"}', /time is not a string/],
    ['{"type":"x","time":null}', /time is not a string/],
    [
      `{"type":"x","time":"t","record":${"[".repeat(MAX_EVENT_DEPTH)}${
        "]".repeat(MAX_EVENT_DEPTH)
      }}`,
      /nested 513 levels deep/,
    ],
  ];
  for (const [element, reason] of cases) {
    const body = utf8.encode(`[${element}]`);
    const [scanned] = scanEventArray(body);
    const result = readEvent(body, scanned);
    assert.equal(typeof result, "string", element);
    assert.match(result as string, reason, element);
  }
  const body = utf8.encode('[{"type":"x","time":"t"}]');
  const event = readEvent(body, scanEventArray(body)[0]);
  assert.ok(typeof event !== "string");
  assert.equal(text(event.recordJson), "null");
});

Deno.test("scanner: a 1,000,000-deep array is scanned without recursion", () => {
  const depth = 1_000_000;
  const body = utf8.encode(`[${"[".repeat(depth)}${"]".repeat(depth)}]`);
  const [element] = scanEventArray(body);
  assert.equal(element.depth, depth);
  assert.throws(
    () => scanEventArray(utf8.encode(`[${"[".repeat(depth)}]`)),
    JsonSyntaxError,
  );
});

Deno.test("scanner: decodeString decodes escapes as JSON.parse does", () => {
  for (const value of ["plain", "é🚀", 'q"\\/\b\f\n\r\t\u0000', "\ud800"]) {
    const literal = JSON.stringify(value);
    const body = utf8.encode(literal);
    assert.equal(
      decodeString(body, { start: 0, end: body.byteLength }),
      value === "\ud800" ? "\ud800" : value,
    );
  }
});

Deno.test("scanner: types of the same length in a row are each read, escaped or not", () => {
  const body = utf8.encode(
    "[" + [
      '{"time":"t","type":"aaaa"}',
      '{"time":"t","type":"bbbb"}',
      '{"time":"t","type":"bbbb"}',
      '{"time":"t","type":"\\u0061"}',
      '{"time":"t","type":"aaaa"}',
      '{"time":"t","type":"abcd\\u0065"}',
    ].join(",") + "]",
  );
  const types = scanEventArray(body).map((element) => {
    const event = readEvent(body, element);
    assert.ok(typeof event !== "string");
    return event.type;
  });
  assert.deepEqual(types, ["aaaa", "bbbb", "bbbb", "a", "aaaa", "abcde"]);
});
