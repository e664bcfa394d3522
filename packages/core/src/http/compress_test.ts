/**
 * Automatic response compression (issue 9 item 13) with real clients (curl, fetch).
 * `Deno.serve` 2.9 documents the same rules but sent every response below uncompressed
 * when probed, so the comparison with it is of the decoded bodies: byte for byte equal.
 */

import assert from "node:assert/strict";
import { pair } from "./_wire.ts";

const text = JSON.stringify({
  items: Array.from({ length: 200 }, (_, i) => `item ${i}`),
});

function handler(req: Request): Response {
  const url = new URL(req.url);
  const headers = new Headers(JSON.parse(url.searchParams.get("h") ?? "{}"));
  const size = Number(url.searchParams.get("n") ?? text.length);
  const body = text.slice(0, size);
  if (url.pathname === "/stream") {
    const chunks = [
      body.slice(0, 100),
      body.slice(100, 2000),
      body.slice(2000),
    ];
    return new Response(
      new ReadableStream({
        async pull(controller) {
          const next = chunks.shift();
          if (next === undefined) return controller.close();
          await new Promise((r) => setTimeout(r, 10));
          controller.enqueue(new TextEncoder().encode(next));
        },
      }),
      {
        headers: {
          "content-type": "application/json",
          ...Object.fromEntries(headers),
        },
      },
    );
  }
  if (!headers.has("content-type")) {
    headers.set("content-type", "application/json");
  }
  return new Response(body, {
    status: Number(url.searchParams.get("s") ?? 200),
    headers,
  });
}

interface Got {
  headers: Map<string, string>;
  body: Uint8Array;
}

/** curl, raw (`compressed: false`) or decoding what it receives. */
async function curl(
  url: string,
  acceptEncoding: string,
  compressed: boolean,
): Promise<Got> {
  const dir = await Deno.makeTempDir();
  try {
    const out = await new Deno.Command("curl", {
      args: [
        "-s",
        "-D",
        `${dir}/h`,
        "-o",
        `${dir}/b`,
        "-H",
        `Accept-Encoding: ${acceptEncoding}`,
        ...(compressed ? ["--compressed"] : []),
        url,
      ],
    }).output();
    assert.ok(out.success, `curl ${url}`);
    const headers = new Map<string, string>();
    for (
      const line of (await Deno.readTextFile(`${dir}/h`)).split("\r\n").slice(1)
    ) {
      const colon = line.indexOf(":");
      if (colon < 0) continue;
      const name = line.slice(0, colon).toLowerCase();
      const value = line.slice(colon + 1).trim();
      headers.set(
        name,
        headers.has(name) ? `${headers.get(name)}, ${value}` : value,
      );
    }
    return { headers, body: await Deno.readFile(`${dir}/b`) };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const q = (h: Record<string, string>) =>
  `h=${encodeURIComponent(JSON.stringify(h))}`;

Deno.test("gzip and brotli by Accept-Encoding; decoded bodies equal Deno.serve's", async () => {
  await using servers = await pair(handler);
  const deno = `http://127.0.0.1:${servers.deno}`;
  const krepis = `http://127.0.0.1:${servers.krepis}`;
  for (
    const [path, accept, coding] of [
      ["/", "gzip", "gzip"],
      ["/", "br", "br"],
      ["/", "gzip, deflate, br", "br"],
      ["/", "br;q=0.5, gzip", "gzip"],
      ["/stream", "gzip", "gzip"],
      ["/stream", "br", "br"],
    ]
  ) {
    const raw = await curl(krepis + path, accept, false);
    assert.equal(
      raw.headers.get("content-encoding"),
      coding,
      `${path} ${accept}`,
    );
    assert.equal(raw.headers.get("vary"), "Accept-Encoding");
    assert.equal(raw.headers.get("content-length"), undefined);
    assert.ok(
      raw.body.length < text.length / 3,
      `${raw.body.length} bytes on the wire`,
    );
    const [decoded, reference] = await Promise.all([
      curl(krepis + path, accept, true),
      curl(deno + path, accept, true),
    ]);
    assert.deepEqual(decoded.body, reference.body);
    assert.equal(new TextDecoder().decode(decoded.body), text);
  }
  // fetch negotiates and decodes by itself.
  const [a, b] = await Promise.all([fetch(krepis), fetch(deno)]);
  assert.equal(await a.text(), await b.text());
});

Deno.test("never for small, incompressible, ranged, encoded or no-transform bodies", async () => {
  await using servers = await pair(handler);
  const cases = [
    "n=63",
    q({ "content-type": "image/png" }),
    q({ "content-type": "application/octet-stream" }),
    q({ "content-encoding": "identity-ish" }),
    q({ "content-range": "bytes 0-99/5000" }) + "&s=206",
    q({ "cache-control": "public, no-transform" }),
  ];
  for (const query of cases) {
    const [k, d] = await Promise.all([
      curl(`http://127.0.0.1:${servers.krepis}/?${query}`, "gzip, br", false),
      curl(`http://127.0.0.1:${servers.deno}/?${query}`, "gzip, br", false),
    ]);
    assert.equal(
      k.headers.get("content-encoding"),
      d.headers.get("content-encoding"),
      query,
    );
    assert.deepEqual(k.body, d.body, query);
    assert.equal(k.headers.get("vary"), undefined, query);
  }
});

Deno.test("ETag becomes weak, Vary is extended, and the option turns it off", async () => {
  await using servers = await pair(handler);
  const url = `http://127.0.0.1:${servers.krepis}/?${
    q({ etag: '"v1"', vary: "Origin" })
  }`;
  const got = await curl(url, "gzip", false);
  assert.equal(got.headers.get("etag"), 'W/"v1"');
  assert.equal(got.headers.get("vary"), "Origin, Accept-Encoding");
  const weak = await curl(
    `http://127.0.0.1:${servers.krepis}/?${q({ etag: 'W/"v2"' })}`,
    "gzip",
    false,
  );
  assert.equal(weak.headers.get("etag"), 'W/"v2"');
  await using off = await pair(handler, { automaticCompression: false });
  const plain = await curl(
    `http://127.0.0.1:${off.krepis}/`,
    "gzip, br",
    false,
  );
  assert.equal(plain.headers.get("content-encoding"), undefined);
  assert.equal(plain.headers.get("content-length"), String(text.length));
  assert.equal(new TextDecoder().decode(plain.body), text);
});
