import { definePort, type KrepisContext } from "@krepis/core";
import type { Greeting } from "../domain/greeting.ts";

/** Where greetings are recorded. Every method takes the context first. */
export interface GreetingLog {
  /** Records one greeting. */
  record(ctx: KrepisContext, greeting: Greeting): Promise<void>;
  /** How many greetings were recorded. */
  count(ctx: KrepisContext): Promise<number>;
}

/** The port; `record` writes, so queries get a view without it. */
export const GreetingLogPort = definePort<GreetingLog>("greetingLog", {
  writes: ["record"],
});
