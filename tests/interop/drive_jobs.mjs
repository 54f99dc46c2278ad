// Drives one machine's Job Management with node-opcua (an OPC UA stack that is not asyncua):
// Store -> Start -> (Pause -> Resume) -> Ended, stepping the paused simulation in between.
// Usage: node drive_jobs.mjs <endpoint> <cell> <job order id> <variant> <runs>
// Prints one JSON object: the job order states seen after each step, and the final response.
import { OPCUAClient, DataType, VariantArrayType, coerceNodeId } from "node-opcua-client";

const [endpoint, cell, jobId, variant, runs] = process.argv.slice(2);
const ISA95 = "http://opcfoundation.org/UA/ISA95-JOBCONTROL_V2/";
const PLANT = "urn:factory-sim:plant";

const client = OPCUAClient.create({ endpointMustExist: false,
                                    connectionStrategy: { maxRetry: 1, initialDelay: 100 } });
await client.connect(endpoint);
const session = await client.createSession();
try {
  const namespaces = await session.readNamespaceArray();
  const plant = namespaces.indexOf(PLANT), isa = namespaces.indexOf(ISA95);
  const node = (path) => coerceNodeId(`ns=${plant};s=${path}`);
  const base = `${cell}/MachineryBuildingBlocks/JobManagement`;
  const noComment = { dataType: DataType.LocalizedText, arrayType: VariantArrayType.Array,
                      value: [] };

  async function call(object, method, inputArguments) {
    const result = await session.call({ objectId: node(object), methodId: node(`${object}/${method}`),
                                        inputArguments });
    if (result.statusCode.value !== 0) {
      throw new Error(`${method}: ${result.statusCode.toString()}`);
    }
    return result.outputArguments;
  }
  const control = (method, args) => call(`${base}/JobOrderControl`, method, args);
  const command = (method) => control(method, [{ dataType: DataType.String, value: jobId },
                                               noComment]);
  const step = (seconds) => call("Simulation", "Step",
                                 [{ dataType: DataType.Double, value: seconds }]);
  async function response() {
    const [out] = await call(`${base}/JobOrderResults`, "RequestJobResponseByJobOrderID",
                             [{ dataType: DataType.String, value: jobId }]);
    return out.value;
  }
  const field = (object, name) => object[name] ?? object[name[0].toLowerCase() + name.slice(1)];
  const stateOf = (r) => field(field(r, "JobState")[0], "StateNumber");

  const jobOrder = await session.constructExtensionObject(
    coerceNodeId(`ns=${isa};i=3008`), {
      jobOrderID: jobId,
      workMasterID: [{ iD: `${variant}.${cell}`, ID: `${variant}.${cell}` }],
      jobOrderParameters: [{ iD: "RunsPlanned", ID: "RunsPlanned",
                             value: { dataType: DataType.UInt32, value: Number(runs) } }],
      materialRequirements: [{ materialDefinitionID: variant }],
    });
  const seen = [];
  const note = async (what) => seen.push([what, stateOf(await response())]);
  // ReturnStatus is a UInt64, which node-opcua gives as [high, low]
  const [status] = await control("Store", [{ dataType: DataType.ExtensionObject, value: jobOrder },
                                           noComment]);
  await note("Store");
  await command("Start");
  await note("Start");
  for (let i = 0; i < 200 && stateOf(await response()) !== 3; i++) await step(60);
  await note("running");
  await command("Pause");
  await step(1800);
  await note("Pause");
  await command("Resume");
  await note("Resume");
  for (let i = 0; i < 400 && stateOf(await response()) !== 5; i++) await step(300);
  const final = await response();
  const data = Object.fromEntries(field(final, "JobResponseData").map(
    (p) => [field(p, "ID"), field(p, "Value").value]));
  console.log("RESULT " + JSON.stringify({
    returnStatus: String((BigInt(status.value[0]) << 32n) | BigInt(status.value[1])), seen, state: stateOf(final),
    runsCompleted: data.RunsCompleted, scrapCount: data.ScrapCount,
    jobResult: data.JobResult,
  }));
} finally {
  await session.close();
  await client.disconnect();
}
