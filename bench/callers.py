"""Batch load as callers grow: what issue 16 asked to see in a benchmark.

Batch throttles per account, so what matters under load is not the handler's
own speed but how many calls it makes of Batch as callers multiply. Two
measures, against the simulator (its event log counts every request):

- N concurrent scale-up waits for 1 node on one fresh pool (N = 1, 10, 100,
  1000), each posted again at once on a 202 as a script would: Batch calls
  on that pool until every caller has its 200, per simulated minute, and the
  handler's peak RSS while they wait; at loopback speed and with 30 ms added.
- pool-status on one pool at a fixed rate (10, 100, 1000 req/s for 10 s,
  `bench/loadgen.rs`): Batch calls per second, once with the simulator
  answering at loopback speed (the worst case: no two reads overlap, so
  none can share a look) and once with 30 ms added to each Batch answer,
  about what Batch takes, so reads that overlap share one look.

Usage: bash bench/callers.sh [--quick]   (builds, then runs this)
Standard library only; shares its helpers with measure.py.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import measure as m  # noqa: E402


def calls_on(events, pool):
    prefix = f"/pools/{pool}"
    return sum(
        1
        for e in events
        if e["kind"] == "request" and (e["path"] == prefix or e["path"].startswith(prefix + "/"))
    )


def concurrent_waits(port, sim, handler_pid, scale, pool, callers, latency_ms):
    """`callers` scale-ups for 1 node on `pool`, all at once, each to its 200."""
    faults(sim, "DELETE")
    if latency_ms:
        faults(sim, "POST", {"kind": "latency", "ms": latency_ms, "count": 10**9, "pathContains": f"/pools/{pool}"})
    since = sim.last_seq()
    statuses, errors = [], []
    lock = threading.Lock()
    done = threading.Event()
    peak = [0]

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], m.proc_status(handler_pid).get("VmRSS", 0))
            time.sleep(0.05)

    def one():
        try:
            while True:
                status, _ = m.http_post(
                    port, "/api/scale-up", {"poolId": pool, "dedicatedNodes": 1, "waitSeconds": 200}
                )
                if status != 202:
                    break
            with lock:
                statuses.append(status)
        except Exception as e:  # noqa: BLE001 - counted below
            with lock:
                errors.append(repr(e))

    sampler = threading.Thread(target=sample)
    sampler.start()
    started = time.perf_counter()
    threads = [threading.Thread(target=one) for _ in range(callers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    done.set()
    sampler.join()
    faults(sim, "DELETE")
    calls = calls_on(sim.events(since)["events"], pool)
    simulated = elapsed * scale
    return {
        "callers": callers,
        "latency_ms": latency_ms,
        "ok": statuses.count(200),
        "not_ok": len(statuses) - statuses.count(200) + len(errors),
        "seconds": elapsed,
        "simulated_seconds": simulated,
        "batch_calls": calls,
        "calls_per_simulated_minute": calls / (simulated / 60),
        "peak_rss_kib": peak[0],
    }


def faults(sim, method, spec=None):
    """POST (inject) or DELETE (clear) the simulator's faults."""
    data = json.dumps(spec).encode() if spec is not None else None
    request = urllib.request.Request(f"{sim.info['controlEndpoint']}/faults", data=data, method=method)
    with urllib.request.urlopen(request, context=sim.ctx) as r:
        r.read()


def status_rate(loadgen, port, sim, pool, rate, seconds, latency_ms):
    """pool-status at `rate` req/s for `seconds`: Batch calls per second."""
    faults(sim, "DELETE")
    if latency_ms:
        faults(sim, "POST", {"kind": "latency", "ms": latency_ms, "count": 10**9, "pathContains": f"/pools/{pool}"})
    since = sim.last_seq()
    path = f"/api/pool-status?poolId={pool}"
    out = subprocess.run(
        [loadgen, "rate", f"127.0.0.1:{port}", path, str(rate), str(seconds)],
        capture_output=True, text=True, check=True,
    )
    load = json.loads(out.stdout)
    faults(sim, "DELETE")
    calls = calls_on(sim.events(since)["events"], pool)
    return {"rate": rate, "seconds": seconds, "latency_ms": latency_ms, "load": load,
            "batch_calls": calls, "batch_calls_per_second": calls / seconds}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", required=True, help="the handler as deployed (no simulator inside)")
    parser.add_argument("--sim-bin", required=True, help="batch-simulator")
    parser.add_argument("--loadgen", required=True)
    parser.add_argument("--quick", action="store_true", help="small numbers: checks the script works")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    scale = 20.0
    callers = [1, 10] if args.quick else [1, 10, 100, 1000]
    rates = [10, 100] if args.quick else [10, 100, 1000]
    seconds = 2 if args.quick else 10

    work = tempfile.mkdtemp(prefix="pool-resizer-callers-")
    pools = [f"waits-{n}-{ms}" for ms in (0, 30) for n in callers] + ["status"]
    sim = m.Simulator(args.sim_bin, scale, pools, work)
    port = m.free_port()
    log = open(os.path.join(work, "handler.log"), "w")
    handler = subprocess.Popen([args.bin, "serve"], env=m.handler_env(sim, port, scale), stdout=log, stderr=log)
    results = {"machine": m.machine(), "timeScale": scale, "waits": [], "status": []}
    try:
        for _ in range(500):
            try:
                if m.http_get(port, "/")[0] == 200:
                    break
            except OSError:
                time.sleep(0.01)
        for latency_ms in (0, 30):
            for n in callers:
                print(f"{n} concurrent scale-up waits, Batch +{latency_ms} ms...", file=sys.stderr)
                results["waits"].append(
                    concurrent_waits(port, sim, handler.pid, scale, f"waits-{n}-{latency_ms}", n, latency_ms)
                )
        for latency_ms in (0, 30):
            for rate in rates:
                print(f"pool-status at {rate} req/s, Batch +{latency_ms} ms...", file=sys.stderr)
                results["status"].append(
                    status_rate(args.loadgen, port, sim, "status", rate, seconds, latency_ms)
                )
    finally:
        handler.terminate()
        handler.wait(timeout=20)
        sim.stop()
    if args.out:
        with open(args.out, "w") as f:
            json.dump(results, f, indent=1)
    print(table(results))


def latency(row):
    return f"+{row['latency_ms']} ms" if row["latency_ms"] else "loopback"


def table(r):
    lines = [
        f"Machine: {r['machine']}. Simulator time scale {r['timeScale']:g}.",
        "",
        "| concurrent scale-up waits (1 node, one pool) | Batch answers in | answered 200 | Batch calls in all | per simulated minute | handler peak RSS |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for w in r["waits"]:
        lines.append(
            f"| {w['callers']} | {latency(w)} | {w['ok']} of {w['callers']} | {w['batch_calls']} | "
            f"{w['calls_per_simulated_minute']:.1f} | {w['peak_rss_kib'] / 1024:.1f} MiB |"
        )
    lines += [
        "",
        "| pool-status, fixed rate | Batch answers in | answered (errors) | p99 | Batch calls per second |",
        "|---:|---:|---:|---:|---:|",
    ]
    for s in r["status"]:
        load = s["load"]
        lines.append(
            f"| {s['rate']} req/s for {s['seconds']} s | "
            f"{latency(s)} | "
            f"{load['requests']} ({load['errors']}) | "
            f"{load['p99_ms']:.2f} ms | {s['batch_calls_per_second']:.1f} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
