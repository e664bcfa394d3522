/**
 * `createApp`: checks the wiring, builds the container and every handler's pipeline once,
 * and exposes the app as `fetch` (a standard handler), `execute` (direct calls for tests and
 * CLIs) and `openapi()`.
 *
 * @module
 */

import {
  type ContextInit,
  createContext,
  type KrepisContext,
} from "../context/context.ts";
import { jsonLinesSink, type LogSink } from "../context/logger.ts";
import type { AnyHandler, OutputOf, RawInputOf } from "../cqs/handler.ts";
import { Container } from "../di/container.ts";
import type { AdapterBinding } from "../di/provide.ts";
import { buildOpenApi, type OpenApiInfo } from "../openapi/document.ts";
import type { Behavior } from "../pipeline/behavior.ts";
import { errors } from "../pipeline/errors.ts";
import { timeout } from "../pipeline/timeout.ts";
import { tracing } from "../pipeline/tracing.ts";
import { serveAnswers } from "../http/serve.ts";
import { loadKernel } from "../native/loader.ts";
import type { HttpServer, ServeOptions } from "../http/types.ts";
import type { AnswerHandler } from "../http/response.ts";
import { appMethods } from "../knul/app.ts";
import { type KnulServer, serveKnul } from "../knul/server.ts";
import type { KnulServeOptions } from "../knul/types.ts";
import type { Result } from "../result/result.ts";
import type { Route } from "../router/route.ts";
import { createFetchHandler, createKernelHandler } from "./http_handler.ts";
import { buildPlans } from "./plan.ts";
import { Pending, settled } from "../pipeline/pending.ts";
import type { FetchInfo } from "./request_context.ts";
import { checkWiring } from "./wiring.ts";

/**
 * OpenAPI settings of an app.
 *
 * @example
 * ```ts
 * import { type AppOpenApiOptions, createApp } from "@krepis/core";
 * import { memorySink } from "@krepis/core/testing";
 * const openapi: AppOpenApiOptions = { title: "Todos", version: "2.0.0", path: "/docs/openapi.json" };
 * const app = createApp({ openapi, log: memorySink() });
 * console.assert((await app.fetch(new Request("http://x/docs/openapi.json"))).status === 200);
 * ```
 */
export interface AppOpenApiOptions extends OpenApiInfo {
  /** Where the document is served (default `/openapi.json`). */
  path?: string;
}

/**
 * Everything an app is made of.
 *
 * @example
 * ```ts
 * import { type AppOptions, createApp, defineQuery, ok, route } from "@krepis/core";
 * import { memorySink } from "@krepis/core/testing";
 * const ping = defineQuery({ name: "ping", handle: () => ok("pong") });
 * const options: AppOptions = {
 *   queries: [ping],
 *   routes: [route("GET", "/ping", ping)],
 *   log: memorySink(),
 *   requestTimeoutMs: 5_000,
 * };
 * createApp(options);
 * ```
 */
export interface AppOptions {
  /** Port → adapter bindings (see `provide`). */
  adapters?: readonly AdapterBinding[];
  /** Commands the app runs. */
  commands?: readonly AnyHandler[];
  /** Queries the app runs. */
  queries?: readonly AnyHandler[];
  /** HTTP routes to commands and queries. */
  routes?: readonly Route[];
  /** Pipeline behaviors, outermost first (default {@linkcode defaultBehaviors}). */
  behaviors?: readonly Behavior[];
  /** Where contexts log (default: JSON lines on stdout at `info`). */
  log?: LogSink;
  /**
   * Attaches capabilities to every operation's context (e.g. `ctx.with(Fs, fs)`); runs once
   * per `execute`, before the pipeline.
   */
  context?: (ctx: KrepisContext) => KrepisContext;
  /** OpenAPI document settings, or `false` to serve none. */
  openapi?: AppOpenApiOptions | false;
  /** Budget of a request that arrives without a deadline, in ms (default 30 000). */
  requestTimeoutMs?: number;
  /** Header carrying the tenant id (default `x-tenant-id`). */
  tenantHeader?: string;
  /** Largest accepted JSON body in bytes (default 1 MiB). */
  maxBodyBytes?: number;
  /**
   * Whether HTTP responses carry the request's `traceparent` and `x-request-id` (default
   * `true`). Logs carry the ids either way. Served by the kernel they build no `Headers`
   * (they go to its server in the answer's header list; 0.5–1.5 µs per request end to end
   * in `bench/http/ab.sh` runs); through `app.fetch` on other hosts a JSON response then
   * builds `Headers`, 0.5–1.5 µs per request (`deno task bench:core`). An app whose
   * clients never read them can save that.
   */
  traceHeaders?: boolean;
}

