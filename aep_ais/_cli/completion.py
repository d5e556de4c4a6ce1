"""`aep-ais completion SHELL`: completion scripts for bash, zsh and fish, read off the parser.

The words come from the argparse parser itself (its commands and each command's options),
so a new command or option completes without touching this file.
"""

from __future__ import annotations

import argparse

__all__ = ["completion_script", "words"]


def words(parser: argparse.ArgumentParser) -> dict[str, list[str]]:
    """Each command's options (`""` holds the commands and the global options)."""
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    table = {"": sorted(sub.choices) + _options(parser)}
    for name, command in sub.choices.items():
        table[name] = _options(command) + [
            c for a in command._actions if a.choices and not a.option_strings for c in a.choices
        ]
    return table


def _options(parser: argparse.ArgumentParser) -> list[str]:
    return sorted(s for a in parser._actions for s in a.option_strings if s.startswith("--"))


def completion_script(parser: argparse.ArgumentParser, shell: str) -> str:
    """The completion script of `shell` (`bash`, `zsh` or `fish`)."""
    table = words(parser)
    if shell == "fish":
        lines = [f"complete -c aep-ais -f -n __fish_use_subcommand -a '{' '.join(table[''])}'"]
        for name, opts in table.items():
            if name:
                lines.append(
                    f"complete -c aep-ais -f -n '__fish_seen_subcommand_from {name}' "
                    f"-a '{' '.join(opts)}'"
                )
        return "\n".join(lines) + "\n"
    cases = "\n".join(
        f"        {name}) opts='{' '.join(opts)}' ;;" for name, opts in table.items() if name
    )
    body = f"""_aep_ais() {{
    local cur cmd opts i
    cur="${{COMP_WORDS[COMP_CWORD]}}"
    cmd=""
    for ((i = 1; i < COMP_CWORD; i++)); do
        case "${{COMP_WORDS[i]}}" in -*) ;; *) cmd="${{COMP_WORDS[i]}}"; break ;; esac
    done
    case "$cmd" in
{cases}
        *) opts='{" ".join(table[""])}' ;;
    esac
    COMPREPLY=($(compgen -f -W "$opts" -- "$cur"))
}}
complete -o filenames -F _aep_ais aep-ais
"""
    if shell == "zsh":
        return "autoload -U +X bashcompinit && bashcompinit\n" + body
    return body
