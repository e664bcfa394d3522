/**
 * Benchmark server (a): Krepis `serve` with the shared TypeScript handler, the kernel's
 * static files under `/assets` and `/sent` (the same directory as a sendfile mount; from
 * `BENCH_STATIC_DIR`), and a second, TLS listener when the run provides a certificate.
 * Prints `PORT <n> TLSPORT <m|0>`.
 */
import { serve } from "@krepis/core/http";
import { handler } from "./handler.ts";
import { benchTls } from "./tls.ts";

const common = {
  hostname: "127.0.0.1",
  port: 0,
  maxBodySize: 16 << 20,
  onListen: () => {},
  // wrk cuts uploads off when a run ends; those failed reads are expected.
  onError: () => new Response(null, { status: 500 }),
};
const dir = Deno.env.get("BENCH_STATIC_DIR");
const plain = await serve({
  ...common,
  // `/sent`: the same files, large ones sent with sendfile(2) (an opt-in mount).
  static: dir
    ? { "/assets": dir, "/sent": { root: dir, sendfile: true } }
    : undefined,
}, handler);
const tls = benchTls();
const secure = tls ? await serve({ ...common, tls }, handler) : undefined;
console.log(`PORT ${plain.addr.port} TLSPORT ${secure?.addr.port ?? 0}`);