/**
 * A running app. `await using app = createApp(...)` closes it at the end of the block.
 *
 * @example
 * ```ts
 * import { type App, createApp, defineQuery, ok } from "@krepis/core";
 * import { memorySink } from "@krepis/core/testing";
 * const ping = defineQuery({ name: "ping", handle: () => ok("pong") });
 * const app: App = createApp({ queries: [ping], log: memorySink() });
 * const r = await app.execute(app.context(), ping, undefined);
 * console.assert(r.ok && r.value === "pong");
 * ```
 */
export interface App extends AsyncDisposable {
  /**
   * Serves the app over HTTP/1.1 and HTTP/2 from the Krepis kernel; each request's context
   * is derived from the kernel's (ids, deadline, disconnect signal). Loads the kernel first
   * (from a local build, the download cache, or a verified download). Resolves once listening.
   */
  serve(options?: ServeOptions): Promise<HttpServer>;
  /**
   * Serves the app's commands and queries over KNUL (QUIC), by handler name; queries are
   * idempotent. Logs go to the app's sink unless `options.log` says otherwise.
   */
  serveKnul(options: KnulServeOptions): Promise<KnulServer>;
  /** Standard fetch handler: `(req, info?) => Promise<Response>`. */
  fetch(req: Request, info?: FetchInfo): Promise<Response>;
  /** Runs a registered command or query directly, through the full pipeline. */
  execute<H extends AnyHandler>(
    ctx: KrepisContext,
    handler: H,
    input: RawInputOf<H>,
  ): Promise<Result<OutputOf<H>>>;
  /** Creates a root context logging to the app's sink (for tests and CLIs). */
  context(init?: ContextInit): KrepisContext;
  /** The OpenAPI 3.1 document of the app's routes. */
  openapi(): Record<string, unknown>;
  /**
   * Releases what the app built: singleton adapters created by factories are disposed
   * (`Symbol.asyncDispose`/`Symbol.dispose`), newest first. Stop serving first.
   */
  close(): Promise<void>;
}

/**
 * The default pipeline: error mapping (outermost), tracing, then timeout/cancellation.
 *
 * @example
 * ```ts
 * import { ok } from "@krepis/core";
 * import { auth, defaultBehaviors } from "@krepis/core/pipeline";
 * const behaviors = [...defaultBehaviors(), auth((ctx) => ok(ctx))];
 * console.assert(behaviors.map((b) => b.name).join() === "errors,tracing,timeout,auth");
 * ```
 */
export function defaultBehaviors(): Behavior[] {
  return [errors(), tracing(), timeout()];
}

/**
 * Creates an app; throws a `WiringError` listing every wiring problem at once.
 *
 * @example
 * ```ts
 * import { z } from "zod";
 * import { createApp, defineQuery, ok, route } from "@krepis/core";
 * import { memorySink } from "@krepis/core/testing";
 * const hello = defineQuery({
 *   name: "hello",
 *   input: z.object({ name: z.string() }),
 *   handle: (_ctx, input) => ok({ greeting: `hello ${input.name}` }),
 * });
 * const app = createApp({
 *   queries: [hello],
 *   routes: [route("GET", "/hello/:name", hello)],
 *   log: memorySink(),
 * });
 * const res = await app.fetch(new Request("http://localhost/hello/ada"));
 * console.assert((await res.json()).greeting === "hello ada");
 * const direct = await app.execute(app.context(), hello, { name: "bob" });
 * console.assert(direct.ok);
 * ```
 */
