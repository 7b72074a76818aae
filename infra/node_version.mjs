/**
 * Which Node.js versions can run the Pulumi program. `infra/index.ts` is
 * TypeScript that Node runs itself (type stripping, on by default since
 * Node.js 22.18 and 23.6); older versions stop with
 * `ERR_UNKNOWN_FILE_EXTENSION`, which says nothing about what to install.
 * Plain JavaScript, so that any Node.js can load it and say so instead.
 *
 * @module
 */

/** Oldest Node.js 22 that strips types by default. */
export const MINIMUM_NODE = "22.18.0";

/**
 * Returns why `version` (as `process.versions.node` gives it, e.g.
 * `20.20.2`) cannot run the program, with what to install; undefined when
 * it can.
 */
export function nodeVersionProblem(version) {
  const [major, minor] = version.replace(/^v/, "").split(".").map(Number);
  const supported = major > 23 || (major === 23 && minor >= 6) ||
    (major === 22 && minor >= 18);
  if (supported) return undefined;
  return `This Pulumi program needs Node.js ${MINIMUM_NODE} or later: it runs ` +
    `infra/index.ts with Node's built-in type stripping, which Node.js ${version} ` +
    `does not do by default. Install Node.js 22 (22.18 or later) or 24, e.g. ` +
    "`nvm install 22` or `fnm install 22` or from https://nodejs.org/, make it " +
    "the `node` on PATH, and run pulumi again.";
}
