"""The console's SSE parser (console/src/stream.js) on every way the network can split a stream:
each cut of a sample (CRLF line ends, a keep-alive comment, a multi-line data field) must give the
same events, none lost or doubled, whatever the chunk boundaries. Run with Node.js, which builds
the console (docs/console.md)."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from conftest import ROOT

SCRIPT = """
import { parseSse } from %s;
const sample = %s;
const results = [];
for (let cut = 0; cut <= sample.length; cut++) {
  for (let second = cut; second <= sample.length; second += 7) {
    const chunks = [sample.slice(0, cut), sample.slice(cut, second), sample.slice(second)];
    let buffer = "";
    const got = [];
    for (const chunk of chunks) {
      const [messages, rest] = parseSse(buffer + chunk);
      got.push(...messages);
      buffer = rest;
    }
    results.push(JSON.stringify(got));
  }
}
console.log(JSON.stringify([...new Set(results)]));
"""

SAMPLE = (
    'id: 41\r\nevent: alert.raised\r\ndata: {"seq": 1}\r\n\r\n'
    ": ping\r\n\r\n"
    "id: 42\r\nevent: task.ready\r\ndata: line one\r\ndata: line two\r\n\r\n"
    'id: 43\ndata: {"seq": 3}\n\n'
)


@pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed")
def test_the_sse_parser_gives_the_same_events_however_the_stream_is_split() -> None:
    module = (ROOT / "console" / "src" / "stream.js").as_uri()
    script = SCRIPT % (json.dumps(module), json.dumps(SAMPLE))
    ran = subprocess.run(
        ["node", "--input-type=module", "-e", script],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    (only,) = json.loads(ran.stdout)  # one outcome for every split
    assert json.loads(only) == [
        {"id": "41", "event": "alert.raised", "data": '{"seq": 1}'},
        {"id": "42", "event": "task.ready", "data": "line one\nline two"},
        {"id": "43", "data": '{"seq": 3}'},
    ]
