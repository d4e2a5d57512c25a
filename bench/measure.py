"""Benchmark driver: pool-resizer beside the Python reference, one simulator.

Usage: python3 bench/measure.py --bin PATH --loadgen PATH --python VENV_PYTHON [--quick]

Started by bench/run.sh (which builds and sets up the venv). Prints a
markdown table and writes the raw numbers as JSON to --out. Standard
library only, so it runs with the system python3.
"""
import argparse
import datetime
import http.client
import json
import os
import platform
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_status(pid):
    """VmRSS / VmHWM in KiB."""
    out = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(("VmRSS:", "VmHWM:")):
                name, value = line.split(":")
                out[name] = int(value.split()[0])
    return out


def percentile(values, p):
    values = sorted(values)
    i = max(1, int(-(-p * len(values) // 100)))
    return values[i - 1]


def parse_at(text):
    """RFC 3339 with up to 7 fractional digits (Batch style) -> seconds since epoch."""
    text = text.rstrip("Z")
    if "." in text:
        base, frac = text.split(".")
        frac = (frac + "000000")[:6]
        text = f"{base}.{frac}"
    return datetime.datetime.fromisoformat(text).replace(tzinfo=datetime.timezone.utc).timestamp()


class Simulator:
    def __init__(self, binary, scale, pools, work):
        ready = os.path.join(work, "sim.ready")
        # `batch-simulator` takes the flags directly; `pool-resizer` (default features) as a subcommand.
        sub = [] if os.path.basename(binary).startswith("batch-simulator") else ["simulator"]
        args = [binary] + sub + ["--time-scale", str(scale), "--ca-file", os.path.join(work, "ca.pem")]
        for pool in pools:
            args += ["--pool", pool]
        self.log = open(os.path.join(work, "sim.log"), "w")
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=self.log, text=True)
        self.ready_line = self.proc.stdout.readline().strip()
        self.info = json.loads(self.ready_line)
        self.ctx = ssl.create_default_context(cafile=self.info["caFile"])

    def events(self, since):
        url = f"{self.info['controlEndpoint']}/events?since={since}"
        with urllib.request.urlopen(url, context=self.ctx) as r:
            return json.load(r)

    def last_seq(self):
        return self.events(10**12)["lastSeq"]

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=10)


def handler_env(sim, port, scale):
    env = dict(os.environ)
    env.update(
        BATCH_ACCOUNT_URL=sim.info["endpoint"],
        BATCH_ACCOUNT_NAME=sim.info["account"],
        BATCH_ACCOUNT_KEY=sim.info["key"],
        BATCH_CA_FILE=sim.info["caFile"],
        FUNCTIONS_CUSTOMHANDLER_PORT=str(port),
        POOL_RESIZER_TIME_SCALE=str(scale),
        # Each cycle has its own pool; the handler refuses to start without an allow-list.
        ALLOWED_POOLS="*",
        RUST_LOG="info",
    )
    env.pop("BATCH_POOL_ID", None)
    return env


def http_get(port, path, timeout=5.0):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def http_post(port, path, body, timeout=600.0):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("POST", path, body=json.dumps(body), headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


def handler_cold_start(binary, sim, scale, work):
    """Spawn `serve`; time to first 200 on `/` and on a pool-status; idle RSS."""
    port = free_port()
    out = open(os.path.join(work, "cold-handler.log"), "w")
    started = time.perf_counter()
    proc = subprocess.Popen([binary, "serve"], env=handler_env(sim, port, scale), stdout=out, stderr=out)
    try:
        while True:
            try:
                status, _ = http_get(port, "/", timeout=1)
                if status == 200:
                    break
            except OSError:
                if proc.poll() is not None:
                    raise RuntimeError("handler exited; see cold-handler.log")
        ready = time.perf_counter() - started
        status, body = http_get(port, "/api/pool-status?poolId=cold")
        first_call = time.perf_counter() - started
        assert status == 200, body
        time.sleep(0.3)  # settle: what an instance holds while it waits for work
        memory = proc_status(proc.pid)
        return ready, first_call, memory
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)
        out.close()


def python_cold_start(python, sim):
    """Interpreter start, imports, client, first successful get_pool."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        [python, os.path.join(HERE, "python_reference.py"), "cold", sim.ready_line, "cold"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    line = proc.stdout.readline()
    elapsed = time.perf_counter() - started
    assert line.startswith("ok "), line
    memory = json.loads(line[3:])
    proc.stdin.close()
    proc.wait(timeout=10)
    return elapsed, memory


def handler_cycle(port, pool, n):
    """scale-up to n, then scale-down; a 202 (inline wait over) is posted again."""
    def until_final(path, body):
        while True:
            status, answer = http_post(port, path, body)
            if status != 202:
                assert status == 200, answer
                return answer

    until_final("/api/scale-up", {"poolId": pool, "dedicatedNodes": n, "waitSeconds": 200})


def handler_down(port, pool):
    while True:
        status, answer = http_post(port, "/api/scale-down", {"poolId": pool, "waitSeconds": 200})
        if status != 202:
            assert status == 200, answer
            return


def analyse(events, pool, start, up_done, down_done):
    """Calls per phase and reaction time (simulated seconds) from the event log."""
    prefix = f"/pools/{pool}"
    up_calls = down_calls = 0
    last_up_call = None
    idle_at = None
    timeline = []
    for e in events:
        seq = e["seq"]
        if start < seq <= down_done and (e.get("poolId") == pool or e.get("path", "").startswith(prefix)):
            timeline.append(f'{parse_at(e["at"]):.1f} {e.get("method", "")} {e.get("path", "")} {e.get("to", "")}')
        if e["kind"] == "request" and (e["path"] == prefix or e["path"].startswith(prefix + "/")):
            if start < seq <= up_done:
                up_calls += 1
                last_up_call = parse_at(e["at"])
            elif up_done < seq <= down_done:
                down_calls += 1
        elif e["kind"] == "node" and e.get("poolId") == pool and e["to"] == "idle" and start < seq <= up_done:
            idle_at = max(idle_at or 0, parse_at(e["at"]))
    return {"up_calls": up_calls, "down_calls": down_calls, "reaction_s": last_up_call - idle_at,
            "timeline": timeline}


def reaction_runs(binary, python, sim, scale, cycles, work, port, n):
    results = {"handler": [], "python": []}
    errors = []
    lock = threading.Lock()

    def run_handler(pool):
        try:
            start = sim.last_seq()
            handler_cycle(port, pool, n)
            up_done = sim.last_seq()
            handler_down(port, pool)
            down_done = sim.last_seq()
            with lock:
                results["handler"].append((pool, start, up_done, down_done))
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(f"handler {pool}: {e!r}")

    def run_python(pool):
        try:
            out = subprocess.run(
                [python, os.path.join(HERE, "python_reference.py"), "cycle", sim.ready_line, pool, str(n), str(scale)],
                capture_output=True, text=True, check=True, timeout=600,
            )
            marks = json.loads(out.stdout.strip().splitlines()[-1])
            with lock:
                results["python"].append((pool, marks["start"], marks["up_done"], marks["down_done"], marks["memory"]))
        except Exception as e:  # noqa: BLE001
            errors.append(f"python {pool}: {e!r} {getattr(e, 'stderr', '')}")

    threads = [threading.Thread(target=run_handler, args=(f"rs-{i}",)) for i in range(cycles)]
    threads += [threading.Thread(target=run_python, args=(f"py-{i}",)) for i in range(cycles)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise RuntimeError("; ".join(errors))
    events = sim.events(0)["events"]
    out = {"handler": [], "python": [], "python_memory": []}
    for pool, start, up_done, down_done in results["handler"]:
        out["handler"].append(analyse(events, pool, start, up_done, down_done))
    for pool, start, up_done, down_done, memory in results["python"]:
        out["python"].append(analyse(events, pool, start, up_done, down_done))
        out["python_memory"].append(memory)
    return out


def package_sizes(binary, python):
    """The deployable zip of the handler, and of the Python function's dependencies."""
    with tempfile.TemporaryDirectory() as tmp:
        handler_zip = os.path.join(tmp, "handler.zip")
        with zipfile.ZipFile(handler_zip, "w", zipfile.ZIP_DEFLATED) as z:
            z.write(binary, "pool-resizer")
            z.write(os.path.join(ROOT, "host.json"), "host.json")
            for name in sorted(os.listdir(ROOT)):
                if name.startswith("function-"):
                    z.write(os.path.join(ROOT, name, "function.json"), f"{name}/function.json")
        site = subprocess.run(
            [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()
        python_zip = os.path.join(tmp, "python.zip")
        skip = ("pip", "setuptools", "_distutils_hack", "pkg_resources")
        with zipfile.ZipFile(python_zip, "w", zipfile.ZIP_DEFLATED) as z:
            z.write(os.path.join(HERE, "python_reference.py"), "function_app.py")
            for dirpath, dirnames, filenames in os.walk(site):
                rel = os.path.relpath(dirpath, site)
                top = rel.split(os.sep)[0]
                if top.startswith(skip) or "__pycache__" in rel:
                    continue
                for f in filenames:
                    z.write(os.path.join(dirpath, f), os.path.join(".python_packages/lib/site-packages", rel, f))
        return os.path.getsize(handler_zip), os.path.getsize(python_zip)


def load_test(loadgen, port, pool, rate, seconds, connections):
    path = f"/api/pool-status?poolId={pool}"
    fixed = subprocess.run([loadgen, "rate", f"127.0.0.1:{port}", path, str(rate), str(seconds)],
                           capture_output=True, text=True, check=True)
    most = subprocess.run([loadgen, "max", f"127.0.0.1:{port}", path, str(connections), str(seconds)],
                          capture_output=True, text=True, check=True)
    return json.loads(fixed.stdout), json.loads(most.stdout)


def machine():
    model = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem_kib = int(f.readline().split()[1])
    rustc = subprocess.run(["rustc", "--version"], capture_output=True, text=True).stdout.strip()
    return (f"{model}, {os.cpu_count()} vCPU, {mem_kib / 1024 / 1024:.1f} GiB RAM, "
            f"Linux {platform.release()}, {rustc}, Python {platform.python_version()} (driver)")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", required=True)
    parser.add_argument("--loadgen", required=True)
    parser.add_argument("--sim-bin", default=None,
                        help="simulator binary, batch-simulator or pool-resizer with its default features "
                             "(default --bin): keeps it fixed when comparing builds")
    parser.add_argument("--python", required=True, help="python of the venv with azure-batch")
    parser.add_argument("--quick", action="store_true", help="few runs: checks the script works")
    parser.add_argument("--out", default=None)
    parser.add_argument("--parts", default="cycles,cold,load",
                        help="comma-separated subset of cycles,cold,load (profile comparisons skip cycles)")
    args = parser.parse_args()
    quick = args.quick
    parts = set(args.parts.split(","))
    scale = 20.0
    cycles = 1 if quick else 8
    cold_runs = 3 if quick else 31
    py_cold_runs = 2 if quick else 11
    load_seconds = 2 if quick else 10
    results = {"machine": machine(), "timeScale": scale}

    work = tempfile.mkdtemp(prefix="pool-resizer-bench-")
    pools = ["cold", "load"] + [f"rs-{i}" for i in range(cycles)] + [f"py-{i}" for i in range(cycles)]
    sim = Simulator(args.sim_bin or args.bin, scale, pools, work)
    port = free_port()
    handler_log = open(os.path.join(work, "handler.log"), "w")
    handler = subprocess.Popen([args.bin, "serve"], env=handler_env(sim, port, scale),
                               stdout=handler_log, stderr=handler_log)
    try:
        for _ in range(200):
            try:
                if http_get(port, "/")[0] == 200:
                    break
            except OSError:
                time.sleep(0.01)
        # The load-test pool gets 2 nodes while the cycles run: pool-status then lists nodes.
        load_ready = threading.Thread(target=handler_cycle, args=(port, "load", 2))
        load_ready.start()
        if "cycles" in parts:
            print("reaction-time cycles (handler and Python side by side)...", file=sys.stderr)
            results["cycles"] = reaction_runs(args.bin, args.python, sim, scale, cycles, work, port, 1)
        load_ready.join()

        if "cold" in parts:
            print("cold starts...", file=sys.stderr)
            handler_cold_start(args.bin, sim, scale, work)  # warm the page cache
            python_cold_start(args.python, sim)
            hc = [handler_cold_start(args.bin, sim, scale, work) for _ in range(cold_runs)]
            pc = [python_cold_start(args.python, sim) for _ in range(py_cold_runs)]
            results["cold"] = {
                "handler_ready_ms": [r[0] * 1000 for r in hc],
                "handler_first_call_ms": [r[1] * 1000 for r in hc],
                "handler_idle_rss_kib": [r[2]["VmRSS"] for r in hc],
                "python_first_call_ms": [r[0] * 1000 for r in pc],
                "python_rss_kib": [r[1]["VmRSS"] for r in pc],
            }

        if "load" in parts:
            print("load test...", file=sys.stderr)
            fixed, most = load_test(args.loadgen, port, "load", 500, load_seconds, 16)
            probe = subprocess.run([args.loadgen, "rate", f"127.0.0.1:{port}", "/", "500", str(load_seconds)],
                                   capture_output=True, text=True, check=True)
            results["load"] = {"fixed500": fixed, "max16": most, "probe500": json.loads(probe.stdout)}
            time.sleep(0.5)
            results["handler_memory_after_load"] = proc_status(handler.pid)
    finally:
        handler.send_signal(signal.SIGTERM)
        handler.wait(timeout=10)
        sim.stop()

    handler_zip, python_zip = package_sizes(args.bin, args.python)
    results["sizes"] = {"binary": os.path.getsize(args.bin), "handler_zip": handler_zip, "python_zip": python_zip}
    if args.out:
        with open(args.out, "w") as f:
            json.dump(results, f, indent=1)
    print(table(results))


def table(r):
    med = statistics.median
    mib = 1024 * 1024
    rows = []
    if "cold" in r:
        c = r["cold"]
        h_ready, h_call = med(c["handler_ready_ms"]), med(c["handler_first_call_ms"])
        p_call = med(c["python_first_call_ms"])
        h_idle, p_idle = med(c["handler_idle_rss_kib"]) / 1024, med(c["python_rss_kib"]) / 1024
        rows += [
            (f"cold start: spawn -> first answer (`GET /`), median of {len(c['handler_ready_ms'])}",
             f"{h_ready:.1f} ms", "-", ""),
            (f"cold start: spawn -> first Batch answer (pool-status 200 / `get_pool`), median of "
             f"{len(c['handler_first_call_ms'])} / {len(c['python_first_call_ms'])}",
             f"{h_call:.1f} ms", f"{p_call:.0f} ms", f"{p_call / h_call:.0f}x faster"),
            ("resident memory, idle after the first call (VmRSS, median)",
             f"{h_idle:.1f} MiB", f"{p_idle:.1f} MiB", f"{p_idle / h_idle:.1f}x less"),
        ]
    if "load" in r:
        f, m, g = r["load"]["fixed500"], r["load"]["max16"], r["load"]["probe500"]
        hm = r["handler_memory_after_load"]
        p_peak = "-"
        if "cycles" in r:
            peak = max(x["VmHWM"] for x in r["cycles"]["python_memory"]) / 1024
            p_peak = f"{peak:.1f} MiB"
        rows += [
            ("peak resident memory (VmHWM: handler after all load, Python after a cycle)",
             f"{hm['VmHWM'] / 1024:.1f} MiB", p_peak,
             f"{float(p_peak.split()[0]) / (hm['VmHWM'] / 1024):.1f}x less" if p_peak != "-" else ""),
            ("resident memory after the load test (VmRSS)", f"{hm['VmRSS'] / 1024:.1f} MiB", "-", ""),
            ("pool-status at 500 req/s fixed rate: p50 / p99 / max (errors)",
             f"{f['p50_ms']:.2f} / {f['p99_ms']:.2f} / {f['max_ms']:.1f} ms ({f['errors']})", "-", ""),
            ("`GET /` (no Batch call) at 500 req/s: p50 / p99", f"{g['p50_ms']:.2f} / {g['p99_ms']:.2f} ms", "-", ""),
            ("pool-status max throughput, 16 connections (p99)", f"{m['rps']:.0f} req/s ({m['p99_ms']:.1f} ms)", "-", ""),
        ]
    s = r["sizes"]
    rows += [
        ("binary (release, stripped, LTO)", f"{s['binary'] / mib:.2f} MiB", "-", ""),
        ("deployable zip (handler: binary + host.json + functions; Python: code + site-packages)",
         f"{s['handler_zip'] / mib:.2f} MiB", f"{s['python_zip'] / mib:.2f} MiB", ""),
    ]
    if "cycles" in r:
        hc, pc = r["cycles"]["handler"], r["cycles"]["python"]

        def stat(rows, key, fn):
            return fn([row[key] for row in rows])

        h_react, p_react = stat(hc, "reaction_s", statistics.mean), stat(pc, "reaction_s", statistics.mean)
        h_react_max, p_react_max = stat(hc, "reaction_s", max), stat(pc, "reaction_s", max)
        h_up, p_up = stat(hc, "up_calls", statistics.mean), stat(pc, "up_calls", statistics.mean)
        h_down, p_down = stat(hc, "down_calls", statistics.mean), stat(pc, "down_calls", statistics.mean)
        rows += [
            (f"reaction: last node idle -> last Batch call before the answer, simulated s, mean / max of {len(hc)}",
             f"{h_react:.2f} / {h_react_max:.2f} s", f"{p_react:.2f} / {p_react_max:.2f} s",
             f"{p_react / max(h_react, 1e-9):.1f}x sooner"),
            ("Batch calls per scale-up 0->1 (mean)", f"{h_up:.1f}", f"{p_up:.1f}", f"{p_up / h_up:.2f}x fewer"),
            ("Batch calls per scale-down 1->0 (mean)", f"{h_down:.1f}", f"{p_down:.1f}", f"{p_down / h_down:.2f}x fewer"),
        ]
    lines = [f"Machine: {r['machine']}. Simulator time scale {r['timeScale']:g}.", "",
             "| measure | pool-resizer | Python `azure-batch` reference | ratio |", "|---|---|---|---|"]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
