"""A mapped vendor cell's job import: its vendor's own method, in the vendor's namespace and words.

At the vendor level (DESIGN.md section 1) a cell whose interface the plant has an adapter for
(`mapped`) takes its programs and job parameters through its vendor's import, not through
OPC 40001-3 Job Management; the office's adapter maps that import once per machine, which the
integration effort counts (`factory_sim.integration`: + N). In the model this is the `mapped`
job data transfer (part of the manual work is left); on the wire, each job the office starts
on the cell is imported here, and a client (a student playing the adapter) may import too:

    LASERTEC/<serial>/AuftragImportieren(AuftragsNr: String, Programm: String, Stueckzahl: Int32)
    LASERTEC/<serial>/AuftragsListe   String[], the last 20: "AuftragsNr;Programm;Stueckzahl"

(another vendor's dialect spells them `IMPORT_JOB(JOB_NO, PROGRAM, QTY)` and `JOB_LIST`).
An import only records the job data: what the cell makes is the office's dispatch. Arguments
are checked (`opcua_server.methods`): a job number of 1..64 and a program of 1..256 printable
characters without `;`, a quantity of 1..10000; a viewer may not call it (the server's role
check, as for Job Management's methods).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Awaitable, Callable

from asyncua import ua

from opcua_server.methods import Arg, ArgumentRejected, checked_method
from opcua_server.node_batch import HAS_COMPONENT, NodeBatch
from opcua_server.state_machines import child
from opcua_server.writes import Writes

MAX_IMPORTS = 20  # entries the list keeps
MAX_JOB_NO, MAX_PROGRAM, MAX_QUANTITY = 64, 256, 10_000


def _text(index: int, what: str, value: str, longest: int) -> str:
    if not 0 < len(value) <= longest or not value.isprintable() or ";" in value:
        raise ArgumentRejected(index, f"{what}: 1 to {longest} printable characters without "
                                      f"';' expected, got {value[:40]!r}")
    return value


class VendorJobImport:
    """The import method and the list of imported jobs of one mapped vendor machine."""

    def __init__(self, machine_node: ua.NodeId, dialect, ns: int) -> None:
        self.node, self.dialect, self.ns = machine_node, dialect, ns
        self.imports: deque[str] = deque(maxlen=MAX_IMPORTS)
        order, program, quantity = dialect.job_import_arguments
        self.args = [Arg(order, ua.VariantType.String, "the job (order) number"),
                     Arg(program, ua.VariantType.String, "the program to run"),
                     Arg(quantity, ua.VariantType.Int32, "the parts to make")]

    def build(self, batch: NodeBatch) -> None:
        self.method = batch.method(child(self.node, self.dialect.job_import),
                                   ua.QualifiedName(self.dialect.job_import, self.ns), self.node,
                                   [arg.argument() for arg in self.args])
        self.list_node = child(self.node, self.dialect.job_list)
        batch.variable(self.list_node, ua.QualifiedName(self.dialect.job_list, self.ns),
                       self.node, ua.Variant([], ua.VariantType.String, is_array=True),
                       ua.NodeId(ua.ObjectIds.String), reference=HAS_COMPONENT, value_rank=1)

    def bind(self, server, writes: Writes, now: Callable[[], float],
             after: Callable[[], Awaitable[None]]) -> None:
        async def import_job(job_no: str, program: str, quantity: int) -> None:
            entry = self.entry(job_no, program, quantity)
            self.record(entry, writes, now())
            await after()

        server.link_method(server.get_node(self.method), checked_method(self.args, import_job))

    def entry(self, job_no: str, program: str, quantity: int) -> str:
        """The list's entry for a job; ArgumentRejected names the argument that is wrong."""
        _text(0, self.args[0].name, job_no, MAX_JOB_NO)
        _text(1, self.args[1].name, program, MAX_PROGRAM)
        if not 1 <= quantity <= MAX_QUANTITY:
            raise ArgumentRejected(2, f"{self.args[2].name}: 1 to {MAX_QUANTITY} expected, "
                                      f"got {quantity}")
        return f"{job_no};{program};{quantity}"

    def record(self, entry: str, writes: Writes, sim_time: float) -> None:
        self.imports.append(entry)
        writes.value(self.list_node, ua.Variant(list(self.imports), ua.VariantType.String,
                                                is_array=True), sim_time)