export function createApp(options: AppOptions): App {
  const adapters = options.adapters ?? [];
  const commands = options.commands ?? [];
  const queries = options.queries ?? [];
  const routes = options.routes ?? [];
  const behaviors = options.behaviors ?? defaultBehaviors();
  const log = options.log ?? jsonLinesSink("info");
  const router = checkWiring({
    adapters,
    commands,
    queries,
    routes,
    behaviors,
    settings: {
      maxBodyBytes: options.maxBodyBytes,
      requestTimeoutMs: options.requestTimeoutMs,
      tenantHeader: options.tenantHeader,
      openapiPath: options.openapi ? options.openapi.path : undefined,
    },
  });

  const container = new Container(
    adapters,
    createContext({ name: "app", log }),
  );
  const plans = buildPlans([...commands, ...queries], behaviors, container);
  const attach = options.context;

  // Settles without a promise when the whole pipeline did (see `Step`).
  const run = (
    ctx: KrepisContext,
    handler: AnyHandler,
    input: unknown,
  ): Result<unknown> | Pending => {
    const plan = plans.get(handler);
    if (!plan) {
      throw new Error(
        `"${handler?.name}" is not a command or query registered with this app`,
      );
    }
    return plan(attach ? attach(ctx) : ctx, input);
  };
  const execute = (
    ctx: KrepisContext,
    handler: AnyHandler,
    input: unknown,
  ): Promise<Result<unknown>> => {
    try {
      return settled(run(ctx, handler, input)) as Promise<Result<unknown>>;
    } catch (e) {
      return Promise.reject(e);
    }
  };

  const openapiOptions = options.openapi === false ? undefined : {
    title: "Krepis app",
    version: "0.0.0",
    ...options.openapi,
  };
  const openapi = () => {
    if (!openapiOptions) return {};
    const { path: _path, ...info } = openapiOptions;
    return buildOpenApi(routes, info);
  };
  let openapiJson: string | undefined;

  const handlerOptions = {
    router,
    execute: run,
    log,
    maxBodyBytes: options.maxBodyBytes ?? 1 << 20,
    tenantHeader: (options.tenantHeader ?? "x-tenant-id").toLowerCase(),
    requestTimeoutMs: options.requestTimeoutMs ?? 30_000,
    traceHeaders: options.traceHeaders ?? true,
    openapi: openapiOptions && {
      path: openapiOptions.path ?? "/openapi.json",
      document: () => openapiJson ??= JSON.stringify(openapi()),
    },
  };
  const handle = createFetchHandler(handlerOptions);
  // Served by the kernel, answers reach its server without a `Response`.
  const kernelHandle = createKernelHandler(handlerOptions);

  const app: App = {
    // This API is asynchronous, so it can load the kernel first (from the download cache,
    // or downloading it), which the synchronous serve() cannot.
    serve: async (serveOptions = {}) => {
      await loadKernel();
      // The kernel's server takes a Response returned synchronously at once.
      return serveAnswers(serveOptions, kernelHandle);
    },
    serveKnul: (knulOptions) =>
      serveKnul(
        { log, ...knulOptions },
        appMethods([...commands, ...queries], execute),
      ),
    fetch: (req, info) => {
      try {
        return Promise.resolve(handle(req, info));
      } catch (e) {
        return Promise.reject(e);
      }
    },
    execute: execute as App["execute"],
    context: (init) => createContext({ log, ...init }),
    openapi,
    close: () => container.dispose(),
    [Symbol.asyncDispose]: () => container.dispose(),
  };
  KERNEL_HANDLERS.set(app, kernelHandle);
  return app;
}

const KERNEL_HANDLERS = new WeakMap<App, AnswerHandler>();

/**
 * The handler `app.serve` gives the kernel's server (internal: `bench/js_path.ts` runs it on
 * a stand-in kernel).
 */
export function kernelHandlerOf(
  app: App,
): AnswerHandler | undefined {
  return KERNEL_HANDLERS.get(app);
}
