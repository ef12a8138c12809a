"""The `ivr` console script. `ivr worker` starts without the rest of the command (the web app, Flask, the
supervisors' password hashing, the Twilio setup helpers): a long-running process imports only what it runs."""

from __future__ import annotations

import sys


def main() -> None:
    if sys.argv[1:2] == ["worker"]:
        from cli.worker import worker_command

        worker_command(args=sys.argv[2:], prog_name="ivr worker")
        return
    from cli.main import main as full_command

    full_command()


if __name__ == "__main__":
    main()
