import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { translationJson, translationJsonLine } from "../../../appliance/translations/export/record-json.js";
import { escapeParamValue, TRANSLATION_SD_ID, translationSyslogMessage } from "../../../appliance/translations/export/syslog-message.js";
import { closedRecord, openRecord } from "./export-fixtures.js";

// RFC 5424 §6, the ABNF written out as a regular expression (one group per field).
const PRINTUSASCII = "[!-~]";
const SD_NAME = "[!#-<>-\\\\^-~]{1,32}"; // PRINTUSASCII except '=', SP, ']' and '"'
const PARAM_VALUE = "(?:[^\"\\\\\\]]|\\\\[\"\\\\\\]])*"; // '"', '\' and ']' only escaped
const SD_ELEMENT = `\\[${SD_NAME}(?: ${SD_NAME}="${PARAM_VALUE}")*\\]`;
const TIMESTAMP = "\\d{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\\d|3[01])T(?:[01]\\d|2[0-3]):[0-5]\\d:(?:[0-5]\\d|60)(?:\\.\\d{1,6})?(?:Z|[+-](?:[01]\\d|2[0-3]):[0-5]\\d)";
const SYSLOG_MSG = new RegExp(
  `^<(\\d{1,3})>([1-9]\\d{0,2}) (-|${TIMESTAMP}) (-|${PRINTUSASCII}{1,255}) (-|${PRINTUSASCII}{1,48}) `
  + `(-|${PRINTUSASCII}{1,128}) (-|${PRINTUSASCII}{1,32}) (-|(?:${SD_ELEMENT})+)(?: (.*))?$`, "s");

interface Parsed {
  pri: number; version: string; timestamp: string; hostname: string; appName: string; procId: string; msgId: string;
  sdId: string; params: Map<string, string>; msg: string | undefined;
}

