"""Graded labs: the reference answers pass, wrong ones fail with a helpful message, every
student gets their own numbers, and every command a worksheet names runs."""

from __future__ import annotations

import re
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import yaml

from factory_cli.course_secret import student_seed
from factory_cli.labs import LABS, find_lab, worksheet_text
from tests.cli.test_run_compare import cli
from tests.services import MqttRecorder, free_port

LAB_IDS = [lab.id for lab in LABS]
SECRET = bytes(range(100, 132))  # the course secret of these tests
SECRET_FILE = Path(tempfile.mkdtemp(prefix="lab-secret-")) / "course.key"
SECRET_FILE.write_text(SECRET.hex() + "\n", encoding="ascii")
TEACHER = ("--secret-file", str(SECRET_FILE))


def key_sheet(lab_id: str, student: str) -> dict:
    code, stdout, stderr = cli("lab", "key", lab_id, "--student", student, *TEACHER)
    assert (code, stderr) == (0, "")
    return yaml.safe_load(stdout)


def check(tmp_path, lab_id: str, sheet: dict, *flags: str) -> tuple[int, str, str]:
    path = tmp_path / "answers.yaml"
    path.write_text(yaml.safe_dump(sheet), encoding="utf-8")
    return cli("lab", "check", lab_id, str(path), *TEACHER, *flags)


def test_there_are_at_least_five_labs_with_worksheets():
    assert len(LABS) >= 5
    code, stdout, _ = cli("lab", "list")
    assert code == 0
    for lab in LABS:
        assert lab.worksheet.is_file()
        assert lab.id in stdout


@pytest.mark.parametrize("lab_id", LAB_IDS)
def test_the_answer_sheet_template_asks_every_question(lab_id):
    lab = find_lab(lab_id)
    text = lab.worksheet.read_text(encoding="utf-8")
    for heading in ("**Goal.**", "## Commands", "## Questions", "## Answer sheet"):
        assert heading in text
    template = yaml.safe_load(re.findall(r"```yaml\n(.*?)```", text, re.S)[-1])
    assert list(template) == ["student", *(q.key for q in lab.questions)]
    for question in lab.questions:  # every structured choice is named on the worksheet
        assert all(choice in text for choice in question.choices)


@pytest.mark.parametrize("lab_id", LAB_IDS)
def test_reference_answers_pass(tmp_path, lab_id):
    sheet = key_sheet(lab_id, "s1234567")
    assert sheet["student"] == "s1234567"
    code, stdout, stderr = check(tmp_path, lab_id, sheet)
    total = len(find_lab(lab_id).questions)
    assert (code, stderr) == (0, ""), stdout
    assert f"lab {lab_id} for student s1234567: {total} of {total} right" in stdout


def test_seeds_come_from_the_id_and_the_course_secret(tmp_path):
    seeds = {student_seed(SECRET, f"student-{i}") for i in range(2000)}
    assert len(seeds) == 2000 and all(0 <= s < 2**64 for s in seeds)
    assert student_seed(SECRET, " Alice ") == student_seed(SECRET, "alice")
    assert student_seed(bytes(32), "alice") != student_seed(SECRET, "alice")
    # 64 bits: two of a class of 1,000 share a seed with probability below 1e-9.
    n = 1000
    assert n * (n - 1) / 2 / 2**64 < 1e-9
    code, stdout, stderr = cli("lab", "seeds", "alice", "Bob", *TEACHER)
    assert (code, stderr) == (0, "")
    assert stdout.splitlines() == ["student,seed", f"alice,{student_seed(SECRET, 'alice')}",
                                   f"bob,{student_seed(SECRET, 'bob')}"]
    lab = find_lab("oee-report")
    seed = student_seed(SECRET, "alice")
    code, stdout, _ = cli("lab", "show", "1", "--seed", str(seed))
    assert code == 0 and f"--seed {seed} " in stdout
    assert cli("lab", "show", "1", "--student", "alice", *TEACHER)[1] == stdout
    assert "--seed <seed> " in worksheet_text(lab, None)
    # Alice's answers are not Bob's.
    alice = key_sheet("1", "alice")
    alice["student"] = "bob"
    code, stdout, _ = check(tmp_path, "1", alice)
    assert code == 1 and "✗" in stdout


def test_a_new_secret_is_random_private_and_never_overwritten(tmp_path):
    path = tmp_path / "course.key"
    assert cli("lab", "secret", str(path))[0] == 0
    assert path.stat().st_mode & 0o077 == 0 and len(bytes.fromhex(path.read_text())) == 32
    first = path.read_text()
    code, _, stderr = cli("lab", "secret", str(path))
    assert code == 2 and "exists" in stderr and path.read_text() == first
    other = tmp_path / "other.key"
    cli("lab", "secret", str(other))
    assert other.read_text() != first


