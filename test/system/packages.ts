// The packages the system test installs: release N, built from this checkout by scripts/build-package.sh, and an
// N+1 made from it the way a next release differs: a higher version, one more store migration, a changed unit
// file and a changed example configuration (a conffile), so that the upgrade test can prove each takes effect.
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { PACKAGE_ROOT } from "../../appliance/paths.js";

export const UPGRADE_VERSION_SUFFIX = "+upgradetest";

/** Release N: this checkout's package (its dist/, already built by `npm test`). */
export function buildPackage(outputDirectory: string): string {
  mkdirSync(outputDirectory, { recursive: true });
  return execFileSync("bash", [join(PACKAGE_ROOT, "scripts", "build-package.sh"), "--skip-build", "--output", outputDirectory], {
    encoding: "utf8", stdio: ["ignore", "pipe", "inherit"],
  }).trim().split("\n").pop()!;
}

/** N+1 from N: version N+UPGRADE_VERSION_SUFFIX, a migration that adds the table upgrade_probe, a unit Environment=. */
export function buildUpgradePackage(packageN: string, outputDirectory: string): string {
  const tree = mkdtempSync(join(outputDirectory, "n1-"));
  try {
    execFileSync("dpkg-deb", ["-R", packageN, tree]);
    const control = join(tree, "DEBIAN", "control");
    const versionN = /^Version: (.+)$/m.exec(readFileSync(control, "utf8"))![1]!;
    const version = `${versionN}${UPGRADE_VERSION_SUFFIX}`;
    writeFileSync(control, readFileSync(control, "utf8").replace(/^Version: .+$/m, `Version: ${version}`));
    const packageJson = join(tree, "usr", "lib", "egw", "package.json");
    writeFileSync(packageJson, readFileSync(packageJson, "utf8").replace(`"version": "${versionN}"`, `"version": "${version}"`));
    const migrations = join(tree, "usr", "lib", "egw", "migrations");
    const next = readdirSync(migrations).filter((file) => /^\d{3,}_.*\.sql$/.test(file)).length + 1;
    writeFileSync(join(migrations, `${String(next).padStart(3, "0")}_upgrade_probe.sql`), "CREATE TABLE upgrade_probe (id INTEGER PRIMARY KEY);\n");
    // A release whose example configuration changed: dpkg must keep the operator's (no question without a terminal).
    const conffile = join(tree, "etc", "egw", "egw.yaml");
    writeFileSync(conffile, `${readFileSync(conffile, "utf8")}# (changed in ${version})\n`);
    const unit = join(tree, "usr", "lib", "systemd", "system", "egw.service");
    writeFileSync(unit, readFileSync(unit, "utf8").replace("[Service]\n", "[Service]\nEnvironment=EGW_UPGRADE_PROBE=1\n"));
    const deb = join(outputDirectory, `egw_${version}_amd64.deb`);
    execFileSync("dpkg-deb", ["--root-owner-group", "-Zxz", "--build", tree, deb], { stdio: "ignore" });
    return deb;
  } finally {
    rmSync(tree, { recursive: true, force: true });
  }
}
