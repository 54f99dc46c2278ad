"""`factory-sim lab`: graded labs for students (worksheets shipped in factory_cli/worksheets/).

The teacher keeps a course secret; each student's seed comes from their id and that secret,
so only the teacher can hand out seeds, print answer keys and grade sheets:

    factory-sim lab secret course.key                         # once per course; keep it
    factory-sim lab seeds s1234567 s7654321 --secret-file course.key   # hand each their seed
    factory-sim lab show 2 --seed SEED                        # a student's worksheet
    factory-sim lab check 2 sheet.yaml --secret-file course.key [--hints]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from factory_cli.errors import CliError
from factory_cli.limits import MAX_SEED

MAX_STUDENTS = 10_000  # ids in one `lab seeds`


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "lab",
        help="graded labs: list, show a worksheet, hand out seeds, check an answer sheet",
        description="Labs for students: each worksheet (`lab show`) has commands to run "
        "and questions; `lab check` grades an answer sheet against the model's figures for "
        "the student's own seed. Seeds come from the student id and a course secret only the "
        "teacher holds (`lab secret`), so `seeds`, `key` and `check` need --secret-file.",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    actions.add_parser("list", help="the labs").set_defaults(handler=list_command)
    secret = actions.add_parser("secret", help="create a course secret (teacher; once per "
                                "course)")
    secret.add_argument("file", type=Path, metavar="FILE", help="where to write it (must not "
                        "exist; readable by you only)")
    secret.set_defaults(handler=secret_command)
    seeds = actions.add_parser("seeds", help="each student's seed, as CSV (teacher)")
    seeds.add_argument("students", nargs="*", metavar="ID", help="student ids")
    seeds.add_argument("--students-file", type=Path, metavar="FILE",
                       help=f"student ids, one a line (at most {MAX_STUDENTS:,} in all)")
    show = actions.add_parser("show", help="a worksheet, with the student's seed filled in")
    check = actions.add_parser("check", help="grade an answer sheet (teacher; exit 1 if any "
                               "answer is wrong)")
    key = actions.add_parser("key", help="the answer key (YAML) for a student (teacher)")
    for action in (show, check, key):
        action.add_argument("lab", metavar="LAB", help="number, name or id, e.g. 1 or "
                            "oee-report")
    check.add_argument("answers", type=Path, metavar="ANSWERS.yaml",
                       help="the answer sheet; it must name its `student:`")
    show.add_argument("--seed", type=int, metavar="SEED",
                      help="the student's seed (from the teacher); without it the worksheet "
                      "shows <seed>")
    show.add_argument("--student", metavar="ID", help="with --secret-file: that student's "
                      "worksheet (teacher)")
    key.add_argument("--student", metavar="ID", required=True, help="student id")
    check.add_argument("--student", metavar="ID",
                       help="the student the sheet must be for (default: its `student:`)")
    check.add_argument("--hints", action="store_true",
                       help="add to each wrong answer where to look (never the answer, nor "
                       "whether it is too high or too low)")
    for action in (seeds, show, check, key):
        action.add_argument("--secret-file", type=Path, metavar="FILE",
                            help="the course secret (from `lab secret`)")
    seeds.set_defaults(handler=seeds_command)
    show.set_defaults(handler=show_command)
    check.set_defaults(handler=check_command)
    key.set_defaults(handler=key_command)


def list_command(args: argparse.Namespace) -> int:
    from factory_cli.labs import LABS

    for lab in LABS:
        print(f"{lab.id:28} {lab.title} ({len(lab.questions)} questions)")
    return 0


def secret_command(args: argparse.Namespace) -> int:
    from factory_cli.course_secret import create_secret

    create_secret(args.file)
    print(f"{args.file}: a new course secret; keep it (without it no seed, key or grade can "
          "be made) and never hand it to students")
    return 0


def seeds_command(args: argparse.Namespace) -> int:
    from factory_cli.course_secret import normalise_student, read_secret, student_seed

    secret = read_secret(args.secret_file)
    ids = [(student, f"ID {student!r}") for student in args.students]
    if args.students_file is not None:
        ids += _students_file(args.students_file)
    if not ids:
        raise CliError("ID: expected at least one student id (or --students-file)")
    if len(ids) > MAX_STUDENTS:
        raise CliError(f"ID: {len(ids):,} students; expected at most {MAX_STUDENTS:,}")
    students = [normalise_student(student, where) for student, where in ids]  # all, first
    print("student,seed")
    for student in students:
        print(f"{student},{student_seed(secret, student)}")
    return 0


def _students_file(path: Path) -> list[tuple[str, str]]:
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_STUDENTS * 66 + 1)
    except OSError as exc:
        raise CliError(f"--students-file {path}: cannot read it ({exc.strerror})") from None
    if len(raw) > MAX_STUDENTS * 66:
        raise CliError(f"--students-file {path}: refused: larger than {MAX_STUDENTS * 66:,} "
                       "bytes")
    lines = raw.decode("utf-8", "replace").splitlines()
    return [(line, f"{path}: line {number}") for number, line in enumerate(lines, start=1)
            if line.strip()]


def _seed(args: argparse.Namespace, student: str) -> int:
    from factory_cli.course_secret import read_secret, student_seed

    return student_seed(read_secret(args.secret_file), student)


def show_command(args: argparse.Namespace) -> int:
    from factory_cli.course_secret import normalise_student
    from factory_cli.labs import find_lab, worksheet_text
    from factory_cli.limits import bounded
    from factory_cli.terminal import pipe_may_close

    lab = find_lab(args.lab)
    if args.student is not None and args.seed is not None:
        raise CliError("--seed and --student: give one (the student's seed, or their id with "
                       "--secret-file)")
    seed = args.seed
    if seed is not None:
        bounded("--seed", seed, 0, MAX_SEED)
    elif args.student is not None:
        seed = _seed(args, normalise_student(args.student, "--student"))
    with pipe_may_close():
        print(worksheet_text(lab, seed), end="")
    return 0


def key_command(args: argparse.Namespace) -> int:
    import yaml

    from factory_cli.course_secret import normalise_student
    from factory_cli.labs import answer_key, find_lab

    lab = find_lab(args.lab)
    student = normalise_student(args.student, "--student")
    sheet = answer_key(lab, student, _seed(args, student))
    print(yaml.safe_dump(sheet, sort_keys=False, allow_unicode=True), end="")
    return 0


def check_command(args: argparse.Namespace) -> int:
    import sys

    from factory_cli.course_secret import normalise_student
    from factory_cli.labs import find_lab, grade, read_answers

    lab = find_lab(args.lab)
    answers = read_answers(args.answers)
    if answers.get("student") in (None, ""):
        raise CliError(f"{args.answers}: student: required; expected the student id the "
                       "sheet is for (each student's figures are their own)")
    student = normalise_student(answers["student"], f"{args.answers}: student")
    if args.student is not None and normalise_student(args.student, "--student") != student:
        raise CliError(f"{args.answers}: the sheet is for student {student!r}, not "
                       f"{args.student!r}")
    seed = _seed(args, student)
    known = {q.key for q in lab.questions} | {"student"}
    for unknown in [key for key in answers if key not in known]:
        shown = (unknown if isinstance(unknown, str) and unknown.isprintable()
                 and len(unknown) <= 40 else repr(unknown)[:40])
        print(f"note: {args.answers}: {shown}: not a question of lab {lab.id} (ignored)",
              file=sys.stderr)
    grades = grade(lab, answers, seed, hints=args.hints)
    right = sum(g.right for g in grades)
    print(f"lab {lab.id} for student {student}: {right} of {len(grades)} right")
    for g in grades:
        print(("  ✓ " if g.right else "  ✗ ") + g.message)
    return 0 if right == len(grades) else 1
