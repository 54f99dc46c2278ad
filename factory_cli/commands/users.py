"""`factory-sim users`: manage the users file the OPC UA server reads (`serve --users FILE`).

    factory-sim users add users.yaml alice --role operator      # asks for the password
    echo "$PW" | factory-sim users add users.yaml bob --role viewer --password-stdin
    factory-sim users list users.yaml
    factory-sim users remove users.yaml bob
"""

from __future__ import annotations

import argparse
import sys

from factory_cli.errors import CliError

ROLES = ("viewer", "operator", "engineer")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "users",
        help="add, list or remove OPC UA server users (roles: viewer, operator, engineer)",
        description="Manage the users file of the OPC UA server. Passwords are stored as "
        "salted scrypt hashes. Roles: viewer reads and subscribes, operator also calls "
        "methods, engineer also writes settings.",
    )
    actions = parser.add_subparsers(dest="users_action", metavar="ACTION", required=True)

    add = actions.add_parser("add", help="add a user (or change one with --replace)")
    add.add_argument("file", help="users file (YAML; created if missing)")
    add.add_argument("name", help="user name")
    add.add_argument("--role", choices=ROLES, required=True)
    add.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from the first line of standard input instead of a prompt",
    )
    add.add_argument("--replace", action="store_true", help="overwrite an existing user")
    add.set_defaults(handler=_add)

    listing = actions.add_parser("list", help="list users and their roles")
    listing.add_argument("file", help="users file")
    listing.set_defaults(handler=_list)

    remove = actions.add_parser("remove", help="remove a user")
    remove.add_argument("file", help="users file")
    remove.add_argument("name", help="user name")
    remove.set_defaults(handler=_remove)


def _add(args: argparse.Namespace) -> int:
    from opcua_server import users

    password = _read_password(args.password_stdin)
    try:
        users.add_user(args.file, args.name, users.Role(args.role), password, replace=args.replace)
    except (users.UsersFileError, OSError) as exc:
        raise CliError(str(exc)) from None
    print(f"{args.file}: user {args.name!r} has role {args.role}")
    return 0


def _list(args: argparse.Namespace) -> int:
    from opcua_server import users

    try:
        records = users.load_users(args.file)
    except users.UsersFileError as exc:
        raise CliError(str(exc)) from None
    if not records:
        print(f"{args.file}: no users")
        return 0
    width = max(len(name) for name in records)
    for record in sorted(records.values(), key=lambda r: r.name):
        print(f"{record.name:<{width}}  {record.role.value}")
    return 0


def _remove(args: argparse.Namespace) -> int:
    from opcua_server import users

    try:
        users.remove_user(args.file, args.name)
    except (users.UsersFileError, OSError) as exc:
        raise CliError(str(exc)) from None
    print(f"{args.file}: removed user {args.name!r}")
    return 0


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise CliError("--password-stdin: no password on standard input")
        return password
    import getpass

    try:
        password = getpass.getpass("Password: ")
        again = getpass.getpass("Repeat password: ")
    except EOFError:
        raise CliError("no password given (use --password-stdin to pipe one in)") from None
    if password != again:
        raise CliError("the passwords do not match")
    if not password:
        raise CliError("empty password")
    return password
