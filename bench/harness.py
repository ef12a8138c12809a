"""What every benchmark table shares: servers started the way production starts them, `wrk` driving them,
databases to run against, and the run's record (one table with ratios, a JSON file, a plot).

- `Server`: gunicorn with 2 sync workers on a free port (our app with the project's gunicorn configuration, a peer
  with gunicorn's defaults), stopped and its workers' RSS read at the end.
- `wrk_run`: wrk with a Lua script that cycles through prepared requests (signed webhooks: the signature covers
  the URL and the form, so each prepared body carries its own); the figures come from the script's `done`
  hook as JSON (requests/s, errors, latency percentiles).
- `Run`: rows of (table, what, figure, peer figure) -> ratio; printed, written to bench/results/<stamp>.json and
  drawn (latency percentiles against connections) to bench/results/<stamp>-latency.png.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
PG_URL = os.environ.get("BENCH_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
AUTH_TOKEN = "bench-auth-token-0123456789abcdef"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_kib(pid: int) -> int:
    """Resident set size of `pid` in KiB (0 when it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def children(pid: int) -> list[int]:
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            out += [int(p) for p in (task / "children").read_text().split()]
    return out


class Server:
    """gunicorn serving `app` ("module:callable") with `workers` sync workers on a free port."""

    def __init__(self, app: str, env: dict[str, str] | None = None, *, workers: int = 2, project_config: bool = False):
        self.app, self.workers, self.project_config = app, workers, project_config
        self.port = free_port()
        self.env = {**os.environ, **(env or {})}
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = tempfile.NamedTemporaryFile(prefix="bench-gunicorn-", suffix=".log", delete=False)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Server:
        cmd = [sys.executable, "-m", "gunicorn", "-w", str(self.workers), "-k", "sync", "-b", f"127.0.0.1:{self.port}"]
        env = dict(self.env)
        if self.project_config:
            # Production's configuration (ivr serve): timeouts, logging, metrics; workers and bind from settings.
            cmd += ["-c", "python:ivr.gunicorn_conf"]
            env.update(WEB_CONCURRENCY=str(self.workers), WEB_BIND=f"127.0.0.1:{self.port}")
        cmd.append(self.app)
        cwd = ROOT if self.project_config else Path(tempfile.gettempdir())
        env["PYTHONPATH"] = str(ROOT)
        self.proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn {self.app} exited: {Path(self.log.name).read_text()[-2000:]}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                if len(children(self.proc.pid)) >= self.workers:
                    time.sleep(0.3)
                    return self
            time.sleep(0.1)
        raise RuntimeError(f"gunicorn {self.app} did not start: {Path(self.log.name).read_text()[-2000:]}")

    def worker_rss_mib(self) -> list[float]:
        assert self.proc is not None
        return [round(rss_kib(p) / 1024, 1) for p in children(self.proc.pid)]

    def master_rss_mib(self) -> float:
        assert self.proc is not None
        return round(rss_kib(self.proc.pid) / 1024, 1)

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        if not exc or exc[0] is None:
            os.unlink(self.log.name)


@dataclass(frozen=True)
class Prepared:
    """One HTTP request, ready to send."""

    method: str
    path: str
    body: str = ""
    headers: tuple[tuple[str, str], ...] = ()


@dataclass
class Load:
    """wrk's figures for one step at one connection count."""

    rps: float
    requests: int
    errors: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float


def _lua_string(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n") + "'"


def _lua_script(requests: Sequence[Prepared]) -> str:
    rows = []
    for r in requests:
        headers = ", ".join(f"[{_lua_string(k)}] = {_lua_string(v)}" for k, v in r.headers)
        rows.append(f"  {{{_lua_string(r.method)}, {_lua_string(r.path)}, {{{headers}}}, {_lua_string(r.body)}}},")
    return "\n".join(
        [
            "local prepared = {",
            *rows,
            "}",
            "local formatted = {}",
            "local i = 0",
            "init = function(args)",
            "  for k, r in ipairs(prepared) do formatted[k] = wrk.format(r[1], r[2], r[3], r[4]) end",
            "end",
            "request = function()",
            "  i = i % #formatted + 1",
            "  return formatted[i]",
            "end",
            "done = function(summary, latency, requests)",
            "  local e = summary.errors",
            "  io.write(string.format('BENCH {\"requests\": %d, \"duration_us\": %d, \"errors\": %d, '"
            " .. '\"p50\": %d, \"p90\": %d, \"p99\": %d, \"max\": %d}\\n', summary.requests, summary.duration,"
            " e.connect + e.read + e.write + e.status + e.timeout, latency:percentile(50), latency:percentile(90),"
            " latency:percentile(99), latency.max))",
            "end",
        ]
    )


def wrk_path() -> str:
    path = shutil.which("wrk")
    if path is None:
        raise SystemExit("wrk is not installed: run scripts/install-system-packages.sh wrk (make bench does)")
    return path


def wrk_run(base: str, requests: Sequence[Prepared], *, connections: int, seconds: float, threads: int = 2) -> Load:
    """Drive `base` with `requests` (cycled) for `seconds` at `connections`."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(_lua_script(requests))
    try:
        out = subprocess.run(
            [wrk_path(), f"-t{min(threads, connections)}", f"-c{connections}", f"-d{max(1, round(seconds))}s",
             "--timeout", "10s", "-s", script.name, base],
            capture_output=True, text=True, check=True,
        ).stdout
    finally:
        os.unlink(script.name)
    line = next(x for x in out.splitlines() if x.startswith("BENCH "))
    data = json.loads(line[len("BENCH "):])
    return Load(
        rps=round(data["requests"] / (data["duration_us"] / 1e6), 1),
        requests=data["requests"],
        errors=data["errors"],
        p50_ms=round(data["p50"] / 1000, 2),
        p90_ms=round(data["p90"] / 1000, 2),
        p99_ms=round(data["p99"] / 1000, 2),
        max_ms=round(data["max"] / 1000, 2),
    )


def http(base: str, req: Prepared) -> tuple[int, str]:
    """Send one prepared request (warm-up and checks; a worker still importing the app may take seconds)."""
    data = req.body.encode() if req.body else None
    request = urllib.request.Request(base + req.path, data=data, method=req.method, headers=dict(req.headers))
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")


# -- databases -----------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def database(kind: str) -> Iterator[str]:
    """A fresh, migrated database URL: SQLite in a temporary folder, or a new PostgreSQL database."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from callbacks.db import upgrade

    if kind == "sqlite":
        with tempfile.TemporaryDirectory(prefix="bench-db-") as folder:
            url = f"sqlite:///{folder}/ivr.db"
            upgrade(url)
            yield url
        return
    name = f"bench_{os.getpid()}_{int(time.time())}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    try:
        upgrade(url)
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


# -- the run's record ----------------------------------------------------------------------------------------------


@dataclass
class Row:
    table: str
    what: str
    figure: float
    unit: str
    peer: float | None = None
    peer_name: str = ""
    goal: str = ""
    higher_is_better: bool = True
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        if not self.peer or not self.figure:
            return None
        return self.figure / self.peer if self.higher_is_better else self.peer / self.figure


@dataclass
class Curve:
    """Latency percentiles of one step at several connection counts (the plot)."""

    label: str
    connections: list[int] = field(default_factory=list)
    p50: list[float] = field(default_factory=list)
    p90: list[float] = field(default_factory=list)
    p99: list[float] = field(default_factory=list)

    def add(self, connections: int, load: Load) -> None:
        self.connections.append(connections)
        self.p50.append(load.p50_ms)
        self.p90.append(load.p90_ms)
        self.p99.append(load.p99_ms)


class Run:
    def __init__(self, quick: bool):
        self.quick = quick
        self.rows: list[Row] = []
        self.curves: list[Curve] = []
        self.started = datetime.now(UTC)
        self.machine = {"cores": os.cpu_count(), "python": sys.version.split()[0], "quick": quick}

    def add(self, row: Row) -> Row:
        self.rows.append(row)
        ratio = f"  ratio {row.ratio:.2f}" if row.ratio is not None else ""
        peer = f"  (peer {row.peer_name}: {row.peer:g})" if row.peer is not None else ""
        print(f"  {row.table:10} {row.what:48} {row.figure:>10g} {row.unit}{peer}{ratio}", flush=True)
        return row

    def table(self) -> str:
        head = f"| {'table':10} | {'what':52} | {'figure':>12} | {'peer':>12} | {'ratio':>6} | goal |"
        lines = [head, "|" + "|".join("-" * (len(c)) for c in head.split("|")[1:-1]) + "|"]
        for r in self.rows:
            peer = f"{r.peer:g}" if r.peer is not None else ""
            ratio = f"{r.ratio:.2f}" if r.ratio is not None else ""
            lines.append(
                f"| {r.table:10} | {r.what:52} | {f'{r.figure:g} {r.unit}':>12} | {peer:>12} | {ratio:>6} | {r.goal} |"
            )
        return "\n".join(lines)

    def save(self, names: Sequence[str]) -> tuple[Path, Path | None]:
        RESULTS.mkdir(parents=True, exist_ok=True)
        stamp = self.started.strftime("%Y%m%dT%H%M%SZ")
        path = RESULTS / f"{stamp}.json"
        record = {
            "started": self.started.isoformat(),
            "finished": datetime.now(UTC).isoformat(),
            "benchmarks": list(names),
            "machine": self.machine,
            "rows": [{**asdict(r), "ratio": r.ratio} for r in self.rows],
            "curves": [asdict(c) for c in self.curves],
        }
        path.write_text(json.dumps(record, indent=2) + "\n")
        return path, self.plot(RESULTS / f"{stamp}-latency.png")

    def plot(self, path: Path) -> Path | None:
        if not self.curves:
            return None
        try:
            import matplotlib

            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
        except ImportError:
            print("(no plot: matplotlib is not installed; pip install -e '.[bench]')")
            return None
        fig, axes = plt.subplots(1, 3, figsize=(15, 5), sharey=True)
        for ax, pct in zip(axes, ("p50", "p90", "p99"), strict=True):
            for c in self.curves:
                style = "--" if c.label.startswith("peer") else "-"
                ax.plot(c.connections, getattr(c, pct), style, marker="o", label=c.label)
            ax.set_title(f"{pct} latency")
            ax.set_xlabel("connections")
            ax.set_xscale("log", base=2)
            ax.set_yscale("log")
            ax.grid(True, which="both", alpha=0.3)
        axes[0].set_ylabel("ms")
        axes[-1].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
        fig.tight_layout()
        fig.savefig(path, dpi=90)
        plt.close(fig)
        return path
