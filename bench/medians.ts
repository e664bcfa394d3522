/**
 * Runs a `deno bench` file several times and prints, per group, the median of each
 * measure across the runs and the median per-run ratio of every bench to its group's
 * baseline. Single runs on a shared machine are noisy; medians of several are what the
 * team quotes.
 *
 * Usage: `deno run -A bench/medians.ts <bench file> [runs = 5]`
 * (`deno task bench:medians` runs it on `bench/ffi_bench.ts`).
 *
 * @module
 */

interface Stats {
  avg: number;
  min: number;
  p75: number;
}

interface BenchResult {
  group: string | null;
  name: string;
  baseline: boolean;
  results: { ok?: Stats }[];
}

const [file, runsArg = "5"] = Deno.args;
const runs = Number(runsArg);
if (!file || !Number.isInteger(runs) || runs < 1) {
  console.error("usage: deno run -A bench/medians.ts <bench file> [runs]");
  Deno.exit(2);
}

const median = (values: number[]) => {
  const sorted = values.toSorted((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

const samples: BenchResult[][] = [];
for (let run = 1; run <= runs; run++) {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["bench", "-A", "--json", file],
    stderr: "inherit",
  }).output();
  if (!output.success) Deno.exit(output.code);
  const report = JSON.parse(new TextDecoder().decode(output.stdout));
  samples.push(report.benches);
  console.error(`run ${run}/${runs} done`);
}

const measures = ["avg", "p75", "min"] as const;
const groups = [...new Set(samples[0].map((b) => b.group ?? "(no group)"))];
console.log(
  `medians of ${runs} runs of ${file} (ns; ratio = bench / baseline)`,
);
for (const group of groups) {
  console.log(`\n${group}`);
  const inGroup = (run: BenchResult[]) =>
    run.filter((b) => (b.group ?? "(no group)") === group);
  const baseline = inGroup(samples[0]).find((b) => b.baseline)?.name;
  for (const { name } of inGroup(samples[0])) {
    const stats = (run: BenchResult[]) =>
      inGroup(run).find((b) => b.name === name)?.results[0].ok;
    const cells = measures.map((measure) => {
      const value = median(samples.map((run) => stats(run)![measure]));
      let cell = `${measure} ${value.toFixed(2)}`;
      if (baseline !== undefined && baseline !== name) {
        const ratio = median(samples.map((run) => {
          const base = inGroup(run).find((b) => b.name === baseline)!.results[0]
            .ok!;
          return stats(run)![measure] / base[measure];
        }));
        cell += ` (${ratio.toFixed(2)}x)`;
      }
      return cell;
    });
    console.log(`  ${name.padEnd(24)} ${cells.join("  ")}`);
  }
}
