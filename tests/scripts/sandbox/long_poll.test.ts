import assert from "node:assert/strict";
import {
  LongPoll,
  MailboxClosedError,
} from "../../../scripts/sandbox/long_poll.ts";

Deno.test("a value put before the client asks waits for it, in order", async () => {
  const mailbox = new LongPoll<number>();
  mailbox.put(1);
  mailbox.put(2);
  assert.equal(mailbox.waiting, false);
  assert.equal(await mailbox.take(), 1);
  assert.equal(await mailbox.take(), 2);
});

Deno.test("a waiting client gets the next value and stops waiting", async () => {
  const mailbox = new LongPoll<string>();
  let waitingSeen = false;
  const seen = mailbox.whenWaiting().then(() => (waitingSeen = true));
  const taken = mailbox.take();
  await seen;
  assert.equal(waitingSeen, true);
  assert.equal(mailbox.waiting, true);
  assert.ok(mailbox.waitingSince > 0);
  mailbox.put("INVOKE");
  assert.equal(mailbox.waiting, false);
  assert.equal(await taken, "INVOKE");
});

Deno.test("whenWaiting resolves at once for a client already waiting", async () => {
  const mailbox = new LongPoll<string>();
  const taken = mailbox.take();
  await mailbox.whenWaiting();
  mailbox.put("x");
  assert.equal(await taken, "x");
});

Deno.test("an aborted request stops waiting; a newer request replaces an older one", async () => {
  const mailbox = new LongPoll<string>();
  const abort = new AbortController();
  const first = mailbox.take(abort.signal);
  abort.abort();
  await assert.rejects(first, /client went away/);
  assert.equal(mailbox.waiting, false);
  const older = mailbox.take();
  const newer = mailbox.take();
  await assert.rejects(older, /superseded/);
  mailbox.put("y");
  assert.equal(await newer, "y");
});

Deno.test("close fails the waiting request and every later one", async () => {
  const mailbox = new LongPoll<string>();
  const waiting = mailbox.take();
  mailbox.close();
  await assert.rejects(waiting, MailboxClosedError);
  await assert.rejects(mailbox.take(), MailboxClosedError);
  mailbox.put("ignored");
  assert.equal(mailbox.waiting, false);
});
