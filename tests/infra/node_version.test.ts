import assert from "node:assert/strict";
import { MINIMUM_NODE, nodeVersionProblem } from "../../infra/node_version.mjs";

Deno.test("Node.js versions that strip types by default pass", () => {
  for (const version of ["22.18.0", "22.21.1", "23.6.0", "24.0.0", "25.2.1"]) {
    assert.equal(nodeVersionProblem(version), undefined, version);
  }
});

Deno.test("older Node.js versions get what to install", () => {
  for (
    const version of ["18.20.4", "20.20.2", "22.6.0", "22.17.1", "23.5.0"]
  ) {
    const problem = nodeVersionProblem(version);
    assert.ok(problem, version);
    assert.match(problem, new RegExp(`needs Node\\.js ${MINIMUM_NODE}`));
    assert.match(
      problem,
      new RegExp(`Node\\.js ${version.replace(/\./g, "\\.")} `),
    );
    assert.match(problem, /Install Node\.js 22 \(22\.18 or later\) or 24/);
  }
});
