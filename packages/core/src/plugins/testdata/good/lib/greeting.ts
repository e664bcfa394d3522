export function greeting(): string {
  return Deno.env.get("GREETING") ?? "hello";
}
