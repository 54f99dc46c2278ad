"""`factory-sim lab`: graded labs for students (worksheets shipped in factory_cli/worksheets/)."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "lab",
        help="graded labs: list, show a worksheet, check an answer sheet",
        description="Labs for students: each worksheet (`lab show`) has commands to run "
        "and questions; `lab check` grades an answer sheet against the model's figures. "
        "With --student ID every student gets their own seed and so their own numbers.",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    actions.add_parser("list", help="the labs").set_defaults(handler=list_command)
    show = actions.add_parser("show", help="a worksheet, with the student's seed filled in")
    check = actions.add_parser("check", help="grade an answer sheet (exit 1 if any is wrong)")
    key = actions.add_parser("key", help="the teacher's answer key (YAML) for a student")
    for action in (show, check, key):
        action.add_argument("lab", metavar="LAB", help="number, name or id, e.g. 1 or "
                            "oee-report")
    check.add_argument("answers", type=Path, metavar="ANSWERS.yaml", help="the answer sheet")
    for action in (show, check, key):
        action.add_argument("--student", metavar="ID",
                            help="student id (e.g. matriculation number): their own seed "
                            "(check: default the sheet's `student:`)")
    show.set_defaults(handler=show_command)
    check.set_defaults(handler=check_command)
    key.set_defaults(handler=key_command)


def list_command(args: argparse.Namespace) -> int:
    from factory_cli.labs import LABS

    for lab in LABS:
        print(f"{lab.id:28} {lab.title} ({len(lab.questions)} questions)")
    return 0


def show_command(args: argparse.Namespace) -> int:
    from factory_cli.labs import find_lab, worksheet_text
    from factory_cli.terminal import pipe_may_close

    with pipe_may_close():
        print(worksheet_text(find_lab(args.lab), args.student), end="")
    return 0


def key_command(args: argparse.Namespace) -> int:
    import yaml

    from factory_cli.labs import answer_key, find_lab

    print(yaml.safe_dump(answer_key(find_lab(args.lab), args.student), sort_keys=False),
          end="")
    return 0


def check_command(args: argparse.Namespace) -> int:
    import sys

    from factory_cli.errors import CliError
    from factory_cli.labs import find_lab, grade, read_answers

    lab = find_lab(args.lab)
    answers = read_answers(args.answers)
    sheet_student = answers.get("student")
    student = args.student or (str(sheet_student) if sheet_student else None)
    if args.student and sheet_student and str(sheet_student) != args.student:
        raise CliError(f"{args.answers}: the sheet is for student {sheet_student!r}, "
                       f"not {args.student!r}")
    known = {q.key for q in lab.questions} | {"student"}
    for unknown in [key for key in answers if key not in known]:
        print(f"note: {args.answers}: {unknown}: not a question of lab {lab.id} (ignored)",
              file=sys.stderr)
    grades = grade(lab, answers, student)
    right = sum(g.right for g in grades)
    who = f" for student {student}" if student else ""
    print(f"lab {lab.id}{who}: {right} of {len(grades)} right")
    for g in grades:
        print(("  ✓ " if g.right else "  ✗ ") + g.message)
    return 0 if right == len(grades) else 1
