"""`python -m local`: the whole pipeline on this machine, in one process, until Ctrl-C or SIGTERM.

Order: the AWS emulation (moto) first; then the environment the functions run with; then the
template's resources; then every part of PARTS; then `.local/stack.json` and the banner. Stopping
runs the parts' `stop` in reverse and removes stack.json, so nothing is left listening.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType
from typing import Any, Protocol

from local import logs
from local.stack import Config, Stack
from local.users import parse_user


class Part(Protocol):
    """A piece of the local stack: started in order, stopped in reverse."""

    name: str

    def start(self, stack: Stack) -> None: ...

    def stop(self) -> None: ...


def parts() -> list[Callable[[], Part]]:
    """The registry. A new part is a class with `name`, `start(stack)` and `stop()`, and a line here."""
    from local.api import HttpApi  # imported after the environment is set
    from local.outbox import Outbox
    from local.pager import PagerConsole
    from local.schedules import ScheduleRunner
    from local.smtp import SmtpInbound
    from local.streams import StreamPoller
    from local.tokens import TokenRenewer

    return [HttpApi, SmtpInbound, StreamPoller, ScheduleRunner, PagerConsole, Outbox, TokenRenewer]


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value else default


def parse_args(argv: Sequence[str] | None = None) -> Config:
    parser = argparse.ArgumentParser(prog="python -m local", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default=os.environ.get("LOCAL_HOST", "127.0.0.1"))
    parser.add_argument(
        "--aws-port", type=int, default=_env_int("LOCAL_AWS_PORT", 4566), help="moto (0: any free)"
    )
    parser.add_argument(
        "--api-port", type=int, default=_env_int("LOCAL_API_PORT", 3000), help="HTTP API (0: any free)"
    )
    parser.add_argument(
        "--smtp-port", type=int, default=_env_int("LOCAL_SMTP_PORT", 2525), help="SMTP (0: any free)"
    )
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=Path(os.environ.get("LOCAL_STATE_DIR", ".local")),
        help="where stack.json and outbox/ go",
    )
    parser.add_argument("--region", default=os.environ.get("LOCAL_REGION", "eu-west-1"))
    parser.add_argument("--smtp-max-size", type=int, default=40 * 1024 * 1024, help="bytes (SES: 40 MB)")
    parser.add_argument("--metrics", action="store_true", help="print the functions' EMF metrics too")
    parser.add_argument(
        "--user",
        dest="users",
        action="append",
        type=parse_user,
        default=[],
        metavar="EMAIL:TENANT",
        help="another user (repeatable; tenant `support` = staff); its token: tokens.<email> in stack.json",
    )
    parser.add_argument(
        "--token-margin",
        type=float,
        default=1800.0,
        help="seconds: users are signed in again when their ID token (valid an hour) has less left",
    )
    parser.add_argument("--token-check-interval", type=float, default=60.0, help="seconds between token checks")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logs, moto's requests included")
    args = parser.parse_args(argv)
    return Config(
        host=args.host,
        aws_port=args.aws_port,
        api_port=args.api_port,
        smtp_port=args.smtp_port,
        state_dir=args.state_dir,
        region=args.region,
        smtp_max_size=args.smtp_max_size,
        metrics=args.metrics,
        verbose=args.verbose,
        users=tuple(args.users),
        token_margin=args.token_margin,
        token_check_interval=args.token_check_interval,
    )


def stack_json(stack: Stack) -> dict[str, Any]:
    info = stack.info
    return {
        "api_url": info.get("api_url"),
        "web_url": info.get("web_url"),
        "smtp_host": info.get("smtp_host"),
        "smtp_port": info.get("smtp_port"),
        "aws_endpoint_url": stack.aws_endpoint_url,
        "region": stack.region,
        "support_domain": stack.names.get("support_domain"),
        "pager_queue_url": stack.names.get("pager_queue_url"),
        "outbox_dir": info.get("outbox_dir", str(stack.config.outbox_dir.resolve())),
        "tokens": info.get("tokens", {}),
        "demo_users": info.get("demo_users", {}),
        "raw_mail_bucket": stack.names.get("raw_mail_bucket"),
        "table_name": stack.names.get("table_name"),
        "pager_topic_arn": stack.names.get("pager_topic_arn"),
        "user_pool_id": stack.names.get("user_pool_id"),
        "user_pool_client_id": stack.names.get("user_pool_client_id"),
        "scheduler_group": stack.names.get("scheduler_group"),
        "alerts_queue_url": stack.names.get("alerts_queue_url"),
        "staff_queue_url": stack.names.get("staff_queue_url"),
        "pagerduty_webhook_secret": info.get("pagerduty_webhook_secret"),
        "pagerduty_webhook_url": f"{info.get('api_url')}/integrations/pagerduty",
        "functions": {name: f.available() for name, f in stack.functions.items()},
        "pid": os.getpid(),
    }


def banner(data: dict[str, Any]) -> str:
    """What the console shows once the stack is up. Its "Try:" lines run as pasted, indented or not."""
    api, host, port, domain = data["api_url"], data["smtp_host"], data["smtp_port"], data["support_domain"]
    stack_file = data["_stack_file"]
    return f"""
  Support desk, local stack: up.
    Dashboard  {data["web_url"]}         (demo sign-in: customer or support)
    HTTP API   {api}          (JWT: tokens in {stack_file})
    SMTP       {host}:{port}         (mail urgent@ incident@ problem@ task@ question@{domain})
    AWS        {data["aws_endpoint_url"]}     (moto; region {data["region"]}, fake credentials)
    outbox     {data["outbox_dir"]}
    functions  {", ".join(f"{k}{'' if v else ' (not available yet)'}" for k, v in data["functions"].items())}

  Try:
    TOKEN=$(python3 -c 'import json; print(json.load(open("{stack_file}"))["tokens"]["customer"])')
    curl -s -X POST {api}/tickets -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \\
      -d '{{"type":"incident","priority":"urgent","title":"Site down","description":"502 on every page","environment":"production"}}'
    curl -s {api}/tickets -H "Authorization: Bearer $TOKEN"

    python3 -c 'import smtplib; from email.message import EmailMessage; m = EmailMessage(); m["From"] = "ops@acme.example"; m["To"] = "urgent@{domain}"; m["Subject"] = "Site down"; m.set_content("www.acme.example returns 502 since 18:20 UTC."); smtplib.SMTP("{host}", {port}).send_message(m)'

  make demo: a ticket of each type, an urgent email and its page.  Ctrl-C stops everything.