@pytest.mark.parametrize("argv", [
    ("lab", "key", "1", "--student", "alice"),
    ("lab", "seeds", "alice"),
    ("lab", "show", "1", "--student", "alice"),
    ("lab", "check", "1", "sheet.yaml"),
])
def test_keys_seeds_and_grades_need_the_course_secret(tmp_path, argv):
    (tmp_path / "sheet.yaml").write_text("student: alice\n")
    argv = tuple(str(tmp_path / a) if a == "sheet.yaml" else a for a in argv)
    code, stdout, stderr = cli(*argv)
    assert code == 2 and stdout == ""
    assert "--secret-file: required" in stderr and len(stderr.splitlines()) == 1


@pytest.mark.parametrize("content", ["", "not hex at all, not hex at all, not hex at all",
                                     "abcd" * 4, "abc" * 11, "ab" * 600])
def test_a_weak_or_garbled_secret_is_refused(tmp_path, content):
    path = tmp_path / "course.key"
    path.write_text(content)
    code, _, stderr = cli("lab", "seeds", "alice", "--secret-file", str(path))
    assert code == 2 and "expected one line of at least 32 hex digits" in stderr


def test_wrong_answers_are_marked_wrong_without_direction_or_answer(tmp_path):
    sheet = key_sheet("1", "carol")
    right = dict(sheet)
    sheet["plant_oee_pct"] += 3.0
    sheet["plant_availability_pct"] -= 0.3
    sheet["smallest_factor"] = "quality" if sheet["smallest_factor"] != "quality" else "performance"
    sheet["press_brake_oee_pct"] = "lots"
    del sheet["plant_quality_pct"]
    sheet["colour"] = "blue"
    code, stdout, stderr = check(tmp_path, "1", sheet)
    assert code == 1
    assert "lab 01-oee-report for student carol: 3 of 8 right" in stdout
    assert "✗ plant_oee_pct: wrong\n" in stdout
    assert "✗ plant_availability_pct: wrong\n" in stdout
    assert "✗ smallest_factor: wrong\n" in stdout
    assert "✗ press_brake_oee_pct: expected a number in %, got 'lots'" in stdout
    assert "✗ plant_quality_pct: no answer; expected a number in %" in stdout
    assert "colour: not a question of lab 01-oee-report" in stderr
    for oracle in ("too high", "too low", "close", "hint"):
        assert oracle not in stdout
    # The expected figure itself is never printed.
    assert f"{right['plant_oee_pct']:g}" not in stdout
    # With --hints, the teacher adds where to look; still no direction.
    code, stdout, _ = check(tmp_path, "1", sheet, "--hints")
    assert "✗ smallest_factor: wrong (hint: OEE = availability × performance" in stdout
    assert "too high" not in stdout and "too low" not in stdout


def test_a_choice_accepts_every_alternative_within_the_noise(tmp_path):
    from factory_cli.labs import _first_connection

    lab = find_lab("first-connection")
    accepted = _first_connection(lab.params(student_seed(SECRET, "dave")))["connect_first"].value
    sheet = key_sheet("4", "dave")
    for cell in ("punch-laser", "press-brake", "cobot", "packing"):
        sheet["connect_first"] = cell
        code, stdout, _ = check(tmp_path, "4", sheet)
        assert ("✓ connect_first" in stdout) == (cell in accepted), stdout
        assert (code == 0) == (cell in accepted)
    sheet["connect_first"] = "the laser"
    code, stdout, _ = check(tmp_path, "4", sheet)
    assert "✗ connect_first: expected one of punch-laser, press-brake, cobot, packing" in stdout


@pytest.mark.parametrize(("args", "expected"), [
    (("lab", "check", "99", "x.yaml"), "lab '99': no such lab; expected one of 01-oee-report"),
    (("lab", "check", "1", "/nonexistent/answers.yaml", *TEACHER),
     "cannot read the answer sheet"),
    (("lab", "show", "nope"), "no such lab"),
    (("lab", "show", "1", "--seed", "-1"), "--seed: expected 0 to"),
    (("lab", "key", "1", "--student", "a/b", *TEACHER), "--student: expected a student id"),
])
def test_bad_lab_input_gives_one_line(args, expected):
    code, _, stderr = cli(*args)
    assert code == 2 and expected in stderr and len(stderr.strip().splitlines()) == 1


def test_a_sheet_for_another_student_is_refused(tmp_path):
    code, _, stderr = check(tmp_path, "1", {"student": "erin"}, "--student", "frank")
    assert code == 2 and "the sheet is for student 'erin', not 'frank'" in stderr


@pytest.mark.parametrize("sheet", [{"plant_oee_pct": 40.0}, {"student": "",
                                                               "plant_oee_pct": 40.0}])
