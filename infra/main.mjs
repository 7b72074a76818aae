/**
 * The entry point Pulumi runs (`main` in Pulumi.yaml). Plain JavaScript, so
 * that it loads under any Node.js: it checks the version first and, on one
 * too old to strip types, ends the program with what to install (a RunError:
 * no stack trace) instead of Node's `ERR_UNKNOWN_FILE_EXTENSION`. Otherwise
 * it hands over to the TypeScript program.
 *
 * @module
 */
import * as pulumi from "@pulumi/pulumi";
import process from "node:process";
import { nodeVersionProblem } from "./node_version.mjs";

const problem = nodeVersionProblem(process.versions.node);

/**
 * The program Pulumi calls: infra/index.ts's, or one that refuses to run.
 * The refusal is thrown from the call, not while this module loads: Pulumi
 * reports an error thrown during loading only after a long wait.
 */
export default problem === undefined
  ? (await import("./index.ts")).default
  : () => {
    throw new pulumi.RunError(problem);
  };
