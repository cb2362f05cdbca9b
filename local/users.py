"""Users of the local user pool: the demo users, `--user` at start, `python -m local.users add` later.

A user is created as an operator would (the admin APIs: no sign-up), given a random password that
the template's policy accepts, and signed in for an ID token. The token goes into stack.json under
`tokens.<email>`, beside `tokens.customer` and `tokens.support` (`local/tokens.py` renews them
before they expire).

    python -m local --user bob@globex.example:globex            # at start; repeat for more
    python -m local.users add bob@globex.example:globex         # against a running stack
    python -m local.users add lead@support.example.com:support  # tenant `support`: staff
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

STAFF_TENANT = "support"  # as the README's Users section: staff carry tenant `support` and the group
_EMAIL = re.compile(r"^[^@\s:]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$")
_TENANT = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


@dataclass(frozen=True)
class UserSpec:
    email: str
    tenant: str

    @property
    def staff(self) -> bool:
        return self.tenant == STAFF_TENANT


def parse_user(text: str) -> UserSpec:
    """`EMAIL:TENANT` (argparse type): tenant lower case as the pool stores it; `support` = staff."""
    email, sep, tenant = text.strip().rpartition(":")
    if not sep or not _EMAIL.match(email) or not _TENANT.match(tenant):
        raise argparse.ArgumentTypeError(
            f"{text!r}: expected EMAIL:TENANT, e.g. bob@globex.example:globex (tenant lower case)"
        )
    return UserSpec(email.lower(), tenant)


def create_user(idp: Any, pool_id: str, client_id: str, email: str, *, tenant: str = "", group: str = "") -> str:
    """Create a user through the admin APIs, as an operator would, and sign it in for an ID token."""
    attributes = [{"Name": "email", "Value": email}, {"Name": "email_verified", "Value": "true"}]
    if tenant:
        attributes.append({"Name": "custom:tenant", "Value": tenant})
    idp.admin_create_user(UserPoolId=pool_id, Username=email, UserAttributes=attributes, MessageAction="SUPPRESS")
    if group:
        idp.admin_add_user_to_group(UserPoolId=pool_id, Username=email, GroupName=group)
    return sign_in(idp, pool_id, client_id, email)


def sign_in(idp: Any, pool_id: str, client_id: str, email: str) -> str:
    """A fresh ID token for an existing user: a new random password, then the admin sign-in."""
    from local.stack import demo_password

    password = demo_password()
    idp.admin_set_user_password(UserPoolId=pool_id, Username=email, Password=password, Permanent=True)
    result = idp.admin_initiate_auth(
        UserPoolId=pool_id,
        ClientId=client_id,
        AuthFlow="ADMIN_USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": email, "PASSWORD": password},
    )
    return str(result["AuthenticationResult"]["IdToken"])


def create(idp: Any, pool_id: str, client_id: str, user: UserSpec) -> str:
    """One `--user`: a customer of its tenant, or staff (group `support`) for tenant `support`."""
    from local.stack import SUPPORT_GROUP

    return create_user(
        idp, pool_id, client_id, user.email, tenant=user.tenant, group=SUPPORT_GROUP if user.staff else ""
    )


def add_to_running_stack(stack_file: Path, users: Sequence[UserSpec]) -> dict[str, str]:
    """Create users in a running stack's pool and record their tokens in its stack.json."""
    import boto3

    data = json.loads(stack_file.read_text())
    idp = boto3.client(
        "cognito-idp",
        endpoint_url=data["aws_endpoint_url"],
        region_name=data["region"],
        aws_access_key_id="local",
        aws_secret_access_key="local",  # noqa: S106 - moto's fake credentials, not a secret
    )
    tokens = {u.email: create(idp, data["user_pool_id"], data["user_pool_client_id"], u) for u in users}
    # Read again just before writing: a concurrent `add` loses nothing but its own race.
    record_tokens(stack_file, tokens)
    return tokens


def record_tokens(stack_file: Path, tokens: dict[str, str]) -> None:
    """Merge `tokens` into stack.json, read just before the write: a concurrent writer loses nothing
    but its own race, and a reader never sees half a file."""
    data = json.loads(stack_file.read_text())
    data.setdefault("tokens", {}).update(tokens)
    partial = stack_file.with_suffix(".part")
    partial.write_text(json.dumps(data, indent=2) + "\n")
    partial.replace(stack_file)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.users", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    add = commands.add_parser("add", help="create users in a running stack; tokens go into its stack.json")
    add.add_argument("users", nargs="+", type=parse_user, metavar="EMAIL:TENANT")
    add.add_argument("--state-dir", type=Path, default=Path(".local"), help="the stack's state dir")
    args = parser.parse_args(argv)
    stack_file = args.state_dir / "stack.json"
    if not stack_file.exists():
        print(f"no running stack: {stack_file} does not exist (start one with `make run`)", file=sys.stderr)
        return 1
    try:
        tokens = add_to_running_stack(stack_file, args.users)
    except Exception as exc:  # e.g. the user exists already: say so, no traceback
        print(f"could not add the user(s): {exc}", file=sys.stderr)
        return 1
    for email in tokens:
        print(f"{email}: token in {stack_file} under tokens.{email}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
