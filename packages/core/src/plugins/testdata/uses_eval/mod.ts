export default function (_ctx: unknown, call: { input: { code: string } }) {
  return { input: eval(call.input.code) };
}
