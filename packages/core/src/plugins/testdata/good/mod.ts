// A behavior plugin: runs before each command or query it wraps and may replace its input.
import { greeting } from "./lib/greeting.ts";

export default function (
  ctx: { traceId: string },
  call: { handler: string; input: unknown },
) {
  const input = call.input as Record<string, unknown> | undefined;
  return {
    input: { ...input, greeting: greeting(), traceId: ctx.traceId },
  };
}
