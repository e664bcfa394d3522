/**
 * Adapters over the system: the wall clock and random UUIDs.
 *
 * @module
 */

import type { KrepisContext } from "@krepis/core";
import type { Clock, IdGenerator } from "../ports/todo_ports.ts";

/** The wall clock. */
export const systemClock: Clock = { now: (_ctx: KrepisContext) => Date.now() };

/** Random UUID v4 ids. */
export const uuidIds: IdGenerator = {
  next: (_ctx: KrepisContext) => crypto.randomUUID(),
};
