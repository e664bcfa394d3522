/**
 * The requests the HTTP server is working on, by id, without a hash-map entry per request.
 *
 * The kernel's request ids keep its slot number in their low 32 bits, and a slot is reused
 * only after this side's response for the id before it was submitted — after the entry was
 * deleted here. So the low bits index an array: adding, finding and deleting cost no
 * allocation (a `Map` with an entry added and deleted per request costs ≈150 bytes of
 * garbage each time, its rehashing). An id whose slot number is out of range or taken goes
 * to a `Map` instead, so lookups stay correct whatever the ids look like.
 *
 * @module
 */

/** Slot numbers below this are kept in the array. (`id >>> 0` is the id's low 32 bits.) */
const SLOTS = 1 << 16;

/** See the module docs. */
export class PendingTable<T extends { readonly id: number }> {
  #slots: (T | undefined)[] = [];
  #overflow = new Map<number, T>();

  /**
   * Adds `item` under its id (which must not be present).
   *
   * @example
   * ```ts
   * import { PendingTable } from "./pending.ts";
   * const table = new PendingTable<{ id: number }>();
   * const request = { id: 2 ** 32 + 5 };
   * table.add(request);
   * console.assert(table.get(2 ** 32 + 5) === request && table.get(5) === undefined);
   * table.delete(request);
   * console.assert(table.get(2 ** 32 + 5) === undefined);
   * ```
   */
  add(item: T): void {
    const slot = item.id >>> 0;
    const slots = this.#slots;
    if (slot < SLOTS && (slot >= slots.length || slots[slot] === undefined)) {
      // Filled up to the slot, so the array stays dense.
      while (slots.length < slot) slots.push(undefined);
      slots[slot] = item;
    } else this.#overflow.set(item.id, item);
  }

  /** The item with this id, if present. */
  get(id: number): T | undefined {
    const item = this.#slots[id >>> 0];
    if (item !== undefined && item.id === id) return item;
    return this.#overflow.size === 0 ? undefined : this.#overflow.get(id);
  }

  /** Removes `item` (added before). */
  delete(item: T): void {
    const slot = item.id >>> 0;
    if (this.#slots[slot] === item) this.#slots[slot] = undefined;
    else this.#overflow.delete(item.id);
  }

  /** Every item present, in no particular order (a copy: deleting meanwhile is fine). */
  values(): T[] {
    const out: T[] = [];
    const slots = this.#slots;
    for (let i = 0; i < slots.length; i++) {
      const item = slots[i];
      if (item !== undefined) out.push(item);
    }
    this.#overflow.forEach((item) => out.push(item));
    return out;
  }
}
