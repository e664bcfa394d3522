/**
 * Adapters over the system: the wall clock and random UUIDs.
 *
 * @module
 */

import type { Clock, IdGenerator } from "../application/ports.ts";

/** The wall clock. */
export const systemClock: Clock = { now: (_ctx) => Date.now() };

/** Random UUID v4 ids. */
export const uuidIds: IdGenerator = { next: (_ctx) => crypto.randomUUID() };
