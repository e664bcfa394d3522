export default function (_ctx: unknown, call: { input: { spin?: boolean } }) {
  if (call.input?.spin) {
    while (true) {
      // Never yields: only terminating the isolate stops it.
    }
  }
  return {};
}
