/**
 * The one handler every TypeScript server in the HTTP benchmark runs (the Rust peer in
 * `crates/krepis-kernel/examples/hyper_bench.rs` mirrors it).
 *
 * @module
 */

const MIB = new Uint8Array(1 << 20).fill(120);

/** `GET /` hello, `POST /echo` JSON echo, `POST /upload` length, `GET /download` 1 MiB. */
export async function handler(req: Request): Promise<Response> {
  const url = req.url;
  switch (url.slice(url.indexOf("/", 8))) {
    case "/echo":
      return Response.json(await req.json());
    case "/upload":
      return new Response(String((await req.arrayBuffer()).byteLength));
    case "/download":
      return new Response(MIB);
    default:
      return new Response("Hello, World!");
  }
}
