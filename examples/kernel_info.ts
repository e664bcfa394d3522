/**
 * Loads the native kernel and prints what it is and where it came from.
 *
 * Run with `deno task start`.
 *
 * @module
 */

import { kernelInfo, kernelStats } from "@krepis/core/native";

const info = await kernelInfo();
console.log(
  `Krepis kernel ${info.version} (ABI ${info.abi}, ${info.target}, ${info.profile})`,
);
console.log(`  library: ${info.libraryPath} [${info.source}]`);
console.log(`  features: ${info.features.join(", ")}`);
const stats = await kernelStats();
console.log(
  `  live handles: ${stats.liveHandles}, uptime: ${stats.uptimeMs} ms`,
);
