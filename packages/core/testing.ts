/**
 * `@krepis/core/testing`: helpers for tests of Krepis apps — an in-memory log sink whose
 * records a test can assert on.
 *
 * @example
 * ```ts
 * import { createContext } from "@krepis/core";
 * import { memorySink } from "@krepis/core/testing";
 * const log = memorySink();
 * createContext({ log }).log.info("hello", { n: 1 });
 * console.assert(log.records()[0].msg === "hello");
 * ```
 *
 * @module
 */

export { type MemorySink, memorySink } from "./src/context/logger.ts";
