"""Write each role's README.md from its meta/argument_specs.yml, so the two never disagree.

    .venv/bin/python tools/role_readme.py            (all roles; tests/test_repo.py checks the result)
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def text(value: str) -> str:
    """Ansible's doc markup (C(x), I(x)) as markdown."""
    return re.sub(r"[CI]\(([^)]*)\)", r"`\1`", " ".join(str(value).split()))


def readme(role: Path) -> str:
    meta = yaml.safe_load((role / "meta" / "main.yml").read_text())
    specs = yaml.safe_load((role / "meta" / "argument_specs.yml").read_text())["argument_specs"]
    out = [f"# {role.name}", "", text(meta["galaxy_info"]["description"]), ""]
    main_options = specs.get("main", {}).get("options")
    for name, spec in specs.items():
        where = "" if name == "main" else f" (`tasks_from: {name}`)"
        out += [f"## Entry point `{name}`{where}", "", text(spec["short_description"]), ""]
        for paragraph in spec.get("description") or []:
            out += [text(paragraph), ""]
        options = spec.get("options") or {}
        if name != "main" and options == main_options:
            out += ["Takes the same variables as `main`.", ""]
            continue
        out += ["| variable | type | default | description |", "| --- | --- | --- | --- |"]
        for var, option in options.items():
            default = f"`{option['default'] if option['default'] != '' else chr(34) * 2}`" if "default" in option else "required" if option.get("required") else "(none)"
            out.append(f"| `{var}` | {option.get('type', 'str')} | {default.replace('|', chr(92) + '|')} | "
                       f"{text(option.get('description', '')).replace('|', chr(92) + '|')} |")
        out.append("")
    return "\n".join(out)


def main() -> None:
    # The collection's roles and the lab's.
    found = {p.name: p for base in ("roles", "lab/roles") for p in (ROOT / base).iterdir()
             if (p / "meta" / "argument_specs.yml").is_file()}
    roles = [found[n] for n in sys.argv[1:]] or sorted(found.values())
    for role in roles:
        (role / "README.md").write_text(readme(role))


if __name__ == "__main__":
    main()
