/** The tenants allowed by `ALLOWED_TENANTS` (comma-separated), read once. */
export const allowed: ReadonlySet<string> = new Set(
  (Deno.env.get("ALLOWED_TENANTS") ?? "").split(",").map((t) => t.trim())
    .filter(Boolean),
);
