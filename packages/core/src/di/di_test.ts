import assert from "node:assert/strict";
import { createContext } from "../context/context.ts";
import { Container, ResolutionError } from "./container.ts";
import { definePort, isPort } from "./port.ts";
import { provide } from "./provide.ts";
import { CqsViolationError, readOnlyView } from "./readonly.ts";

interface Clock {
  now(): number;
}
interface Counter {
  value(): number;
  increment(): void;
}
const ClockPort = definePort<Clock>("clock", { writes: [] });
const CounterPort = definePort<Counter>("counter", { writes: ["increment"] });

class MemoryCounter implements Counter {
  #n = 0;
  value() {
    return this.#n;
  }
  increment() {
    this.#n++;
  }
}

Deno.test("definePort records the write methods and rejects a missing name", () => {
  assert.deepEqual([...CounterPort.writes], ["increment"]);
  assert.ok(isPort(CounterPort));
  assert.ok(!isPort({ kind: "port", name: "fake" }));
  assert.throws(() => definePort<Clock>("", { writes: [] }), /needs a name/);
});

Deno.test("singletons are created once, lazily, per container", () => {
  let created = 0;
  const bindings = [
    provide(ClockPort, () => {
      created++;
      return { now: () => 1 };
    }),
  ];
  const c = new Container(bindings, createContext());
  assert.equal(created, 0);
  const a = c.get(ClockPort);
  assert.equal(c.get(ClockPort), a);
  assert.equal(c.scope(createContext()).get(ClockPort), a);
  assert.equal(created, 1);
  const other = new Container(bindings, createContext());
  assert.notEqual(other.get(ClockPort), a, "no sharing across containers");
});

Deno.test("scoped instances are created once per scope and see the scope's context", () => {
  const seen: string[] = [];
  const c = new Container([
    provide(CounterPort, (r) => {
      seen.push(r.ctx.requestId);
      return new MemoryCounter();
    }, { lifetime: "scoped" }),
  ], createContext());
  const s1 = c.scope(createContext({ requestId: "a" }));
  const s2 = c.scope(createContext({ requestId: "b" }));
  assert.equal(s1.get(CounterPort), s1.get(CounterPort));
  assert.notEqual(s1.get(CounterPort), s2.get(CounterPort));
  assert.deepEqual(seen, ["a", "b"]);
});

Deno.test("factories resolve their dependencies through the resolver", () => {
  const c = new Container([
    provide(ClockPort, { now: () => 42 }),
    provide(CounterPort, (r) => {
      const start = r.get(ClockPort).now();
      const counter = new MemoryCounter();
      for (let i = 0; i < start; i++) counter.increment();
      return counter;
    }, { lifetime: "scoped", deps: [ClockPort] }),
  ], createContext());
  assert.equal(c.scope(createContext()).get(CounterPort).value(), 42);
});

Deno.test("resolution errors are clear: missing adapter, captive scope, cycle", () => {
  const empty = new Container([], createContext());
  assert.throws(
    () => empty.get(ClockPort),
    (e) =>
      e instanceof ResolutionError &&
      /no adapter provided for port "clock"/.test(e.message),
  );
  const captive = new Container([
    provide(CounterPort, () => new MemoryCounter(), { lifetime: "scoped" }),
  ], createContext());
  assert.throws(
    () => captive.get(CounterPort),
    /is scoped and cannot be resolved outside/,
  );

  const A = definePort<{ a: 1 }>("A", { writes: [] });
  const B = definePort<{ b: 1 }>("B", { writes: [] });
  const cyclic = new Container([
    provide(A, (r) => (r.get(B), { a: 1 as const })),
    provide(B, (r) => (r.get(A), { b: 1 as const })),
  ], createContext());
  assert.throws(
    () => cyclic.get(A),
    /dependency cycle while creating port "A"/,
  );
  const scopedCycle = new Container([
    provide(A, (r) => (r.get(A), { a: 1 as const }), { lifetime: "scoped" }),
  ], createContext());
  assert.throws(
    () => scopedCycle.scope(createContext()).get(A),
    /dependency cycle while creating port "A"/,
  );
});

