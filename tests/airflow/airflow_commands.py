"""Run several `airflow` CLI commands in one process (one import of Airflow, one in-process
execution API for every `dags test`), for the real-Airflow tests.

    python airflow_commands.py COMMANDS_JSON RESULTS_JSON

`COMMANDS_JSON` is a JSON list of argument lists (`[["db", "migrate"], ...]`). Each command
runs even if an earlier one failed; `RESULTS_JSON` receives, per command (its arguments
joined by spaces), `"ok"` or what went wrong. Each command's output starts after a line
`=== airflow ARGS`.
"""

from __future__ import annotations

import json
import sys
import traceback


def main() -> None:
    from airflow.cli import cli_parser
    from airflow.configuration import write_default_airflow_configuration_if_needed

    write_default_airflow_configuration_if_needed()
    parser = cli_parser.get_parser()
    commands: list[list[str]] = json.loads(sys.argv[1])
    results: dict[str, str] = {}
    for argv in commands:
        name = " ".join(argv)
        print(f"=== airflow {name}", flush=True)
        try:
            args = parser.parse_args(argv)
            args.func(args)
        except SystemExit as exc:
            results[name] = "ok" if exc.code in (None, 0) else f"exited: {exc.code}"
        except Exception:  # noqa: BLE001 - reported to the test, which fails on it
            results[name] = traceback.format_exc()
        else:
            results[name] = "ok"
        print(f"=== done: {results[name][:200]}", flush=True)
    with open(sys.argv[2], "w", encoding="utf-8") as out:
        json.dump(results, out)


if __name__ == "__main__":
    main()