"""


class Runner:
    def __init__(self, config: Config) -> None:
        self.stack = Stack(config)
        self.started: list[Part] = []
        self.stop_requested = threading.Event()

    def run(self) -> int:
        log = logs.get("local")
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        started = time.monotonic()
        config = self.stack.config
        config.state_dir.mkdir(parents=True, exist_ok=True)
        config.stack_file.unlink(missing_ok=True)
        try:
            self._start()
        except (OSError, SystemExit) as exc:
            log.error(
                "the stack could not start: %s (another `make run`? pick ports with --aws-port, "
                "--api-port, --smtp-port; 0 = any free one)",
                exc,
            )
            self._stop()
            return 1
        except Exception:
            log.exception("the stack could not start")
            self._stop()
            return 1
        data = stack_json(self.stack)
        _write_json(config.stack_file, data)
        print_banner = banner({**data, "_stack_file": str(config.stack_file.resolve())})
        logs.emit(print_banner)
        log.info("up in %.1fs; stack.json at %s", time.monotonic() - started, config.stack_file)
        wait_until(self.stop_requested)
        log.info("stopping")
        self._stop()
        log.info("stopped")
        return 0

    def _start(self) -> None:
        from local import aws
        from local.functions import LocalFunction
        from local.stack import FUNCTION_FOLDERS, functions_environment, placeholder_refs, set_process_environment

        stack = self.stack
        emulator = aws.AwsEmulator()
        emulator.start(stack)
        self.started.append(emulator)
        # AWS_ENDPOINT_URL must be set before any boto3 client exists, the functions' env before import.
        os.environ["AWS_ENDPOINT_URL"] = stack.aws_endpoint_url
        set_process_environment(stack, {})
        stack.functions = {folder: LocalFunction(folder, stack.region) for folder in FUNCTION_FOLDERS}
        placeholder_refs(stack)
        aws.provision(stack)
        set_process_environment(stack, functions_environment(stack))
        aws.register_demo_contact(stack)
        for folder, function in stack.functions.items():
            if not function.in_template:
                logs.get("local").warning("%s is not in template.yaml yet: run with defaults", folder)
        for factory in parts():
            if self.stop_requested.is_set():
                return
            part = factory()
            try:
                part.start(stack)
            except SystemExit as exc:
                # werkzeug exits when its port is taken: that is fatal for the stack, not for the process.
                raise OSError(f"{part.name}: its port is in use") from exc
            except OSError:
                raise
            except Exception as exc:
                # One broken part must not keep the others from a developer: say so and go on.
                logs.get(part.name).error("could not start: %s", exc)
                continue
            self.started.append(part)

    def _stop(self) -> None:
        self.stack.stopping.set()
        # Every loop hears it at once: a stop takes as long as the slowest step, not their sum.
        for part in self.started:
            signal_stop = getattr(part, "signal_stop", None)
            if signal_stop is not None:
                signal_stop()
        for part in reversed(self.started):
            started = time.monotonic()
            try:
                part.stop()
            except Exception as exc:
                logs.get(part.name).error("did not stop cleanly: %s", exc)
            took = time.monotonic() - started
            if took > 0.5:
                logs.get(part.name).info("took %.1fs to stop", took)
        self.started.clear()
        self.stack.config.stack_file.unlink(missing_ok=True)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.stop_requested.set()


def wait_until(event: threading.Event, poll: float = 0.25) -> None:
    """Block until `event` is set, waking every `poll` seconds. The kernel may hand SIGTERM or
    SIGINT to any of the stack's threads: a signal taken by another thread interrupts no wait of
    the main thread, and Python runs the handler (which sets the event) only once the main thread
    wakes. An untimed wait would then sleep through Ctrl-C until a second one happened to reach it."""
    while not event.wait(poll):
        pass


def _write_json(path: Path, data: dict[str, Any]) -> None:
    partial = path.with_suffix(".part")
    partial.write_text(json.dumps(data, indent=2) + "\n")
    partial.replace(path)  # readers polling for the file never see half of it


def main(argv: Sequence[str] | None = None) -> int:
    config = parse_args(argv)
    logs.setup(verbose=config.verbose)
    return Runner(config).run()


if __name__ == "__main__":
    sys.exit(main())
