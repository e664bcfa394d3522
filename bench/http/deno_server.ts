/**
 * Benchmark server (b): `Deno.serve` with the shared TypeScript handler, plus a TLS
 * listener when the run provides a certificate. Prints `PORT <n> TLSPORT <m|0>`.
 */
import { handler } from "./handler.ts";
import { benchTls } from "./tls.ts";

const common = {
  hostname: "127.0.0.1",
  port: 0,
  onListen: () => {},
  // wrk cuts uploads off when a run ends; those failed reads are expected.
  onError: () => new Response(null, { status: 500 }),
};
const plain = Deno.serve(common, handler);
const tls = benchTls();
const secure = tls ? Deno.serve({ ...common, ...tls }, handler) : undefined;
console.log(`PORT ${plain.addr.port} TLSPORT ${secure?.addr.port ?? 0}`);
