"""The sandbox helpdesk's data in SQLite: seeded categories and tags, tickets, their
conversations and attachments (stored in the database), and the issued access tokens.

One connection behind a lock serves every thread; a file database is in WAL mode so
that another process (a second embedded sandbox) can share it.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

Row = dict[str, Any]

SEED_CATEGORIES = [
    (1, "Hardware", "Laptops, screens, printers"),
    (2, "Software", "Applications and licences"),
    (3, "Network", "Wi-Fi, VPN, cabling"),
    (4, "Access", "Accounts, passwords, permissions"),
]
SEED_TAGS = [
    (1, "urgent", "urgent"),
    (2, "printer", "printer"),
    (3, "vpn", "vpn"),
    (4, "password", "password"),
    (5, "onboarding", "onboarding"),
]

SCHEMA = """
CREATE TABLE IF NOT EXISTS categories (
    id INTEGER PRIMARY KEY, category TEXT NOT NULL, description TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tags (
    id INTEGER PRIMARY KEY, tag TEXT NOT NULL, keyword TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tickets (
    id INTEGER PRIMARY KEY AUTOINCREMENT, subject TEXT NOT NULL, priority TEXT NOT NULL,
    category INTEGER NOT NULL REFERENCES categories(id), comment TEXT NOT NULL,
    status TEXT NOT NULL, author TEXT NOT NULL, created_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS ticket_tags (
    ticket_id INTEGER NOT NULL REFERENCES tickets(id), position INTEGER NOT NULL,
    tag_id INTEGER NOT NULL REFERENCES tags(id), PRIMARY KEY (ticket_id, position));
CREATE TABLE IF NOT EXISTS conversations (
    id INTEGER PRIMARY KEY AUTOINCREMENT, ticket_id INTEGER NOT NULL REFERENCES tickets(id),
    comment TEXT NOT NULL, author TEXT NOT NULL, created_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS attachments (
    id INTEGER PRIMARY KEY AUTOINCREMENT, ticket_id INTEGER NOT NULL REFERENCES tickets(id),
    conversation_id INTEGER REFERENCES conversations(id), filename TEXT NOT NULL,
    content_type TEXT NOT NULL, content BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS tokens (
    token TEXT PRIMARY KEY, username TEXT NOT NULL, created_at REAL NOT NULL);
"""


class SandboxDB:
    def __init__(self, path: str = ":memory:") -> None:
        self.path = path
        self._lock = threading.RLock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA busy_timeout = 5000")
        if path != ":memory:":
            self._db.execute("PRAGMA journal_mode = WAL")
        self._db.executescript(SCHEMA)  # commits on its own
        with self._transaction() as db:
            db.executemany("INSERT OR IGNORE INTO categories VALUES (?, ?, ?)", SEED_CATEGORIES)
            db.executemany("INSERT OR IGNORE INTO tags VALUES (?, ?, ?)", SEED_TAGS)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _rows(self, sql: str, args: Iterable[Any] = ()) -> list[Row]:
        with self._lock:
            return [dict(row) for row in self._db.execute(sql, tuple(args)).fetchall()]

    def _one(self, sql: str, args: Iterable[Any] = ()) -> Row | None:
        rows = self._rows(sql, args)
        return rows[0] if rows else None

    # -- lookups --------------------------------------------------------------

    def categories(self) -> list[Row]:
        return self._rows("SELECT id, category, description FROM categories ORDER BY id")

    def tags(self) -> list[Row]:
        return self._rows("SELECT id, tag, keyword FROM tags ORDER BY id")

    # -- tickets --------------------------------------------------------------

    def add_ticket(
        self,
        subject: str,
        comment: str,
        *,
        priority: str,
        category: int,
        author: str,
        status: str = "1",
        tags: Iterable[int] = (),
    ) -> int:
        with self._transaction() as db:
            cursor = db.execute(
                "INSERT INTO tickets (subject, priority, category, comment, status, author,"
                " created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (subject, priority, category, comment, status, author, time.time()),
            )
            ticket_id = int(cursor.lastrowid or 0)
            self._set_tags(db, ticket_id, tags)
            return ticket_id

    def ticket(self, ticket_id: int) -> Row | None:
        row = self._one(_TICKET_SELECT + " WHERE t.id = ?", (ticket_id,))
        if row is not None:
            row["tags"] = self._tag_ids(ticket_id)
        return row

    def tickets(
        self,
        *,
        author: str | None = None,
        subject: str | None = None,
        category: int | None = None,
        status: str | None = None,
        offset: int = 0,
        limit: int = -1,
    ) -> list[Row]:
        """Newest first; `subject` matches a part of it, ignoring case."""
        where, args = _filters(author=author, subject=subject, category=category, status=status)
        sql = f"{_TICKET_SELECT} {where} ORDER BY t.id DESC LIMIT ? OFFSET ?"
        rows = self._rows(sql, [*args, limit, offset])
        for row in rows:
            row["tags"] = self._tag_ids(row["id"])
        return rows

    def count_open(self, author: str) -> int:
        row = self._one(
            "SELECT COUNT(*) AS n FROM tickets WHERE author = ? AND status != '3'", (author,)
        )
        return int(row["n"]) if row else 0

    def update_ticket(self, ticket_id: int, *, priority: str | None, tags: Iterable[int]) -> None:
        with self._transaction() as db:
            if priority is not None:
                db.execute("UPDATE tickets SET priority = ? WHERE id = ?", (priority, ticket_id))
            self._set_tags(db, ticket_id, tags)

    def set_status(self, ticket_id: int, status: str) -> None:
        with self._transaction() as db:
            db.execute("UPDATE tickets SET status = ? WHERE id = ?", (status, ticket_id))

    def _tag_ids(self, ticket_id: int) -> list[int]:
        sql = "SELECT tag_id FROM ticket_tags WHERE ticket_id = ? ORDER BY position"
        return [int(row["tag_id"]) for row in self._rows(sql, (ticket_id,))]

    @staticmethod
    def _set_tags(db: sqlite3.Connection, ticket_id: int, tags: Iterable[int]) -> None:
        db.execute("DELETE FROM ticket_tags WHERE ticket_id = ?", (ticket_id,))
        db.executemany(
            "INSERT INTO ticket_tags VALUES (?, ?, ?)",
            [(ticket_id, position, tag) for position, tag in enumerate(tags)],
        )

    # -- conversations and attachments --------------------------------------------

    def add_conversation(
        self,
        ticket_id: int,
        comment: str,
        author: str,
        attachment: tuple[str, bytes, str] | None = None,
    ) -> int:
        """A conversation, with its attachment (filename, content, content type) if any."""
        with self._transaction() as db:
            cursor = db.execute(
                "INSERT INTO conversations (ticket_id, comment, author, created_at)"
                " VALUES (?, ?, ?, ?)",
                (ticket_id, comment, author, time.time()),
            )
            conversation_id = int(cursor.lastrowid or 0)
            if attachment is not None:
                self._insert_attachment(db, ticket_id, conversation_id, attachment)
            return conversation_id

    def conversations(self, ticket_id: int | None = None) -> list[Row]:
        sql = "SELECT id, ticket_id AS ticket, comment, author, created_at FROM conversations"
        if ticket_id is None:
            return self._rows(sql + " ORDER BY id")
        return self._rows(sql + " WHERE ticket_id = ? ORDER BY id", (ticket_id,))

    def add_attachment(
        self, ticket_id: int, conversation_id: int | None, attachment: tuple[str, bytes, str]
    ) -> int:
        with self._transaction() as db:
            return self._insert_attachment(db, ticket_id, conversation_id, attachment)

    @staticmethod
    def _insert_attachment(
        db: sqlite3.Connection,
        ticket_id: int,
        conversation_id: int | None,
        attachment: tuple[str, bytes, str],
    ) -> int:
        filename, content, content_type = attachment
        cursor = db.execute(
            "INSERT INTO attachments (ticket_id, conversation_id, filename, content_type, content)"
            " VALUES (?, ?, ?, ?, ?)",
            (ticket_id, conversation_id, filename, content_type, content),
        )
        return int(cursor.lastrowid or 0)

    def attachments(self, ticket_id: int | None = None) -> list[Row]:
        """Without their content: id, ticket, conversation_id, filename, content_type, size."""
        sql = (
            "SELECT id, ticket_id AS ticket, conversation_id, filename, content_type,"
            " length(content) AS size FROM attachments"
        )
        if ticket_id is None:
            return self._rows(sql + " ORDER BY id")
        return self._rows(sql + " WHERE ticket_id = ? ORDER BY id", (ticket_id,))

    def attachment(self, attachment_id: int) -> Row | None:
        """With its content (bytes)."""
        return self._one(
            "SELECT id, ticket_id AS ticket, conversation_id, filename, content_type, content"
            " FROM attachments WHERE id = ?",
            (attachment_id,),
        )

    # -- access tokens --------------------------------------------------------------

    def add_token(self, token: str, username: str) -> None:
        with self._transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO tokens VALUES (?, ?, ?)", (token, username, time.time())
            )

    def remove_token(self, token: str) -> None:
        """The token ends: requests bearing it are refused (401 token_not_valid)."""
        with self._transaction() as db:
            db.execute("DELETE FROM tokens WHERE token = ?", (token,))

    def token_user(self, token: str) -> str | None:
        row = self._one("SELECT username FROM tokens WHERE token = ?", (token,))
        return str(row["username"]) if row else None


_TICKET_SELECT = (
    "SELECT t.id, t.subject, t.priority, t.category, c.category AS category_title, t.comment,"
    " t.status, t.author, t.created_at FROM tickets t LEFT JOIN categories c ON c.id = t.category"
)


def _filters(**values: Any) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    args: list[Any] = []
    for name, value in values.items():
        if value is None or value == "":
            continue
        if name == "subject":
            clauses.append("instr(lower(t.subject), lower(?)) > 0")
        else:
            clauses.append(f"t.{name} = ?")
        args.append(value)
    return ("WHERE " + " AND ".join(clauses)) if clauses else "", args
