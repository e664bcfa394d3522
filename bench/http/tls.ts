/**
 * The TLS material of the benchmark servers: `BENCH_TLS_CERT`/`BENCH_TLS_KEY` name PEM files
 * (run.ts uses the test certificates of `packages/core/src/_certs.ts`); without them no TLS listener starts.
 *
 * @module
 */

/** Certificate and key PEMs, or `undefined` when the run asked for no TLS. */
export function benchTls(): { cert: string; key: string } | undefined {
  const cert = Deno.env.get("BENCH_TLS_CERT");
  const key = Deno.env.get("BENCH_TLS_KEY");
  if (!cert || !key) return undefined;
  return { cert: Deno.readTextFileSync(cert), key: Deno.readTextFileSync(key) };
}