function parse(message: string): Parsed {
  const match = SYSLOG_MSG.exec(message);
  assert.ok(match, `not an RFC 5424 SYSLOG-MSG: ${message}`);
  const [, pri, version, timestamp, hostname, appName, procId, msgId, sd, msg] = match as unknown as string[];
  const sdId = /^\[([^ \]]+)/.exec(sd as string)?.[1] as string;
  const params = new Map<string, string>();
  for (const [, name, value] of (sd as string).matchAll(/ ([^ =]+)="((?:[^"\\\]]|\\["\\\]])*)"/g)) {
    assert.ok(!params.has(name as string), `parameter ${name} twice`);
    params.set(name as string, (value as string).replace(/\\(["\\\]])/g, "$1"));
  }
  assert.ok(Number(pri) <= 191, "PRIVAL is at most 191");
  return { pri: Number(pri), version: version as string, timestamp: timestamp as string, hostname: hostname as string,
    appName: appName as string, procId: procId as string, msgId: msgId as string, sdId, params, msg };
}

const header = { facility: 16, hostname: "gw-a", appName: "egw" };

describe("translation export: the JSON shape", () => {
  it("is the documented shape, in its documented order, for an open and a closed connection", () => {
    assert.equal(translationJsonLine("open", openRecord()),
      '{"event":"open","gateway":"gw-a","cluster":"prod","mapping":"erp","protocol":"tcp",'
      + '"pod":{"address":"10.244.1.7","port":43210},"destination":{"address":"203.0.113.7","port":443},'
      + '"egress":{"address":"198.51.100.10","port":61000},"start":"2026-12-02T10:15:30.123Z","end":null,'
      + '"endReason":null,"counters":null}\n');
    assert.deepEqual(translationJson("close", closedRecord()), {
      event: "close", gateway: "gw-a", cluster: "prod", mapping: "erp", protocol: "tcp",
      pod: { address: "10.244.1.7", port: 43210 }, destination: { address: "203.0.113.7", port: 443 },
      egress: { address: "198.51.100.10", port: 61000 },
      start: "2026-12-02T10:15:30.123Z", end: "2026-12-02T10:16:31.127Z", endReason: "kernel",
      counters: { originalPackets: 12, originalBytes: 1_830, replyPackets: 10, replyBytes: 48_210 },
    });
  });

  it("carries nothing beyond its fields, and one line stays one line whatever a value holds", () => {
    const record = closedRecord({ mapping: "a\nb" });
    (record.counters as unknown as Record<string, unknown>)["secret"] = "token";
    (record as unknown as Record<string, unknown>)["token"] = "egw_secret";
    const line = translationJsonLine("close", record);
    assert.equal(line.indexOf("\n"), line.length - 1);
    assert.doesNotMatch(line, /secret|token/);
    assert.equal((JSON.parse(line) as { mapping: string }).mapping, "a\nb");
  });

  it("refuses a time that is not one (the sink counts it) rather than writing a wrong one", () => {
    assert.throws(() => translationJsonLine("open", openRecord({ startMs: Number.NaN })), RangeError);
  });
});

describe("translation export: RFC 5424 messages", () => {
  it("writes exactly these bytes for an open connection", () => {
    assert.equal(translationSyslogMessage(header, "open", openRecord()),
      "<134>1 2026-12-02T10:15:30.123Z gw-a egw - translation-open [translation@32473 gateway=\"gw-a\" cluster=\"prod\" "
      + "mapping=\"erp\" protocol=\"tcp\" podAddress=\"10.244.1.7\" podPort=\"43210\" destinationAddress=\"203.0.113.7\" "
      + "destinationPort=\"443\" egressAddress=\"198.51.100.10\" egressPort=\"61000\" start=\"2026-12-02T10:15:30.123Z\"] "
      + "tcp 10.244.1.7:43210 to 203.0.113.7:443 opened as 198.51.100.10:61000 (cluster prod, mapping erp)");
  });

  it("parses by the RFC's grammar: PRI from facility and informational severity, the end's time, every field", () => {
    const parsed = parse(translationSyslogMessage({ facility: 23, hostname: "gw-b", appName: "egw-log" }, "close", closedRecord()));
    assert.equal(parsed.pri, 23 * 8 + 6);
    assert.equal(parsed.version, "1");
    assert.equal(parsed.timestamp, "2026-12-02T10:16:31.127Z");
    assert.deepEqual([parsed.hostname, parsed.appName, parsed.procId, parsed.msgId], ["gw-b", "egw-log", "-", "translation-close"]);
    assert.equal(parsed.sdId, TRANSLATION_SD_ID);
    assert.deepEqual(Object.fromEntries(parsed.params), {
      gateway: "gw-a", cluster: "prod", mapping: "erp", protocol: "tcp", podAddress: "10.244.1.7", podPort: "43210",
      destinationAddress: "203.0.113.7", destinationPort: "443", egressAddress: "198.51.100.10", egressPort: "61000",
      start: "2026-12-02T10:15:30.123Z", end: "2026-12-02T10:16:31.127Z", endReason: "kernel",
      originalPackets: "12", originalBytes: "1830", replyPackets: "10", replyBytes: "48210",
    });
    assert.equal(parsed.msg, "tcp 10.244.1.7:43210 to 203.0.113.7:443 closed as 198.51.100.10:61000 (cluster prod, mapping erp)");
    assert.equal(parse(translationSyslogMessage({ ...header, facility: 0 }, "open", openRecord())).pri, 6);
  });

  it("escapes '\"', '\\' and ']' in values, and the parser gets the values back unchanged", () => {
    assert.equal(escapeParamValue('a"b\\c]d[e='), 'a\\"b\\\\c\\]d[e=');
    const awkward = 'we"ird\\na]me] "';
    const parsed = parse(translationSyslogMessage(header, "open", openRecord({ cluster: awkward, mapping: "ünï" })));
    assert.equal(parsed.params.get("cluster"), awkward);
    assert.equal(parsed.params.get("mapping"), "ünï");
    assert.doesNotMatch(parsed.msg as string, /[^ -~]/, "MSG stays ASCII, so it needs no BOM");
    // The grammar is strict enough to tell: the same message without its escapes is refused.
    const unescaped = translationSyslogMessage(header, "open", openRecord({ cluster: "x" })).replace('cluster="x"', 'cluster="a]b"');
    assert.throws(() => parse(unescaped), /not an RFC 5424 SYSLOG-MSG/);
  });

  it("writes IPv6 addresses whole and brackets them in MSG", () => {
    const parsed = parse(translationSyslogMessage(header, "open", openRecord({
      family: 6, protocol: "udp", podAddress: "fd00::7", destinationAddress: "2001:db8::1", egressAddress: "2001:db8:e::10",
    })));
    assert.equal(parsed.params.get("egressAddress"), "2001:db8:e::10");
    assert.match(parsed.msg as string, /^udp \[fd00::7\]:43210 to \[2001:db8::1\]:443 opened as \[2001:db8:e::10\]:61000 /);
  });

  it("keeps the header parsable whatever the names hold", () => {
    const parsed = parse(translationSyslogMessage({ facility: 16, hostname: "gw a\u00e9", appName: "" }, "open", openRecord()));
    assert.equal(parsed.hostname, "gw_a_");
    assert.equal(parsed.appName, "-");
  });
});
