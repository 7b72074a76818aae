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

// Thrown while this module loads: before Pulumi's own engines check (which
// .npmrc's engine-strict turns on) would stop with a stack trace.
const problem = nodeVersionProblem(process.versions.node);
if (problem !== undefined) throw new pulumi.RunError(problem);

const program = await import("./index.ts");

/** The program: Pulumi calls it and turns its result into stack outputs. */
export default program.default;