Deno.test("a failing factory is retried on the next resolve", () => {
  let attempts = 0;
  const c = new Container([
    provide(ClockPort, () => {
      if (++attempts === 1) throw new Error("not yet");
      return { now: () => 5 };
    }),
  ], createContext());
  assert.throws(() => c.get(ClockPort), /not yet/);
  assert.equal(c.get(ClockPort).now(), 5);
});

Deno.test("disposing a scope disposes its scoped instances, newest first", async () => {
  const order: string[] = [];
  const A = definePort<{ name: string }>("A", { writes: [] });
  const B = definePort<{ name: string }>("B", { writes: [] });
  const c = new Container([
    provide(A, () => ({ name: "a", [Symbol.dispose]: () => order.push("a") }), {
      lifetime: "scoped",
    }),
    provide(B, () => ({
      name: "b",
      [Symbol.asyncDispose]: async () => {
        await Promise.resolve();
        order.push("b");
      },
    }), { lifetime: "scoped" }),
  ], createContext());
  const scope = c.scope(createContext());
  scope.get(A);
  scope.get(B);
  assert.ok(scope.needsDispose);
  await scope.dispose();
  assert.deepEqual(order, ["b", "a"]);
  await scope.dispose();
  assert.deepEqual(order, ["b", "a"], "disposal happens once");
});

Deno.test("disposing the container disposes factory-built singletons, not fixed instances", async () => {
  const order: string[] = [];
  const disposable = (name: string) => ({
    name,
    [Symbol.asyncDispose]: async () => {
      await Promise.resolve();
      order.push(name);
    },
  });
  const A = definePort<{ name: string }>("A", { writes: [] });
  const B = definePort<{ name: string }>("B", { writes: [] });
  const Fixed = definePort<{ name: string }>("fixed", { writes: [] });
  const c = new Container([
    provide(A, () => disposable("a")),
    provide(B, (r) => (r.get(A), disposable("b")), { deps: [A] }),
    provide(Fixed, disposable("fixed")),
  ], createContext());
  const first = c.get(B);
  c.get(Fixed);
  await c.dispose();
  assert.deepEqual(
    order,
    ["b", "a"],
    "newest first; the caller owns fixed instances",
  );
  assert.notEqual(c.get(B), first, "a later resolve builds a fresh instance");
});

Deno.test("a failing disposal does not stop the others and is reported", async () => {
  const order: string[] = [];
  const A = definePort<object>("A", { writes: [] });
  const B = definePort<object>("B", { writes: [] });
  const c = new Container([
    provide(A, () => ({ [Symbol.dispose]: () => order.push("a") })),
    provide(B, () => ({
      [Symbol.dispose]: () => {
        throw new Error("b failed");
      },
    })),
  ], createContext());
  c.get(A);
  c.get(B);
  await assert.rejects(() => c.dispose(), /b failed/);
  assert.deepEqual(order, ["a"]);
});

Deno.test("read-only views allow reads, block writes and assignments, keep #private state", () => {
  const counter = new MemoryCounter();
  counter.increment();
  const view = readOnlyView(counter, CounterPort, "showCount");
  assert.equal(view.value(), 1);
  assert.equal(view.value, view.value, "bound methods are cached");
  assert.throws(
    () => view.increment(),
    (e) =>
      e instanceof CqsViolationError && e.query === "showCount" &&
      e.method === "increment" && e.port === "counter" &&
      e.message.startsWith(
        'CQS violation: query "showCount" called write method "increment" of port "counter"',
      ),
  );
  assert.throws(() => {
    (view as unknown as Record<string, unknown>).extra = 1;
  }, /query "showCount" assigned property "extra"/);
  assert.throws(() => {
    delete (view as unknown as Record<string, unknown>).value;
  }, CqsViolationError);
  assert.equal(counter.value(), 1, "nothing was written");
});
