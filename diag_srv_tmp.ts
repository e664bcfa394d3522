import { serve } from "@krepis/core";
const MIB = new Uint8Array(1 << 20).fill(120);
await serve({ hostname: "127.0.0.1", port: 0, onListen: (a) => { Deno.writeTextFileSync("/tmp/diag_port", String(a.port)); } }, () => new Response(MIB));
