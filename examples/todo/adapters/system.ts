/**
 * Adapters over the system: the wall clock and random UUIDs.
 *
 * @module
 */

import type { Clock, IdGenerator } from "../application/ports.ts";

/** The wall clock. */
export const systemClock: Clock = { now: () => Date.now() };

/** Random UUID v4 ids. */
export const uuidIds: IdGenerator = { next: () => crypto.randomUUID() };
