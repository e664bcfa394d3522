/**
 * Benchmark server (d): a static file server written in JavaScript on `Deno.serve`, doing
 * what std's `serveDir` does per request — stat, open, validators, 304, and the file
 * streamed through its `ReadableStream` — for `/assets/*` from `BENCH_STATIC_DIR`.
 * (JSR is unreachable here, so this stands in for `serveDir`.) Prints `PORT <n> TLSPORT 0`.
 */

const root = Deno.env.get("BENCH_STATIC_DIR") ?? ".";
const TYPES: Record<string, string> = {
  html: "text/html; charset=utf-8",
  js: "text/javascript; charset=utf-8",
  css: "text/css; charset=utf-8",
  json: "application/json",
  txt: "text/plain; charset=utf-8",
};

async function serveFile(req: Request): Promise<Response> {
  const url = req.url;
  const path = decodeURIComponent(url.slice(url.indexOf("/", 8)).split("?")[0]);
  if (!path.startsWith("/assets/") || path.includes("..")) {
    return new Response("Not Found", { status: 404 });
  }
  const name = `${root}/${path.slice("/assets/".length)}`;
  let file: Deno.FsFile;
  try {
    file = await Deno.open(name);
  } catch {
    return new Response("Not Found", { status: 404 });
  }
  const info = await file.stat();
  const etag = `W/"${info.size.toString(16)}-${
    info.mtime?.getTime().toString(16)
  }"`;
  const headers = new Headers({
    "content-type": TYPES[name.slice(name.lastIndexOf(".") + 1)] ??
      "application/octet-stream",
    "content-length": String(info.size),
    etag,
    "last-modified": info.mtime?.toUTCString() ?? "",
    "accept-ranges": "bytes",
  });
  if (req.headers.get("if-none-match") === etag) {
    file.close();
    return new Response(null, { status: 304, headers });
  }
  return new Response(file.readable, { headers });
}

const server = Deno.serve(
  { hostname: "127.0.0.1", port: 0, onListen: () => {} },
  serveFile,
);
console.log(`PORT ${server.addr.port} TLSPORT 0`);
