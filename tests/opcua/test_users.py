"""The users file and the `factory-sim users` command."""

from __future__ import annotations

import io
import sys

import pytest

from factory_cli.main import main
from opcua_server import users


def test_passwords_are_salted_hashes_that_verify():
    first, second = users.hash_password("s3cret"), users.hash_password("s3cret")
    assert first != second  # salted
    assert "s3cret" not in first
    assert users.verify_password("s3cret", first)
    assert not users.verify_password("S3cret", first)
    assert not users.verify_password("s3cret", "scrypt$garbage")


def test_add_list_remove_via_command(tmp_path, monkeypatch, capsys):
    path = tmp_path / "users.yaml"
    monkeypatch.setattr(sys, "stdin", io.StringIO("op-password-long1\n"))
    assert main(["users", "add", str(path), "otto", "--role", "operator", "--password-stdin"]) == 0
    monkeypatch.setattr(sys, "stdin", io.StringIO("view-password-long1\n"))
    assert main(["users", "add", str(path), "vera", "--role", "viewer", "--password-stdin"]) == 0

    text = path.read_text()
    assert "op-password-long1" not in text and "view-password-long1" not in text
    assert path.stat().st_mode & 0o077 == 0  # hashes are for the owner's eyes only
    loaded = users.load_users(path)
    assert loaded["otto"].role is users.Role.OPERATOR
    assert loaded["otto"].check_password("op-password-long1")
    assert not loaded["vera"].check_password("op-password-long1")

    capsys.readouterr()
    assert main(["users", "list", str(path)]) == 0
    assert capsys.readouterr().out.split() == ["otto", "operator", "vera", "viewer"]

    assert main(["users", "remove", str(path), "vera"]) == 0
    assert set(users.load_users(path)) == {"otto"}


def test_password_prompt_must_match(tmp_path, monkeypatch, capsys):
    answers = iter(["one", "two"])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))
    path = tmp_path / "users.yaml"
    assert main(["users", "add", str(path), "erin", "--role", "engineer"]) == 2
    assert "do not match" in capsys.readouterr().err
    assert not path.exists()


def test_user_errors_are_one_line_not_tracebacks(tmp_path, monkeypatch, capsys):
    path = tmp_path / "users.yaml"
    monkeypatch.setattr(sys, "stdin", io.StringIO("long-enough-password\n"))
    main(["users", "add", str(path), "otto", "--role", "operator", "--password-stdin"])
    capsys.readouterr()

    monkeypatch.setattr(sys, "stdin", io.StringIO("long-enough-password\n"))
    assert main(["users", "add", str(path), "otto", "--role", "viewer", "--password-stdin"]) == 2
    assert "user 'otto' exists" in capsys.readouterr().err

    assert main(["users", "remove", str(path), "nobody"]) == 2
    assert "no user 'nobody'" in capsys.readouterr().err

    monkeypatch.setattr(sys, "stdin", io.StringIO("long-enough-password\n"))
    args = ["users", "add", str(path), "bad name", "--role", "viewer", "--password-stdin"]
    assert main(args) == 2
    assert "invalid user name" in capsys.readouterr().err

    with pytest.raises(SystemExit):
        main(["users", "add", str(path), "x", "--role", "admin", "--password-stdin"])


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("users: [1, 2]", "expected a mapping"),
        (
            "users:\n  otto: {role: boss, password: 'scrypt$1'}",
            "users.otto.role: unknown role 'boss'",
        ),
        (
            "users:\n  otto: {role: viewer, password: plain}",
            "users.otto.password: expected a scrypt",
        ),
        ("users: {otto: [", "not valid YAML"),
    ],
)
def test_broken_users_file_names_the_place(tmp_path, capsys, content, message):
    path = tmp_path / "users.yaml"
    path.write_text(content)
    with pytest.raises(users.UsersFileError, match=r"users\.yaml") as excinfo:
        users.load_users(path)
    assert message in str(excinfo.value)
    assert main(["users", "list", str(path)]) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("password", ["ab", "fourteen-chars", "x" * 1025])
def test_a_password_outside_the_length_bounds_is_refused(tmp_path, monkeypatch, capsys,
                                                         password):
    path = tmp_path / "users.yaml"
    monkeypatch.setattr(sys, "stdin", io.StringIO(password + "\n"))
    assert main(["users", "add", str(path), "otto", "--role", "viewer", "--password-stdin"]) == 2
    err = capsys.readouterr().err
    assert "expected a password of 15 to 1024 characters" in err and len(err.splitlines()) == 1
    assert not path.exists()


def test_a_users_file_of_nested_aliases_is_refused(tmp_path, capsys):
    path = tmp_path / "users.yaml"
    levels = "".join(f"l{i}: &l{i} [*l{i - 1}, *l{i - 1}, *l{i - 1}]\n" for i in range(1, 30))
    path.write_text("l0: &l0 [x]\n" + levels + "users: {}\n")
    assert main(["users", "list", str(path)]) == 2
    assert "refused: more than 100,000 values" in capsys.readouterr().err
