import assert from "node:assert/strict";
import { AppError, ERROR_STATUS } from "./app_error.ts";
import { err, ok } from "./result.ts";

Deno.test("ok and err build discriminated results", () => {
  const good = ok({ id: 1 });
  assert.equal(good.ok, true);
  assert.deepEqual(good.value, { id: 1 });
  const bad = err(new AppError("NOT_FOUND", "gone"));
  assert.equal(bad.ok, false);
  assert.equal(bad.error.code, "NOT_FOUND");
});

Deno.test("AppError maps codes to HTTP statuses and serialises safely", () => {
  for (const [code, status] of Object.entries(ERROR_STATUS)) {
    assert.equal(new AppError(code, "m").status, status);
  }
  assert.equal(new AppError("CUSTOM", "m").status, 500, "unknown code → 500");
  assert.equal(new AppError("QUOTA", "m", { status: 429 }).status, 429);
  const e = new AppError("CONFLICT", "dup", {
    details: { id: 1 },
    cause: new Error("secret"),
  });
  assert.deepEqual(JSON.parse(JSON.stringify(e)), {
    code: "CONFLICT",
    message: "dup",
    details: { id: 1 },
  });
  assert.ok(e instanceof Error);
  assert.equal((e.cause as Error).message, "secret");
});
