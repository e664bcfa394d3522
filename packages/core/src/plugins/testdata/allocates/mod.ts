export default function (_ctx: unknown, call: { input: { grow?: boolean } }) {
  const hoard: string[][] = [];
  while (call.input?.grow) {
    hoard.push(new Array(1_000_000).fill("x".repeat(16)));
  }
  return { kept: hoard.length };
}
