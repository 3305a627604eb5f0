import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ensureSysctls } from "../../../appliance/kernel/sysctl.js";
import { ProcSysctls } from "../../../appliance/system/sysctls.js";
import { FakeSysctls } from "../../helpers/fake-sysctls.js";

describe("sysctls: /proc/sys through the system module", () => {
  it("reads a setting of this namespace without its newline, and refuses a name that leads out of /proc/sys", () => {
    const sysctls = new ProcSysctls();
    assert.match(sysctls.readSysctl("net/ipv4/ip_forward"), /^[01]$/);
    for (const key of ["../../etc/passwd", "/net/ipv4/ip_forward", "net/./ipv4/ip_forward"]) {
      assert.throws(() => sysctls.readSysctl(key), /not a sysctl name/);
      assert.throws(() => sysctls.writeSysctl(key, "1"), /not a sysctl name/);
    }
  });
});

describe("ensureSysctls: what the gateway needs the kernel to do", () => {
  it("turns forwarding on, and loose TCP window tracking in a group", () => {
    const sysctls = new FakeSysctls();
    assert.deepEqual(ensureSysctls(sysctls, true), []);
    assert.equal(sysctls.values.get("net/ipv4/ip_forward"), "1");
    assert.equal(sysctls.values.get("net/ipv6/conf/all/forwarding"), "1");
    assert.equal(sysctls.values.get("net/netfilter/nf_conntrack_tcp_be_liberal"), "0", "only in HA mode");
    assert.deepEqual(ensureSysctls(sysctls, true, true), []);
    assert.equal(sysctls.values.get("net/netfilter/nf_conntrack_tcp_be_liberal"), "1");
  });

  it("makes the outside interface's reverse-path check use the mark, and leaves rp_filter as the operator set it", () => {
    const sysctls = new FakeSysctls();
    for (const key of ["all", "eth1", "eth2"]) sysctls.values.set(`net/ipv4/conf/${key}/rp_filter`, "2");
    sysctls.values.set("net/ipv4/conf/eth2/src_valid_mark", "0");
    assert.deepEqual(ensureSysctls(sysctls, true, true, "eth2"), []);
    assert.equal(sysctls.values.get("net/ipv4/conf/eth2/src_valid_mark"), "1");
    for (const key of ["all", "eth1", "eth2"]) assert.equal(sysctls.values.get(`net/ipv4/conf/${key}/rp_filter`), "2");
  });

  it("changes nothing and says so when it may not manage them", () => {
    const sysctls = new FakeSysctls();
    assert.deepEqual(ensureSysctls(sysctls, false), [
      "net.ipv4.ip_forward is not 1 and dataplane.manageSysctls is off",
      "net.ipv6.conf.all.forwarding is not 1 and dataplane.manageSysctls is off",
    ]);
    assert.equal(sysctls.values.get("net/ipv4/ip_forward"), "0");
  });

  it("warns about each setting it cannot make right, and sets the others", () => {
    const sysctls = new FakeSysctls();
    sysctls.values.delete("net/ipv6/conf/all/forwarding");
    const warnings = ensureSysctls(sysctls, true);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0] ?? "", /^cannot set net\.ipv6\.conf\.all\.forwarding=1: ENOENT/);
    assert.equal(sysctls.values.get("net/ipv4/ip_forward"), "1");
    const readOnly = new FakeSysctls();
    readOnly.readOnly = true;
    assert.match(ensureSysctls(readOnly, true)[0] ?? "", /^cannot set net\.ipv4\.ip_forward=1: EROFS/);
  });
});
