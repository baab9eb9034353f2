"""What the database clients get from a libpq URL (postgresql://user:password@host:port/dbname): the URL without its
password for their command line, the password as a .pgpass line for a root-only file, and the same URL naming
another database (a scratch one to restore a dump into)."""
from __future__ import annotations

from urllib.parse import quote, unquote, urlsplit, urlunsplit


def url_without_password(url: str) -> str:
    """The URL with its password left out (user kept): what a client gets on its command line, the password going
    to it another way (a password file)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = (quote(unquote(parts.username or ""), safe="") + "@" if parts.username else "") + host
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def pgpass_line(url: str) -> str:
    """One ~/.pgpass line that gives the URL's (percent-decoded) password for any server, database and user:
    the file is written for one client run, for this one database. ':' and '\\' are escaped as libpq wants."""
    password = unquote(urlsplit(url).password or "")
    return "*:*:*:*:" + password.replace("\\", "\\\\").replace(":", "\\:") + "\n"


def url_with_database(url: str, database: str) -> str:
    """The URL with its database replaced: the same server and user, another database."""
    if not database or "/" in database:
        raise ValueError(f"not a database name: {database!r}")
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + quote(database, safe=""), parts.query, parts.fragment))


def url_database(url: str) -> str:
    """The database a URL names."""
    return unquote(urlsplit(url).path.lstrip("/"))
