/**
 * Entry point Pulumi runs (`main` in Pulumi.yaml): reads the stack config,
 * declares the stack, and returns its outputs. A refused setting or a
 * missing layer zip ends `pulumi up` before any resource is declared, with
 * a message and no stack trace.
 *
 * @module
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { fileURLToPath } from "node:url";
import { DemoCodeMissingError } from "./demo_function.ts";
import { LayerArtifactError } from "./layer_artifacts.ts";
import { IncompatibleTargetError } from "./runtimes.ts";
import { readStackSettings } from "./settings.ts";
import { defineStack, type StackOutputs } from "./stack.ts";
import { SettingError } from "./validation.ts";

/** Runs the program; Pulumi turns the returned object into stack outputs. */
export default function main(): StackOutputs {
  const config = new pulumi.Config();
  try {
    const settings = readStackSettings({
      read: (key) => config.get(key),
      project: pulumi.getProject(),
      stack: pulumi.getStack(),
      region: aws.config.region,
    });
    return defineStack(settings, {
      projectRoot: fileURLToPath(new URL("../", import.meta.url)),
      demoCodeDir: fileURLToPath(new URL("./demo-function/", import.meta.url)),
      project: pulumi.getProject(),
      stack: pulumi.getStack(),
    });
  } catch (error) {
    // RunError is shown without a stack trace: these are the user's to fix.
    if (
      error instanceof SettingError || error instanceof LayerArtifactError ||
      error instanceof IncompatibleTargetError ||
      error instanceof DemoCodeMissingError
    ) {
      throw new pulumi.RunError(error.message);
    }
    throw error;
  }
}
