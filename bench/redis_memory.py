"""Redis memory per ticket and per reply, measured with MEMORY USAGE and INFO memory.

Writes what the bot keeps for N linked tickets and M mirrored replies through the real
store (bot/store), on a Redis of your choosing (an empty database is best), then prints
the bytes per ticket and per reply two ways: the sum of `MEMORY USAGE` over the keys,
and the growth of `used_memory`. Removes its keys at the end.

    python bench/redis_memory.py --redis redis://127.0.0.1:6379/15 --tickets 2000 --replies 10
"""

from __future__ import annotations

import argparse
import time
import uuid

import redis

from bot.store import Store, ThreadRef

REPLY_TEXT = "Ada Lovelace: the printer on floor 2 jams again after the toner change " * 2


def used_memory(client: redis.Redis) -> int:
    return int(client.info("memory")["used_memory"])


def memory_usage(client: redis.Redis, pattern: str) -> tuple[int, int]:
    """(keys, bytes) of the keys matching `pattern`, by MEMORY USAGE (all samples)."""
    keys = list(client.scan_iter(pattern, count=1000))
    pipe = client.pipeline(transaction=False)
    for key in keys:
        pipe.memory_usage(key, samples=0)
    return len(keys), sum(int(size or 0) for size in pipe.execute())


def write_tickets(store: Store, count: int) -> list[tuple[str, ThreadRef]]:
    tickets = []
    for n in range(count):
        ticket_id = str(100_000 + n)
        thread = ThreadRef("C0123456789", f"{1_700_000_000 + n}.{n % 1_000_000:06d}")
        store.link_thread(ticket_id, thread)
        store.remember_requester(ticket_id, "Ada Lovelace")
        store.start_sync(ticket_id, "1", "2", closed=False)
        tickets.append((ticket_id, thread))
    return tickets


def write_replies(store: Store, tickets: list[tuple[str, ThreadRef]], per_ticket: int) -> int:
    """What stays after a reply was delivered: its message state (30 days), the
    fingerprint of its text (30 days); the outbox entry itself is deleted."""
    written = 0
    for ticket_id, thread in tickets:
        for n in range(per_ticket):
            ts = f"{float(thread.ts) + n + 1:.6f}"
            text = f"{REPLY_TEXT} #{n}"
            store.set_message_state(
                thread.channel,
                ts,
                status="delivered",
                ticket_id=ticket_id,
                parts_done="1",
                sent_text=text,
            )
            store.remember_sent(ticket_id, text)
            written += 1
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/15")
    parser.add_argument("--tickets", type=int, default=2000)
    parser.add_argument("--replies", type=int, default=10, help="replies per ticket")
    args = parser.parse_args()

    client = redis.Redis.from_url(args.redis, decode_responses=True)
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    store = Store(client, prefix)
    try:
        base = used_memory(client)
        tickets = write_tickets(store, args.tickets)
        ticket_keys, ticket_bytes = memory_usage(client, f"{prefix}:*")
        after_tickets = used_memory(client)
        replies = write_replies(store, tickets, args.replies)
        all_keys, all_bytes = memory_usage(client, f"{prefix}:*")
        after_replies = used_memory(client)

        reply_keys, reply_bytes = memory_usage(client, f"{prefix}:outbox:msg:*")
        sent_keys, sent_bytes = memory_usage(client, f"{prefix}:sent:*")
        print(f"redis {client.info('server')['redis_version']}, {time.strftime('%Y-%m-%d')}")
        print(f"{args.tickets} tickets, {replies} replies ({args.replies} a ticket)")
        print(
            f"per ticket: {ticket_bytes / args.tickets:.0f} B by MEMORY USAGE "
            f"({ticket_keys / args.tickets:.1f} keys), "
            f"{(after_tickets - base) / args.tickets:.0f} B by used_memory"
        )
        print(
            f"per reply:  {(all_bytes - ticket_bytes) / replies:.0f} B by MEMORY USAGE "
            f"(message state {reply_bytes / max(reply_keys, 1):.0f} B a key; fingerprints "
            f"{sent_bytes / max(replies, 1):.0f} B a reply in {sent_keys} sets), "
            f"{(after_replies - after_tickets) / replies:.0f} B by used_memory"
        )
        print(f"total: {all_keys} keys, {all_bytes / 1e6:.1f} MB by MEMORY USAGE")
    finally:
        store.close()
        for key in client.scan_iter(f"{prefix}:*", count=1000):
            client.delete(key)


if __name__ == "__main__":
    main()
