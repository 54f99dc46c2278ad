// Decodes Sparkplug B payloads with Eclipse Tahu's JavaScript library (npm sparkplug-payload),
// an implementation independent of the bridge's: one base64 payload per line on stdin, one JSON
// line per payload on stdout ({"error": "..."} for a payload it cannot decode).
import { createInterface } from "node:readline";
import sparkplug from "sparkplug-payload";

const spB = sparkplug.get("spBv1.0");
const plain = (value) => {
  if (value === null || value === undefined) return null;
  if (typeof value === "object" && typeof value.toNumber === "function") return value.toString();
  if (typeof value === "bigint") return value.toString();
  if (value instanceof Uint8Array) return Buffer.from(value).toString("base64");
  return value;
};
// Tahu stores signed integers as their two's complement in the unsigned field (as the bridge
// does); its decoder hands them back unsigned
const SIGNED = new Set(["Int8", "Int16", "Int32", "Int64"]);
const signed = (type, value) =>
  SIGNED.has(type) && value !== null ? BigInt.asIntN(64, BigInt(value)).toString() : value;
const lines = createInterface({ input: process.stdin });
for await (const line of lines) {
  if (!line) continue;
  try {
    const payload = spB.decodePayload(Buffer.from(line, "base64"));
    const metrics = (payload.metrics || []).map((m) => ({
      name: m.name ?? null, alias: plain(m.alias), type: m.type ?? null,
      value: signed(m.type, plain(m.value)), timestamp: plain(m.timestamp),
      isHistorical: m.isHistorical ?? false, isNull: m.isNull ?? false,
      properties: m.properties ? Object.keys(m.properties) : [],
    }));
    console.log(JSON.stringify({ seq: plain(payload.seq), timestamp: plain(payload.timestamp), metrics }));
  } catch (error) {
    console.log(JSON.stringify({ error: String(error) }));
  }
}
