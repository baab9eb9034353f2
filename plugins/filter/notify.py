"""Filters for deploy notifications: the Slack-compatible payload, the step summary section, and redaction.

Kept in Python because "say the event in one line, list the fields, escape them for a markdown table, and take
every secret out of all of it" is a few readable functions here and an unreadable Jinja expression in YAML."""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ansible_collections.steady.deploy.plugins.module_utils.redact import redact

# What each event says after the subject: "steady [staging]: deploy of app 1.1.0 succeeded".
EVENTS = {
    "started": "started",
    "succeeded": "succeeded",
    "failed": "failed",
    "rolled_back": "was rolled back",
}


def notify_redact(text: Any, secrets: Iterable[Any] | None) -> str:
    """`text` with every secret, and every URL's password, replaced by *** (module_utils/redact.py)."""
    return redact(text, secrets)


def _check_event(event: Any) -> str:
    if event not in EVENTS:
        raise ValueError(f"deploy_notify_event must be one of {', '.join(EVENTS)}: {event!r}")
    return str(event)


def _clean(value: Any, secrets: Iterable[Any] | None) -> str:
    """A value on one line, redacted: lists joined with commas, None as empty.

    Redacted before its whitespace is folded, so a secret that spans lines is still recognised."""
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        return ", ".join(_clean(v, secrets) for v in value)
    return " ".join(notify_redact(value, secrets).split())


def _fields(fields: Mapping[str, Any] | None, secrets: Iterable[Any] | None) -> list[tuple[str, str]]:
    """The fields in order, redacted, without the empty ones (a deploy outside CI has no CI run to link)."""
    rows = []
    for key, value in (fields or {}).items():
        text = _clean(value, secrets)
        if text:
            rows.append((_clean(key, secrets), text))
    return rows


def _rows(event: str, fields: Mapping[str, Any] | None, environment: Any,
          secrets: Iterable[Any] | None) -> list[tuple[str, str]]:
    """The event and the environment first, so that every message reads the same, then the fields."""
    env = _clean(environment, secrets)
    return [("event", _check_event(event))] + ([("environment", env)] if env else []) + _fields(fields, secrets)


def notify_headline(event: str, message: Any, fields: Mapping[str, Any] | None = None, environment: Any = "",
                    secrets: Iterable[Any] | None = None) -> str:
    """One line that says it all: `steady [staging]: deploy of app 1.1.0 succeeded (release 20260101T...)`.

    The environment is left out when empty, and the release when the fields have no `release`."""
    verb = EVENTS[_check_event(event)]
    subject = _clean(message, secrets) or "deploy"
    env = _clean(environment, secrets)
    release = _clean((fields or {}).get("release"), secrets)
    line = f"steady{f' [{env}]' if env else ''}: {subject} {verb}{f' (release {release})' if release else ''}"
    return notify_redact(line, secrets)


def notify_payload(event: str, message: Any, fields: Mapping[str, Any] | None = None, environment: Any = "",
                   secrets: Iterable[Any] | None = None) -> dict[str, str]:
    """The Slack-compatible webhook body: `text` holds the headline, then one `key: value` line per field."""
    lines = [notify_headline(event, message, fields, environment, secrets)]
    lines += [f"{key}: {value}" for key, value in _rows(event, fields, environment, secrets)]
    # Once more over the whole text: a secret could only straddle the parts of a line, but it costs nothing.
    return {"text": notify_redact("\n".join(lines), secrets)}


def _cell(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|")


def notify_summary(event: str, message: Any, fields: Mapping[str, Any] | None = None, environment: Any = "",
                   secrets: Iterable[Any] | None = None) -> str:
    """A markdown section for the GitHub step summary: the headline as a heading, then a table of the fields.

    Redacted before it is escaped: escaping first could split a secret that holds a `|` and let it through."""
    rows = _rows(event, fields, environment, secrets)
    table = "\n".join(f"| {_cell(key)} | {_cell(value)} |" for key, value in rows)
    headline = notify_headline(event, message, fields, environment, secrets)
    return notify_redact(f"### {headline}\n\n| field | value |\n| --- | --- |\n{table}\n", secrets)


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"notify_redact": notify_redact, "notify_headline": notify_headline, "notify_payload": notify_payload,
                "notify_summary": notify_summary}
