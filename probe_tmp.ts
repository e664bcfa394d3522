const enc = new TextEncoder();
async function raw(port: number, req: string): Promise<string> {
  const c = await Deno.connect({ hostname: "127.0.0.1", port });
  await c.write(enc.encode(req)).catch(() => {});
  const buf = new Uint8Array(65536); let out = "";
  const t = setTimeout(() => { try { c.close(); } catch {} }, 1500);
  try { for (;;) { const n = await c.read(buf); if (n === null) break; out += new TextDecoder().decode(buf.subarray(0, n)); } } catch {}
  clearTimeout(t); try { c.close(); } catch {}
  return out.slice(0, 12);
}
const d = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (r) => new Response(r.url));
const big = (n: number) => `GET /p HTTP/1.1\r\nHost: a\r\nX-Big: ${"a".repeat(n)}\r\nConnection: close\r\n\r\n`;
let lo = 60000, hi = 100000;
while (hi - lo > 16) { const m = (lo + hi) >> 1; (await raw(d.addr.port, big(m))).includes("200") ? lo = m : hi = m; }
console.log("max value len ok", lo, "head bytes", big(lo).length);
const many = (n: number) => { let r = `GET /p HTTP/1.1\r\nHost: a\r\n`; for (let i=0;i<n;i++) r += `X-H${i}: v\r\n`; return r + "Connection: close\r\n\r\n"; };
lo = 100; hi = 200;
while (hi - lo > 1) { const m = (lo + hi) >> 1; (await raw(d.addr.port, many(m))).includes("200") ? lo = m : hi = m; }
console.log("max extra headers ok", lo);
// spread across many headers of medium size
const spread = (n: number) => { let r = `GET /p HTTP/1.1\r\nHost: a\r\n`; for (let i=0;i<n;i++) r += `X-H${i}: ${"b".repeat(1000)}\r\n`; return r + "Connection: close\r\n\r\n"; };
for (const n of [50, 64, 90, 110]) console.log("spread", n, spread(n).length, await raw(d.addr.port, spread(n)));
for (const r of [
 "GET /p HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nContent-Length: 0\r\n\r\n",
 "GET /p HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc",
 "GET /p HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc",
 "GET /p HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\nConnection: close\r\n\r\nabcd",
 "GET /p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\nConnection: close\r\n\r\n0\r\n\r\n",
 "GET /p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\nConnection: close\r\n\r\n",
 "GET /p HTTP/1.1\r\nHost: a:80\r\nConnection: close\r\n\r\n",
 "GET /p HTTP/1.1\r\nHost: [::1]:80\r\nConnection: close\r\n\r\n",
 "GET /p HTTP/1.1\r\nHost: a@b\r\nConnection: close\r\n\r\n",
 "GET /p HTTP/1.1\r\nHost: a?b\r\nConnection: close\r\n\r\n",
 "CONNECT a:80 HTTP/1.1\r\nHost: a:80\r\nConnection: close\r\n\r\n",
]) console.log(JSON.stringify(r.slice(0, 80)), await raw(d.addr.port, r));
await d.shutdown();
