/**
 * A host app with the `tenant-guard` plugin in its pipeline. Sign the plugin first (see the
 * README's Plugins section), then:
 *
 * ```sh
 * ALLOWED_TENANTS=acme deno run -A --unstable-worker-options examples/plugins/main.ts \
 *   tenant-guard publisher.key.pub
 * curl -H 'x-tenant-id: acme' localhost:8000/hello   # 200
 * curl -H 'x-tenant-id: evil' localhost:8000/hello   # 403
 * ```
 *
 * @module
 */

import { createApp, defineQuery, ok, route } from "../../packages/core/mod.ts";
import { defaultBehaviors } from "../../packages/core/pipeline.ts";
import { loadPlugin, pluginBehavior } from "../../packages/core/plugins.ts";

const [dir = "tenant-guard", trusted = "publisher.key.pub"] = Deno.args;
const guard = await loadPlugin(dir, {
  trustedKeys: [await Deno.readTextFile(trusted)],
});
const hello = defineQuery({
  name: "hello",
  handle: (ctx) => ok({ hello: ctx.tenantId }),
});
const app = createApp({
  queries: [hello],
  routes: [route("GET", "/hello", hello)],
  behaviors: [...defaultBehaviors(), pluginBehavior(guard)],
});
await app.serve({ port: 8000 });