def test_a_sheet_without_a_student_id_is_refused(tmp_path, sheet):
    code, stdout, stderr = check(tmp_path, "1", sheet)
    assert code == 2 and stdout == ""
    assert "answers.yaml: student: required" in stderr and len(stderr.splitlines()) == 1


def test_a_2_kb_sheet_of_nested_aliases_is_refused(tmp_path):
    lines = ["student: &s0 [s1234567]"]
    lines += [f"x{i}: &s{i} [*s{i - 1}, *s{i - 1}, *s{i - 1}, *s{i - 1}]" for i in range(1, 40)]
    text = "\n".join(lines) + "\n"
    assert len(text.encode()) <= 2048
    path = tmp_path / "answers.yaml"
    path.write_text(text)
    code, stdout, stderr = cli("lab", "check", "1", str(path), *TEACHER)
    assert code == 2 and stdout == ""
    assert "answers.yaml: refused: more than 10,000 values" in stderr


# -- every command a worksheet names runs -----------------------------------------------------


def client_outputs(commands: list[list[str]], port: int) -> list[str]:
    """What each of a hands-on worksheet's client commands prints (asyncua's `uals`, `uaread`,
    ...), run against the plant served on `port`; every one must succeed."""
    outputs = []
    for argv in commands:
        if argv[0] == "factory-sim":
            continue
        result = subprocess.run([str(BIN / argv[0]), *on_port(argv, port)[1:]],
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, (argv, result.stderr)
        outputs.append(result.stdout)
    return outputs


def worksheet_commands(lab_id: str) -> list[list[str]]:
    """The commands of the worksheet's ```bash blocks, as the student's shell splits them."""
    text = worksheet_text(find_lab(lab_id), student_seed(SECRET, "s1234567"))
    blocks = re.findall(r"```bash\n(.*?)```", text, re.S)
    return [shlex.split(line) for block in blocks for line in block.splitlines()
            if line.strip() and not line.lstrip().startswith("#")]


def with_out(argv: list[str], tmp_path) -> list[str]:
    """`--out DIR` pointed into the test's folder."""
    return [str(tmp_path / arg) if i and argv[i - 1] == "--out" else arg
            for i, arg in enumerate(argv)]


MODEL_LABS = [lab.id for lab in LABS if not any(
    argv[:2] == ["factory-sim", "serve"] for argv in worksheet_commands(lab.id))]


@pytest.mark.parametrize("lab_id", MODEL_LABS)
def test_every_command_of_a_model_lab_runs(tmp_path, monkeypatch, lab_id):
    monkeypatch.chdir(tmp_path)  # any folder: the worksheets name shipped scenarios only
    commands = worksheet_commands(lab_id)
    assert commands
    for argv in commands:
        assert argv[0] == "factory-sim", argv
        code, stdout, stderr = cli(*with_out(argv[1:], tmp_path), "--quiet")
        assert (code, stderr) == (0, ""), (argv, stderr)
        assert stdout


BIN = Path(sys.executable).parent  # factory-sim and asyncua's ua* tools live beside Python


def on_port(argv: list[str], port: int) -> list[str]:
    """The command against a server on `port` instead of 4840 (tests run side by side)."""
    return [arg.replace("127.0.0.1:4840", f"127.0.0.1:{port}") for arg in argv]


def start(argv: list[str], ready: str, timeout: float = 60.0) -> subprocess.Popen:
    """Start a long-running command and wait for the line containing `ready` (stdout/err)."""
    process = subprocess.Popen([str(BIN / argv[0]), *argv[1:]], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line and process.poll() is not None:
            break
        seen.append(line)
        if ready in line:
            return process
    process.kill()
    raise AssertionError(f"{argv[:2]} did not print {ready!r}: {''.join(seen)}")


def stop(process: subprocess.Popen) -> int:
    process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()


def test_every_command_of_the_opcua_lab_runs_and_shows_the_graded_figures():
    commands = worksheet_commands("opcua-hands-on")
    port = free_port()
    serve = [argv for argv in commands if argv[:2] == ["factory-sim", "serve"]]
    assert len(serve) == 1
    server = start([*serve[0], "--port", str(port)], "endpoint:")
    try:
        outputs = client_outputs(commands, port)
    finally:
        assert stop(server) == 0
    # What the worksheet's reads print is what the checker expects for this student.
    key = key_sheet("opcua-hands-on", "s1234567")
    assert any(line.strip() == key["press_brake_active_tool"]
               for out in outputs for line in out.splitlines())
    assert any(line.strip() == "25200.0" for out in outputs for line in out.splitlines())
    history = next(out for out in outputs if "Reading raw history" in out)
    powers = [float(line.split()[-1]) for line in history.splitlines()
              if line.startswith("2026-01-05")]
    assert max(powers) == pytest.approx(key["punch_laser_max_power_kw"])


def test_every_command_of_the_unified_namespace_lab_runs(mosquitto, tmp_path):
    commands = worksheet_commands("unified-namespace")
    serve, bridge = commands
    assert serve[:2] == ["factory-sim", "serve"] and bridge[:2] == ["factory-sim", "bridge"]
    port = free_port()
    recorder = MqttRecorder(mosquitto, "factory/+/+/+/press-brake/#")
    server = start([*serve, "--port", str(port)], "endpoint:")
    try:
        bridge = [arg.replace("mqtt://127.0.0.1:1883", mosquitto.url)
                  for arg in on_port(bridge, port)]
        client = start([*bridge, "--state-dir", str(tmp_path / "bridge")], "bridging")
        try:
            messages = recorder.wait_until(lambda ms: any(
                m.topic.endswith("press-brake/Monitoring/Activity") for m in ms))
            assert any(m.topic.endswith("press-brake/Monitoring/Activity") for m in messages)
        finally:
            assert stop(client) == 0
    finally:
        recorder.close()
        assert stop(server) == 0


def test_a_bad_id_in_a_class_list_names_its_line_and_prints_no_seeds(tmp_path):
    students = tmp_path / "class.txt"
    students.write_text("s1\n\ns2\nBad Id\n")
    code, stdout, stderr = cli("lab", "seeds", "--students-file", str(students), *TEACHER)
    assert (code, stdout) == (2, "")
    assert f"{students}: line 4: expected a student id" in stderr
    students.write_text("s1\n\nS2\n")
    code, stdout, _ = cli("lab", "seeds", "--students-file", str(students), *TEACHER)
    assert code == 0 and stdout.splitlines()[1:] == [
        f"s1,{student_seed(SECRET, 's1')}", f"s2,{student_seed(SECRET, 's2')}"]
def test_every_command_of_the_mes_lab_runs_and_shows_the_graded_figures():
    import ast
    import asyncio

    from asyncua import Client, ua

    lab_id = "09-you-are-the-mes"
    key = key_sheet(lab_id, "s1234567")
    commands = worksheet_commands(lab_id)
    port = free_port()
    serve = [argv for argv in commands if argv[:2] == ["factory-sim", "serve"]]
    server = start([*serve[0], "--port", str(port)], "endpoint:")
    url = f"opc.tcp://127.0.0.1:{port}/factory-sim/"
    try:
        outputs = client_outputs(commands, port)
        assert key["first_order_id"] in outputs[1]  # OrderIds, read after the 60 s step
        text = worksheet_text(find_lab(lab_id), student_seed(SECRET, "s1234567"))
        snippet = re.findall(r"```python\n(.*?)```", text, re.S)[0]
        ids = ast.literal_eval(outputs[1].strip())  # uaread prints the OrderIds as a list
        variants = subprocess.run(
            [str(BIN / "uaread"), "-u", url, "-n", "ns=7;s=Plant/Orders/Variants"],
            capture_output=True, text=True, timeout=60).stdout
        variant = ast.literal_eval(variants.strip())[ids.index(key["first_order_id"])]
        filled = snippet.replace(
            '"opc.tcp://127.0.0.1:4840/factory-sim/", "O...", "...", 1, "..."',
            f'"{url}", "{key["first_order_id"]}", "{variant}", '
            f'{key["first_order_quantity"]}, "{key["first_operation_cell"]}"')
        assert filled != snippet
        ran = subprocess.run([sys.executable, "-c", filled], capture_output=True, text=True,
                             timeout=60)
        assert ran.returncode == 0, ran.stderr

        async def response():
            async with Client(url) as client:
                await client.load_data_type_definitions()
                control = client.get_node(ua.NodeId("Simulation", 7))
                base = f"{key['first_operation_cell']}/MachineryBuildingBlocks/JobManagement"
                results = client.get_node(ua.NodeId(f"{base}/JobOrderResults", 7))
                job_id = f"{key['first_order_id']}/{key['first_operation_cell']}"
                for _ in range(10):
                    answer, _ = await results.call_method(
                        ua.NodeId(f"{base}/JobOrderResults/RequestJobResponseByJobOrderID", 7),
                        job_id)
                    if answer.JobState[0].StateNumber == 5:
                        return answer
                    await control.call_method(ua.NodeId("Simulation/Step", 7),
                                              ua.Variant(86400.0, ua.VariantType.Double))
            raise AssertionError("the job order never ended")

        answer = asyncio.run(response())
    finally:
        assert stop(server) == 0
    data = {p.ID: p.Value.Value for p in answer.JobResponseData}
    assert data["RunsCompleted"] == key["first_operation_good"]
    times = {p.ID: p.Value.Value for p in data["OutputPerformanceInfo"].Parameters}
    assert times["ProducingTime"] / 60 == pytest.approx(key["first_operation_producing_min"],
                                                        abs=0.1)
