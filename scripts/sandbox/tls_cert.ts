/**
 * A throwaway certificate authority and a server certificate for 127.0.0.1,
 * made with `openssl` for one run, so kinesalite can serve HTTPS as real
 * Kinesis does. kinesalite's own bundled certificate cannot be used: it
 * expired in 2018 and names `kinesalite`, not an address, so every strict
 * TLS client (Deno's included) refuses it.
 *
 * @module
 */

/** PEM files of one run. */
export interface LocalCertificate {
  /** Folder holding the files (removed by `remove`). */
  dir: string;
  /** The CA certificate: give it to clients (`DENO_CERT`, `--cert`, an agent's `ca`). */
  caFile: string;
  /** The server certificate, for 127.0.0.1 and localhost. */
  certFile: string;
  /** The server's private key. */
  keyFile: string;
  /** Deletes the files. */
  remove(): Promise<void>;
}

async function openssl(args: string[], cwd: string): Promise<void> {
  let output: Deno.CommandOutput;
  try {
    output = await new Deno.Command("openssl", {
      args,
      cwd,
      stdout: "null",
      stderr: "piped",
    }).output();
  } catch (error) {
    throw new Error(
      `TLS to the local Kinesis needs the openssl command (apt-get install openssl): ${error}`,
    );
  }
  if (!output.success) {
    throw new Error(
      `openssl ${args[0]} failed: ${new TextDecoder().decode(output.stderr)}`,
    );
  }
}

/** Makes a CA and a server certificate signed by it (valid for a day). */
export async function createLocalCertificate(): Promise<LocalCertificate> {
  const dir = await Deno.makeTempDir({ prefix: "kinesis-telemetry-tls-" });
  const remove = () => Deno.remove(dir, { recursive: true }).catch(() => {});
  try {
    await openssl([
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-keyout",
      "ca-key.pem",
      "-out",
      "ca.pem",
      "-days",
      "1",
      "-subj",
      "/CN=kinesis-telemetry local CA",
      "-addext",
      "basicConstraints=critical,CA:TRUE",
      "-addext",
      "keyUsage=critical,keyCertSign,cRLSign",
    ], dir);
    await openssl([
      "req",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-keyout",
      "server-key.pem",
      "-out",
      "server.csr",
      "-subj",
      "/CN=127.0.0.1",
    ], dir);
    await Deno.writeTextFile(
      `${dir}/server.ext`,
      "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n",
    );
    await openssl([
      "x509",
      "-req",
      "-in",
      "server.csr",
      "-CA",
      "ca.pem",
      "-CAkey",
      "ca-key.pem",
      "-CAcreateserial",
      "-out",
      "server.pem",
      "-days",
      "1",
      "-extfile",
      "server.ext",
    ], dir);
  } catch (error) {
    await remove();
    throw error;
  }
  return {
    dir,
    caFile: `${dir}/ca.pem`,
    certFile: `${dir}/server.pem`,
    keyFile: `${dir}/server-key.pem`,
    remove,
  };
}
