/**
 * Splits a text stream into lines (without their `\n` or `\r\n`), keeping a
 * last line that has no newline.
 *
 * @module
 */

/** A TransformStream from text chunks to lines. */
export class TextLineStream extends TransformStream<string, string> {
  /** Creates the stream. */
  constructor() {
    let pending = "";
    super({
      transform(chunk, controller) {
        pending += chunk;
        let newline = pending.indexOf("\n");
        while (newline >= 0) {
          const end = newline > 0 && pending[newline - 1] === "\r"
            ? newline - 1
            : newline;
          controller.enqueue(pending.slice(0, end));
          pending = pending.slice(newline + 1);
          newline = pending.indexOf("\n");
        }
      },
      flush(controller) {
        if (pending !== "") controller.enqueue(pending);
      },
    });
  }
}
