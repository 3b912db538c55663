"""Events: every state change is an Event (GET /v1/events), delivered as `stripe listen` does to each target of
POST /__fake/listen: one worker per target, in order, signed, retried with backoff, every attempt recorded."""

from __future__ import annotations

import copy
import heapq
import itertools
import json
import random
import sys
import threading
import time
import urllib.error
import urllib.request

from ..signing import stripe_signature
from . import settings
from .forms import page
from .settings import API_VERSION, DELIVERY_TIMEOUT_S
from .state import LOCK, STATE, new_id, no_such, now, public

REQUEST = {"id": None, "idempotency_key": None}  # the /v1 request being answered (None: a page or the clock)


def snapshot(obj: dict) -> dict:
    return copy.deepcopy(public(obj))


def emit(type_: str, obj: dict, previous: dict | None = None) -> dict:
    """Records an Event about `obj` (its full current shape) and queues it for every listening target."""
    event = {"id": new_id("evt_", 24), "object": "event", "api_version": API_VERSION, "created": now(),
             "data": {"object": snapshot(obj)}, "livemode": False, "pending_webhooks": len(STATE.targets),
             "request": dict(REQUEST), "type": type_}
    if previous is not None:
        event["data"]["previous_attributes"] = previous
    STATE.events.append(event)
    DELIVERY.submit(event, list(STATE.targets.values()))
    return event


def emit_updated(type_: str, obj: dict, before: dict) -> dict | None:
    """`type_` with `previous_attributes` (the top-level fields that changed since `before`), if any did."""
    after = snapshot(obj)
    previous = {k: before.get(k) for k in after if before.get(k) != after[k]}
    return emit(type_, obj, previous) if previous else None


class Delivery:
    """One worker thread per target (--delivery-workers: more), in event order; a failed attempt is retried
    later with backoff without holding back the events after it (as Stripe does)."""

    def __init__(self):
        self.cond = threading.Condition()
        self.queues: dict = {}  # url -> heap of (due monotonic time, seq, job)
        self.threads: dict = {}
        self.seq = itertools.count()
        self.generation = 0

    def submit(self, event: dict, targets: list) -> None:
        if not targets:
            return
        body = json.dumps(event, indent=2).encode()
        with self.cond:
            for target in targets:
                for _ in range(2 if settings.CHAOS else 1):
                    due = time.monotonic() + (random.uniform(0, settings.CHAOS_WINDOW_S) if settings.CHAOS else 0)
                    job = {"event": event["id"], "type": event["type"], "url": target["url"],
                           "secret": target["secret"], "body": body, "attempt": 0, "generation": self.generation}
                    heapq.heappush(self.queues.setdefault(target["url"], []), (due, next(self.seq), job))
                if target["url"] not in self.threads:
                    # --delivery-workers: Stripe sends a target's events concurrently (and in no guaranteed
                    # order); one worker keeps `stripe listen`'s one-at-a-time order.
                    threads = [threading.Thread(target=self.run, args=(target["url"],), daemon=True)
                               for _ in range(settings.DELIVERY_WORKERS)]
                    self.threads[target["url"]] = threads
                    for thread in threads:
                        thread.start()
            self.cond.notify_all()

    def reset(self) -> None:
        with self.cond:
            self.generation += 1
            for queue in self.queues.values():
                queue.clear()
            self.cond.notify_all()

    def run(self, url: str) -> None:
        while True:
            with self.cond:
                queue = self.queues[url]
                while not queue or queue[0][0] > time.monotonic():
                    self.cond.wait(None if not queue else max(0.0, queue[0][0] - time.monotonic()))
                job = heapq.heappop(queue)[2]
            if job["generation"] != self.generation:
                continue
            retry_in = self.attempt(job)
            if retry_in is not None:
                with self.cond:
                    if job["generation"] == self.generation:
                        heapq.heappush(queue, (time.monotonic() + retry_in, next(self.seq), job))
                        self.cond.notify_all()

    def attempt(self, job: dict):
        """POSTs the event once; the seconds to wait before the next attempt, or None when done."""
        job["attempt"] += 1
        started = time.monotonic()
        request = urllib.request.Request(job["url"], data=job["body"], method="POST", headers={
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
            "Stripe-Signature": stripe_signature(job["secret"], int(time.time()), job["body"])})
        status, error = None, None
        try:
            with urllib.request.urlopen(request, timeout=DELIVERY_TIMEOUT_S) as reply:
                status = reply.status
                reply.read()
        except urllib.error.HTTPError as e:
            status = e.code
        except (OSError, ValueError) as e:
            error = str(e) or type(e).__name__
        ok = status is not None and 200 <= status < 300
        final = ok or job["attempt"] >= settings.MAX_ATTEMPTS
        retry_in = None if final else min(30.0, 2.0 ** (job["attempt"] - 1)) * settings.RETRY_SCALE
        record = {"event": job["event"], "type": job["type"], "url": job["url"], "status": status,
                  "error": error, "attempt": job["attempt"], "ok": ok, "at": int(time.time()),
                  "duration_ms": round((time.monotonic() - started) * 1000), "retry_in": retry_in}
        with LOCK:
            if job["generation"] == self.generation:
                STATE.deliveries.append(record)
                if ok:
                    event = next((e for e in reversed(STATE.events) if e["id"] == job["event"]), None)
                    if event is not None:
                        event["pending_webhooks"] = max(0, event["pending_webhooks"] - 1)
        outcome = status if status is not None else f"error ({error})"
        then = "" if retry_in is None else f", retry in {retry_in:g} s"
        print(f"fake-stripe: delivery {job['event']} {job['type']} -> {job['url']} attempt {job['attempt']}: "
              f"{outcome} in {record['duration_ms']} ms{then}", file=sys.stderr, flush=True)
        return retry_in


DELIVERY = Delivery()


def list_events(p):
    types = p.get("types")
    types = (types if isinstance(types, list) else [types]) if types is not None else None

    def keep(e):
        return p.get("type") in (None, e["type"]) and (types is None or e["type"] in types)

    return page("/v1/events", list(reversed(STATE.events)), p, "event", keep)


def retrieve_event(p, id_):
    event = next((e for e in STATE.events if e["id"] == id_), None)
    if event is None:
        raise no_such("event", id_)
    return event
