// A command plugin: `args` in, `{ exitCode, output }` out. `wait` blocks until the host
// aborts the call; later calls report how many aborts the isolate saw.
let abortsSeen = 0;

interface Ctx {
  requestId: string;
  traceId: string;
  spanId: string;
  tenantId?: string;
  deadline: number;
  signal: AbortSignal;
}

export default async function (ctx: Ctx, call: { args: string[] }) {
  if (call.args[0] === "wait") {
    await new Promise((resolve) =>
      ctx.signal.addEventListener("abort", resolve, { once: true })
    );
    abortsSeen++;
  }
  const { requestId, traceId, spanId, tenantId, deadline } = ctx;
  return {
    exitCode: 0,
    output: {
      args: call.args,
      requestId,
      traceId,
      spanId,
      tenantId,
      deadline,
      abortsSeen,
    },
  };
}
