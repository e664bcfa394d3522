import type { KrepisContext } from "@krepis/core";
import type { Greeting } from "../domain/greeting.ts";
import type { GreetingLog } from "../ports/greeting_log.ts";

/** Keeps greetings in memory (swap in a database adapter in src/app.ts). */
export class MemoryGreetingLog implements GreetingLog {
  #greetings: Greeting[] = [];

  record(_ctx: KrepisContext, greeting: Greeting): Promise<void> {
    this.#greetings.push(greeting);
    return Promise.resolve();
  }

  count(_ctx: KrepisContext): Promise<number> {
    return Promise.resolve(this.#greetings.length);
  }
}
