/**
 * A `behavior` plugin: the host calls the default export in the plugin's isolate before
 * each command or query it wraps. Returning `{}` (or `{ input }`) continues; `{ reject }`
 * stops the call with that error.
 *
 * @module
 */

import { allowed } from "./lib/tenants.ts";

interface Ctx {
  tenantId?: string;
  traceId: string;
}

interface Call {
  handler: string;
  kind: "command" | "query";
  input: unknown;
}

export default function guard(ctx: Ctx, call: Call) {
  if (ctx.tenantId !== undefined && allowed.has(ctx.tenantId)) return {};
  return {
    reject: {
      code: "FORBIDDEN",
      message: `tenant ${ctx.tenantId ?? "(none)"} may not run ${call.handler}`,
    },
  };
}
