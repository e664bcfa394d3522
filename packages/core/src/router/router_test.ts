import assert from "node:assert/strict";
import { defaultInput } from "./route.ts";
import { parsePattern, Router } from "./router.ts";

function router() {
  const r = new Router<string>();
  for (
    const [m, p, v] of [
      ["GET", "/", "root"],
      ["GET", "/todos", "list"],
      ["POST", "/todos", "create"],
      ["GET", "/todos/:id", "get"],
      ["DELETE", "/todos/:id", "delete"],
      ["GET", "/todos/stats", "stats"],
      ["POST", "/todos/:id/complete", "complete"],
      ["GET", "/users/:userId/todos/:todoId", "nested"],
    ]
  ) assert.equal(r.add(m, p, v), undefined);
  return r;
}

Deno.test("routes match by method and path, decoding params", () => {
  const r = router();
  const hit = (m: string, p: string) => {
    const res = r.match(m, p);
    assert.equal(res.kind, "found", `${m} ${p}`);
    return res.kind === "found" ? res.match : undefined!;
  };
  assert.equal(hit("GET", "/").value, "root");
  assert.equal(hit("GET", "/todos").value, "list");
  assert.equal(hit("GET", "/todos/").value, "list", "trailing slash tolerated");
  assert.equal(hit("POST", "/todos").value, "create");
  assert.deepEqual(hit("GET", "/todos/a%20b").params, { id: "a b" });
  assert.equal(hit("GET", "/todos/stats").value, "stats", "static beats param");
  assert.equal(hit("GET", "/todos/stats/").value, "stats");
  assert.equal(r.match("GET", "/todos/stat%73").kind, "found", "as a param");
  assert.equal(hit("GET", "/todos/stat%73").value, "get");
  assert.equal(hit("POST", "/todos/7/complete").params.id, "7");
  assert.deepEqual(hit("GET", "/users/u1/todos/t2").params, {
    userId: "u1",
    todoId: "t2",
  });
  assert.equal(hit("HEAD", "/todos/1").value, "get", "HEAD falls back to GET");
  assert.equal(
    hit("GET", "//").value,
    "root",
    "a lone doubled slash is the root",
  );
  assert.deepEqual(hit("GET", "/users/u%2F1/todos/t2/").params, {
    userId: "u/1",
    todoId: "t2",
  });
  for (const p of ["/todos//complete", "/todos/1//", "//todos", "/todos/1/"]) {
    const res = r.match("POST", p);
    assert.notEqual(res.kind, "found", `POST ${p}`);
  }
  assert.equal(
    r.match("GET", "/todos//").kind,
    "not-found",
    "empty id segment",
  );
});

Deno.test("unknown paths are not-found, known paths with other methods list allowed ones", () => {
  const r = router();
  assert.equal(r.match("GET", "/nope").kind, "not-found");
  assert.equal(r.match("GET", "/todos/1/complete/extra").kind, "not-found");
  assert.equal(r.match("GET", "/users/u1").kind, "not-found");
  const m = r.match("PUT", "/todos/1");
  assert.equal(m.kind, "method-not-allowed");
  assert.deepEqual(
    m.kind === "method-not-allowed" ? m.allowed.sort() : [],
    ["DELETE", "GET", "HEAD"],
  );
  const post = r.match("GET", "/todos/1/complete");
  assert.deepEqual(post.kind === "method-not-allowed" ? post.allowed : [], [
    "POST",
  ]);
  assert.equal(r.match("GET", "/todos/%E0%A4%A").kind, "bad-path");
});

Deno.test("bad patterns and duplicates are reported, not thrown", () => {
  const r = router();
  assert.match(
    r.add("GET", "/todos/:todoId", "x")!,
    /duplicate route GET \/todos\/:todoId/,
  );
  assert.match(r.add("GET", "todos", "x")!, /must start with "\/"/);
  assert.match(r.add("GET", "/a/:id/:id", "x")!, /repeats parameter "id"/);
  assert.match(r.add("GET", "/a/:1x", "x")!, /invalid parameter name/);
  assert.match(r.add("GET", "/a//b", "x")!, /empty segment/);
  assert.match(r.add("GET", "/files/*", "x")!, /unsupported segment/);
  assert.deepEqual(parsePattern("/a/:b"), ["a", ":b"]);
});

Deno.test("default input merges query, body and params with params winning", () => {
  assert.deepEqual(
    defaultInput({
      params: { id: "1" },
      query: { q: "x", tags: ["a", "b"] },
      body: { title: "t", id: "forged" },
    }),
    { q: "x", tags: ["a", "b"], title: "t", id: "1" },
  );
  assert.deepEqual(defaultInput({ params: {}, query: {}, body: [1, 2] }), [
    1,
    2,
  ]);
  assert.deepEqual(
    defaultInput({ params: {}, query: {}, body: undefined }),
    {},
  );
});

Deno.test("many static siblings (looked up) and few (compared in place) match alike", () => {
  for (const count of [3, 40]) {
    const r = new Router<string>();
    for (let i = 0; i < count; i++) {
      assert.equal(r.add("GET", `/s${i}/:id`, `s${i}`), undefined);
      assert.equal(r.add("GET", `/s${i}/:id/x`, `s${i}x`), undefined);
    }
    r.add("GET", "/:any/y", "param"); // reached when no static sibling matches
    for (let i = 0; i < count; i++) {
      const m = r.match("GET", `/s${i}/7`);
      assert.ok(m.kind === "found" && m.match.value === `s${i}`, `${count}`);
      const x = r.match("GET", `/s${i}/8/x`);
      assert.ok(x.kind === "found" && x.match.params.id === "8");
    }
    // A prefix of a static segment, or one longer than it, is not that segment.
    for (const path of ["/s1x/y", "/s/y", `/s${count}/y`]) {
      const m = r.match("GET", path);
      assert.ok(m.kind === "found" && m.match.value === "param", path);
    }
    assert.equal(r.match("GET", "/s1x/7").kind, "not-found");
  }
});

Deno.test("a walk that backtracks past a parameter keeps only the values of its hit", () => {
  const r = new Router<string>();
  for (
    const [p, v] of [
      ["/a/:x/b/:y/end", "deep"],
      ["/a/:z/c", "short"],
      ["/:top/d", "top"],
    ]
  ) assert.equal(r.add("GET", p, v), undefined);
  const params = (p: string) => {
    const res = r.match("GET", p);
    assert.equal(res.kind, "found", p);
    return res.kind === "found" ? res.match.params : undefined!;
  };
  // Tries /a/:x/b/:y first (writing x, then y), falls back to /a/:z/c, then to /:top/d.
  const deep = params("/a/1/b/2/end");
  assert.deepEqual(params("/a/3/c"), { z: "3" });
  assert.deepEqual(params("/a/d"), { top: "a" });
  assert.deepEqual(params("/a/4/b/5/end"), { x: "4", y: "5" });
  assert.equal(r.match("GET", "/a/6/b/7/nope").kind, "not-found");
  assert.deepEqual(
    deep,
    { x: "1", y: "2" },
    "an earlier match's params are its own",
  );
});
