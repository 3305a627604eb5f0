import type { BenchReport } from "../../../bench/lib/results.js";

export const machine: BenchReport["machine"] = { cpus: 2, cpuModel: "test", memoryGiB: 4, kernel: "6", node: "v20", nft: "nft", keepalived: "k" };
