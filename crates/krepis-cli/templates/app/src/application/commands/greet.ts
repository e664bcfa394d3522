import { defineCommand, ok } from "@krepis/core";
import { z } from "zod";
import { greet } from "../../domain/greeting.ts";
import { GreetingLogPort } from "../../ports/greeting_log.ts";

/** Greets someone and records it. */
export const greetCommand = defineCommand({
  name: "greet",
  input: z.object({ name: z.string().max(100).default("") }),
  deps: { log: GreetingLogPort },
  async handle(ctx, input, { log }) {
    const greeting = greet(input.name);
    await log.record(ctx, greeting);
    return ok(greeting);
  },
});
