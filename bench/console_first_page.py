#!/usr/bin/env python
"""The console's first page with 10,000 instances in the database (issue 11): how long headless
Chromium takes from navigating to ``/console/`` to the power list drawn and the network quiet.

What it does: a fresh SQLite file (or ``--database-url``), migrated; one process with a power
item and one user task (``bench_permit``) deployed through the service layer; ``--instances``
instances started through the service layer (``instances.start_instance``, the same call as
``POST /v1/instances``, so each has its events, its open task and its saved engine state), one
in four then completed through ``tasks.complete_task`` (the rest stay open). Then a real
``powerflow serve`` starts on the file (the example processes were deployed first, as a new
installation has them), and Debian's Chromium (``/usr/bin/chromium``, headless, driven by
Playwright) opens ``/console/``:

* **cold**: a new browser context each time (no cache, nothing in sessionStorage), ``--cold``
  times;
* **warm**: the same context reloaded ``--warm`` times (the hashed assets come from the cache,
  ``index.html`` and ``/public/powers`` are asked again);
* and, for comparison, the page a clerk sees after signing in: their inbox (``#/inbox``, the
  first 100 of the open tasks their role allows, ``GET /v1/tasks?state=ready``), reloaded
  ``--warm`` times with the token in the tab's sessionStorage.

The time of one load is measured by the browser itself, from the navigation's start
(``performance.timeOrigin``) to the later of: the power list's cards shown (``main`` no longer busy,
its first card laid out) and the end of the last network response the page made. It does not wait
Playwright's 500 ms ``networkidle`` window, which would add the same half second to every figure.

    python bench/console_first_page.py                  # 10,000 instances, SQLite
    python bench/console_first_page.py --instances 10000 --cold 5 --warm 10

Not a test: it prints figures. Bar (issue 11): under 1 s on the 2-core machine.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select

from powerflow import bootstrap
from powerflow.db import migrate
from powerflow.db.engine import Store
from powerflow.db.models import Instance, Task
from powerflow.services import auth, definitions, instances, tasks
from powerflow.services.auth import Principal
from powerflow.services.errors import DomainError

HERE = Path(__file__).resolve().parent
_spec = importlib.util.spec_from_file_location("throughput", HERE / "throughput.py")
assert _spec is not None and _spec.loader is not None
throughput = importlib.util.module_from_spec(_spec)
sys.modules["throughput"] = throughput
_spec.loader.exec_module(throughput)

CHROMIUM = Path("/usr/bin/chromium")
KEY = "bench_permit"
BPMN = f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:camunda="http://camunda.org/schema/1.0/bpmn"
    xmlns:pf="urn:powerflow:bpmn:1.0" id="D" targetNamespace="urn:powerflow:bench">
  <bpmn:process id="{KEY}" name="Street stall permit (benchmark)" isExecutable="true">
    <bpmn:extensionElements>
      <pf:powerItem code="BENCH-1" category="licensing">A street stall permit</pf:powerItem>
      <pf:legalBasis>Benchmark regulation, art. 1</pf:legalBasis>
      <pf:timeLimit duration="P10D" calendar="working" kind="promised"/>
      <pf:disclosure public="true" progress="true"/>
    </bpmn:extensionElements>
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:userTask id="check" name="Check the application" camunda:candidateGroups="clerk">
      <bpmn:extensionElements>
        <pf:timeLimit duration="P2D" calendar="working" kind="step"/>
      </bpmn:extensionElements>
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:endEvent id="end"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="check"/>
    <bpmn:sequenceFlow id="f2" sourceRef="check" targetRef="end"/>
  </bpmn:process>
</bpmn:definitions>
""".encode()


def populate(store: Store, count: int) -> None:
    """Deploy the examples (as a new installation has them) and bench_permit, start ``count``
    instances of bench_permit and complete one in four."""
    designer = Principal("bench-designer", frozenset({"designer"}))
    clerk = Principal("bench-clerk", frozenset({"clerk"}))
    folder = bootstrap.examples_dir()
    for path in sorted(folder.glob("*.bpmn")) if folder else []:
        try:
            definitions.deploy(store, path.read_bytes(), path.name, designer, max_bytes=1 << 22)
        except DomainError as exc:
            print(f"  example {path.name} not deployed: {exc.message}")
    definitions.deploy(store, BPMN, "bench_permit.bpmn", designer, max_bytes=1 << 20)
    began = time.perf_counter()
    for n in range(count):
        started = instances.start_instance(store, clerk, KEY, business_key=f"BP-{n:05d}")
        if n % 4 == 0:
            (task,) = [t for t in started.tasks if t.state == "ready"]
            tasks.complete(store, clerk, str(task.id), {})
        if (n + 1) % 1000 == 0:
            rate = (n + 1) / (time.perf_counter() - began)
            print(f"  {n + 1:,} instances ({rate:.0f}/s)", flush=True)


POWER_LIST = "main ul.cards li"
INBOX = "main table.inbox tbody tr"


