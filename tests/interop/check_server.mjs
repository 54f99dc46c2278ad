// An independent client (node-opcua) checks a factory-sim server: the life cycle of one
// condition and every value under Objects/TestNodes against its DataType, ValueRank and
// ArrayDimensions. Usage: node check_server.mjs ENDPOINT. Prints one JSON object.
import {
  OPCUAClient, AttributeIds, BrowseDirection, NodeClass, DataType, StatusCodes, VariantArrayType,
} from "node-opcua-client";

const endpoint = process.argv[2];
const PLANT = "urn:factory-sim:plant";
const TEST_NODES = "urn:factory-sim:test-nodes";
const result = { condition: {}, calls: {}, testNodes: { checked: 0, problems: [] } };

async function read(session, nodeId, attributeId = AttributeIds.Value) {
  return session.read({ nodeId, attributeId });
}

async function call(session, objectId, methodId, inputArguments = []) {
  const answer = await session.call({ objectId, methodId, inputArguments });
  return answer.statusCode.name;
}

async function children(session, nodeId) {
  const found = [];
  let answer = await session.browse({
    nodeId, browseDirection: BrowseDirection.Forward, referenceTypeId: "HierarchicalReferences",
    includeSubtypes: true, nodeClassMask: 0, resultMask: 63,
  });
  found.push(...(answer.references || []));
  while (answer.continuationPoint && answer.continuationPoint.length) {
    answer = await session.browseNext(answer.continuationPoint, false);
    found.push(...(answer.references || []));
  }
  return found;
}

function shape(value) {
  const dims = [];
  while (Array.isArray(value) || ArrayBuffer.isView(value)) {
    dims.push(value.length);
    value = value.length ? value[0] : undefined;
  }
  return dims;
}

async function checkVariable(session, nodeId) {
  const [value, dataType, rank, dims] = await session.read([
    { nodeId, attributeId: AttributeIds.Value }, { nodeId, attributeId: AttributeIds.DataType },
    { nodeId, attributeId: AttributeIds.ValueRank },
    { nodeId, attributeId: AttributeIds.ArrayDimensions }]);
  const variant = value.value;
  const dt = dataType.value.value;
  const valueRank = rank.value.value;
  if (dt.namespace === 0 && dt.value <= 25 && variant.dataType !== dt.value) {
    return `value type ${DataType[variant.dataType]} for DataType ${dt.toString()}`;
  }
  if (!(dt.namespace === 0 && dt.value <= 25) && variant.dataType !== DataType.ExtensionObject) {
    return `value type ${DataType[variant.dataType]} for structure ${dt.toString()}`;
  }
  if (valueRank === -1) {
    return variant.arrayType === VariantArrayType.Scalar ? null : "array for a scalar";
  }
  const expected = dims.statusCode.isGood() && dims.value.value ? Array.from(dims.value.value) : null;
  if (valueRank === 1) {
    if (variant.arrayType !== VariantArrayType.Array) return "not an array for ValueRank 1";
    if (expected && expected[0] && expected[0] !== variant.value.length) return `length ${variant.value.length}, ArrayDimensions ${expected}`;
    return null;
  }
  if (valueRank === 2) {
    if (variant.arrayType !== VariantArrayType.Matrix) return "not a matrix for ValueRank 2";
    const actual = Array.from(variant.dimensions || []);
    if (!expected || actual.join() !== expected.join()) return `dimensions ${actual}, ArrayDimensions ${expected}`;
    return null;
  }
  return `unexpected ValueRank ${valueRank}`;
}

async function walk(session, root) {
  const seen = new Set([root]);
  const frontier = [root];
  while (frontier.length) {
    const node = frontier.pop();
    for (const ref of await children(session, node)) {
      const id = ref.nodeId.toString();
      if (seen.has(id)) continue;
      seen.add(id);
      frontier.push(id);
      if (ref.nodeClass === NodeClass.Variable) {
        const problem = await checkVariable(session, id);
        result.testNodes.checked += 1;
        if (problem) result.testNodes.problems.push(`${id.slice(0, 80)}: ${problem}`);
      }
    }
  }
}

const client = OPCUAClient.create({ endpointMustExist: false, connectionStrategy: { maxRetry: 2 } });
await client.connect(endpoint);
const session = await client.createSession();
try {
  const namespaces = (await read(session, "ns=0;i=2255")).value.value;
  const plant = namespaces.indexOf(PLANT);
  const cond = `ns=${plant};s=press-brake/Failure`;
  for (const path of ["EventId", "Message", "Severity", "LastSeverity", "ActiveState",
                      "ActiveState.Id", "ConfirmedState.Id", "EnabledState.Id",
                      "ShelvingState.CurrentState", "ShelvingState.UnshelveTime"]) {
    const dv = await read(session, `${cond}.${path}`);
    const v = dv.value.value;
    result.condition[path] = v === null || v === undefined ? null
      : (typeof v === "object" && "text" in v) ? v.text
      : (v instanceof Buffer) ? v.length : v;
  }
  const eventId = (await read(session, `${cond}.EventId`)).value.value;
  const shelving = `${cond}.ShelvingState`;
  result.calls.oneShotShelve = await call(session, shelving, "ns=0;i=2948");
  result.calls.oneShotShelveAgain = await call(session, shelving, "ns=0;i=2948");
  result.calls.unshelve = await call(session, shelving, `${shelving}.Unshelve`);
  result.calls.unshelveAgain = await call(session, shelving, "ns=0;i=2947");
  result.calls.disable = await call(session, cond, "ns=0;i=9028");
  result.calls.enable = await call(session, cond, "ns=0;i=9027");
  const currentId = (await read(session, `${cond}.EventId`)).value.value;
  result.calls.addComment = await call(session, cond, "ns=0;i=9029", [
    { dataType: DataType.ByteString, value: currentId },
    { dataType: DataType.LocalizedText, value: { text: "checked by node-opcua" } }]);
  result.calls.addCommentStaleEvent = await call(session, cond, "ns=0;i=9029", [
    { dataType: DataType.ByteString, value: eventId },
    { dataType: DataType.LocalizedText, value: { text: "stale" } }]);
  result.condition.commentAfter = (await read(session, `${cond}.Comment`)).value.value.text;
  const testNs = namespaces.indexOf(TEST_NODES);
  if (testNs >= 0) await walk(session, `ns=${testNs};s=TestNodes`);
} finally {
  await session.close();
  await client.disconnect();
}
console.log("RESULT " + JSON.stringify(result));
