/**
 * `@krepis/core/knul`: KNUL, Krepis's service-to-service calls over QUIC. The wire format is
 * specified in `docs/knul.md`; the kernel reads each call's context header (deadline,
 * tenant, priority, method) and admits or refuses it before any TypeScript runs.
 *
 * @example
 * ```ts ignore
 * import { connectKnul, serveKnul } from "@krepis/core/knul";
 * import { createContext } from "@krepis/core";
 * declare const cert: string, key: string, ca: string;
 * const server = await serveKnul({ cert, key }, { "math.add": (_ctx, { a, b }) => a + b });
 * const client = await connectKnul({
 *   hostname: "127.0.0.1", port: server.addr.port, caCerts: [ca], serverName: "localhost",
 * });
 * console.log(await client.call(createContext(), "math.add", { a: 1, b: 2 })); // 3
 * await client.close();
 * await server.close();
 * ```
 *
 * @module
 */

export {
  KnulError,
  KnulStatus,
  type KnulStatusName,
  statusOfAppError,
} from "./src/knul/status.ts";
export type {
  KnulCallInfo,
  KnulHandler,
  KnulMethod,
  KnulServeOptions,
  KnulServerStats,
  KnulTenantLimits,
} from "./src/knul/types.ts";
export { KnulCall } from "./src/knul/call_info.ts";
export { KnulServer, serveKnul } from "./src/knul/server.ts";
export {
  connectKnul,
  type KnulCallOptions,
  KnulClient,
  type KnulConnectInfo,
  type KnulConnectOptions,
  type TypedKnulClient,
} from "./src/knul/client.ts";
