import { defineQuery, ok } from "@krepis/core";
import { GreetingLogPort } from "../../ports/greeting_log.ts";

/** How many greetings were given. */
export const countGreetingsQuery = defineQuery({
  name: "countGreetings",
  deps: { log: GreetingLogPort },
  async handle(ctx, _input, { log }) {
    return ok({ count: await log.count(ctx) });
  },
});