def load_once(page: Any, url: str, reload: bool, ready: str = POWER_LIST) -> dict[str, float]:
    """One navigation: the browser's own times (ms since the navigation started) until the
    first element matching ``ready`` is laid out and the page is no longer busy."""
    if reload:
        page.reload(wait_until="commit")
    else:
        page.goto(url, wait_until="commit")
    shown = page.wait_for_function(
        """(ready) => {
            const main = document.querySelector("main");
            const card = document.querySelector(ready);
            return main && !main.hasAttribute("aria-busy") && card && card.offsetHeight > 0
                ? performance.now() : false;
        }""",
        arg=ready,
        polling="raf",
        timeout=30_000,
    ).json_value()
    page.wait_for_load_state("networkidle")  # then read the last response's end
    timing = page.evaluate(
        r"""() => {
            const nav = performance.getEntriesByType("navigation")[0];
            const resources = performance.getEntriesByType("resource");
            return {
                html: nav.responseEnd,
                dom: nav.domContentLoadedEventEnd,
                last: Math.max(nav.responseEnd, ...resources.map((r) => r.responseEnd)),
                script: Math.max(0, ...resources.filter((r) => r.name.endsWith(".js"))
                    .map((r) => r.responseEnd)),
                api: Math.max(0, ...resources.filter((r) => /\/(public|v1)\//.test(r.name))
                    .map((r) => r.responseEnd)),
                requests: resources.length + 1,
                bytes: nav.transferSize + resources.reduce((s, r) => s + r.transferSize, 0),
            };
        }"""
    )
    return {**timing, "shown": float(shown), "done": max(float(shown), timing["last"])}


def api_latency(url: str, headers: dict[str, str], count: int = 20) -> str:
    """p50 and max of ``count`` requests, one at a time, after two to warm up."""
    took = []
    with httpx.Client(headers=headers, timeout=30) as client:
        for n in range(count + 2):
            began = time.perf_counter()
            client.get(url).raise_for_status()
            if n >= 2:
                took.append((time.perf_counter() - began) * 1000)
    return f"p50 {statistics.median(took):.0f} ms, max {max(took):.0f} ms (n={count})"


def summary(name: str, runs: list[dict[str, float]]) -> None:
    done = [r["done"] for r in runs]
    shown = [r["shown"] for r in runs]
    print(
        f"{name}: first page rendered and network quiet p50 {statistics.median(done):.0f} ms, "
        f"max {max(done):.0f} ms (n={len(done)}); page shown p50 "
        f"{statistics.median(shown):.0f} ms; index.html p50 "
        f"{statistics.median(r['html'] for r in runs):.0f} ms; "
        f"{runs[-1]['requests']:.0f} requests, {runs[-1]['bytes'] / 1024:.0f} KiB transferred"
    )
    print(
        "  each load (ms: script received / API answered / shown): "
        + ", ".join(f"{r['script']:.0f}/{r['api']:.0f}/{r['done']:.0f}" for r in runs)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--instances", type=int, default=10_000)
    parser.add_argument("--cold", type=int, default=5, help="loads in a new browser context")
    parser.add_argument("--warm", type=int, default=10, help="reloads in the same context")
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file")
    parser.add_argument("--keep", default=None, help="a folder to create the SQLite file in")
    args = parser.parse_args()
    if not CHROMIUM.exists():
        sys.exit("Debian's Chromium is needed at /usr/bin/chromium (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(args.keep or tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        url = args.database_url or f"sqlite:///{workdir / 'bench.db'}"
        if throughput.database_kind(url) == "postgresql":
            throughput.prepare_postgres(url)
        store = Store(url)
        migrate.upgrade(store.engine)
        print(f"database: {throughput.database_kind(url)}; filling {args.instances:,} instances")
        began = time.perf_counter()
        populate(store, args.instances)
        token = auth.add_user(store, "bench-clerk", ["clerk"])
        with store.begin(write=False) as conn:
            held = conn.execute(select(func.count()).select_from(Instance)).scalar_one()
            open_tasks = conn.execute(
                select(func.count()).select_from(Task).where(Task.state == "ready")
            ).scalar_one()
        print(
            f"filled in {time.perf_counter() - began:.0f} s: {held:,} instances, "
            f"{open_tasks:,} open tasks"
        )
        store.dispose()

        server = throughput.Server(url, workdir)
        server.start()
        try:
            powers = httpx.get(f"{server.url}/public/powers", timeout=30).json()
            print(f"server up; the power list holds {len(powers)} power items")
            clerk = {"Authorization": f"Bearer {token}"}
            for path, headers in (
                ("/public/powers", {}),
                ("/v1/tasks?state=ready&limit=100", clerk),
            ):
                print(f"GET {path} alone: {api_latency(server.url + path, headers)}")
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path=str(CHROMIUM), args=throughput_args()
                )
                try:
                    cold = []
                    for _ in range(args.cold):
                        context = browser.new_context(viewport={"width": 1280, "height": 800})
                        page = context.new_page()
                        cold.append(load_once(page, f"{server.url}/console/", reload=False))
                        context.close()
                    context = browser.new_context(viewport={"width": 1280, "height": 800})
                    page = context.new_page()
                    load_once(page, f"{server.url}/console/", reload=False)  # fills the cache
                    warm = [
                        load_once(page, f"{server.url}/console/", reload=True)
                        for _ in range(args.warm)
                    ]
                    context.close()
                    # the page after signing in: a clerk's inbox over every open task
                    context = browser.new_context(viewport={"width": 1280, "height": 800})
                    context.add_init_script(f"sessionStorage.setItem('powerflow.token', '{token}')")
                    page = context.new_page()
                    inbox = f"{server.url}/console/#/inbox"
                    load_once(page, inbox, reload=False, ready=INBOX)
                    signed_in = [
                        load_once(page, inbox, reload=True, ready=INBOX) for _ in range(args.warm)
                    ]
                    rows = page.locator(INBOX).count()
                    context.close()
                finally:
                    browser.close()
            summary("power list, cold (new context, empty cache)", cold)
            summary("power list, warm (reload, cached assets)", warm)
            summary(f"a clerk's inbox, warm ({rows} rows of {open_tasks:,} open tasks)", signed_in)
        finally:
            server.stop()


def throughput_args() -> list[str]:
    """Chromium's flags, as the browser tests use them (tests/test_console.py)."""
    return [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
    ]


if __name__ == "__main__":
    main()
