/**
 * Preloaded (`node --import`) into Pulumi's own Node.js entry point
 * (`@pulumi/pulumi/cmd/run`) by node_runtime.test.ts: installs Pulumi mocks
 * in place of the engine and prints every registered resource as one JSON
 * line when the process exits.
 *
 * @module
 */
import { createRequire } from "node:module";
import { join } from "node:path";
import process from "node:process";

// Resolved from the project root, as the program resolves it, so both load
// the same copy of the SDK and share its runtime settings.
const require = createRequire(join(process.cwd(), "package.json"));
const pulumi = require("@pulumi/pulumi");

const registered = [];
await pulumi.runtime.setMocks(
  {
    newResource(args) {
      const name = args.inputs.name ?? args.inputs.layerName ?? args.name;
      registered.push(`${args.type} ${name}`);
      const arn = `arn:aws:mock:${args.name}`;
      return { id: `${args.name}-id`, state: { ...args.inputs, arn } };
    },
    call(args) {
      if (args.token === "aws:index/getPartition:getPartition") {
        return { id: "aws", partition: "aws", dnsSuffix: "amazonaws.com" };
      }
      return args.inputs;
    },
  },
  process.env.KT_PROJECT,
  process.env.KT_STACK,
  false,
);

process.on("exit", () => {
  console.log(`KT_REGISTERED ${JSON.stringify(registered.sort())}`);
});
