/**
 * Certificates for TLS tests and benchmarks (HTTPS, HTTP/2, KNUL), made with the `openssl`
 * CLI: a CA, a server certificate for `localhost` and `127.0.0.1`, and a client certificate
 * (mutual TLS), all signed by the CA.
 *
 * @module
 */

/** PEM material for TLS tests. */
export interface TestCerts {
  /** CA certificate. */
  ca: string;
  /** Server certificate chain. */
  cert: string;
  /** Server key. */
  key: string;
  /** Client certificate. */
  clientCert: string;
  /** Client key. */
  clientKey: string;
  /** Directory holding the files (`ca.pem`, `server.pem`, `server.key`, …). */
  dir: string;
}

let made: Promise<TestCerts> | undefined;

async function openssl(args: string[], cwd: string): Promise<void> {
  const out = await new Deno.Command("openssl", {
    args,
    cwd,
    stdout: "null",
    stderr: "piped",
  }).output();
  if (!out.success) {
    throw new Error(
      `openssl ${args[0]} failed: ${new TextDecoder().decode(out.stderr)}`,
    );
  }
}

async function make(): Promise<TestCerts> {
  const dir = await Deno.makeTempDir({ prefix: "krepis-test-certs-" });
  globalThis.addEventListener("unload", () => {
    try {
      Deno.removeSync(dir, { recursive: true });
    } catch {
      // Already gone.
    }
  });
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
  await openssl([
    "req",
    "-x509",
    ...ec,
    "-keyout",
    "ca.key",
    "-out",
    "ca.pem",
    "-days",
    "2",
    "-subj",
    "/CN=krepis-test-ca",
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign",
  ], dir);
  const leaf = async (name: string, san: string, usage: string) => {
    await openssl([
      "req",
      ...ec,
      "-keyout",
      `${name}.key`,
      "-out",
      `${name}.csr`,
      "-subj",
      `/CN=${name}`,
    ], dir);
    await Deno.writeTextFile(
      `${dir}/${name}.ext`,
      `subjectAltName=${san}\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=${usage}\n`,
    );
    await openssl([
      "x509",
      "-req",
      "-in",
      `${name}.csr`,
      "-CA",
      "ca.pem",
      "-CAkey",
      "ca.key",
      "-CAcreateserial",
      "-out",
      `${name}.pem`,
      "-days",
      "2",
      "-extfile",
      `${name}.ext`,
    ], dir);
  };
  await leaf("server", "DNS:localhost,IP:127.0.0.1", "serverAuth");
  await leaf("client", "DNS:client.test", "clientAuth");
  const read = (f: string) => Deno.readTextFile(`${dir}/${f}`);
  return {
    ca: await read("ca.pem"),
    cert: await read("server.pem"),
    key: await read("server.key"),
    clientCert: await read("client.pem"),
    clientKey: await read("client.key"),
    dir,
  };
}

/** The test certificates, made once per process. */
export function testCerts(): Promise<TestCerts> {
  return made ??= make();
}
