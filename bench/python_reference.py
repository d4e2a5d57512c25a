"""The Python reference for the benchmark: what users otherwise write.

An Azure Function in Python that resizes a Batch pool with the official SDK
(`azure-batch==15.1.0`), written the idiomatic way:

* scale-up(pool, n): `get_pool`; if the target is below n,
  `begin_resize_pool(target_dedicated_nodes=n).result()` (the SDK's LRO poller
  GETs the pool every `polling_interval`, default 5 s, until `steady`); then
  `list_nodes` every 5 s until n nodes are `idle`/`running` with the start
  task succeeded (a `starttaskfailed`/`unusable` node raises at once).
* scale-down(pool): `begin_resize_pool(target_dedicated_nodes=0,
  node_deallocation_option=taskcompletion).result()`.

At time scale 1 that is exactly the user's code. The benchmark runs the
simulator faster than the wall clock (`--time-scale S`), so every sleep and
the poller's interval are divided by S: the polling stays 5 s of *simulated*
time, which is what reaction time and call counts are measured in.

Modes (the ready line of `pool-resizer simulator` is the first argument):

  cold   READY POOL            first `get_pool`, print "ok" and /proc memory (cold start)
  cycle  READY POOL N SCALE    scale-up to N, then scale-down to 0; print JSON
                               with the simulator's event sequence numbers
                               around each phase (the bench counts calls and
                               reaction time from the event log)
"""
import json
import sys
import time


def memory():
    """VmRSS / VmHWM of this process in KiB."""
    out = {}
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(("VmRSS:", "VmHWM:")):
                name, value = line.split(":")
                out[name] = int(value.split()[0])
    return out


def client_for(info):
    from azure.batch import BatchClient
    from azure.core.credentials import AzureNamedKeyCredential

    return BatchClient(
        info["endpoint"],
        AzureNamedKeyCredential(info["account"], info["key"]),
        connection_verify=info["caFile"],
    )


def scale_up(client, pool_id, n, interval):
    from azure.batch import models

    pool = client.get_pool(pool_id)
    if pool.target_dedicated_nodes < n:
        client.begin_resize_pool(
            pool_id,
            models.BatchPoolResizeOptions(target_dedicated_nodes=n),
            polling_interval=interval,
        ).result()
    while True:
        nodes = list(client.list_nodes(pool_id))
        bad = [x for x in nodes if x.state in (models.BatchNodeState.START_TASK_FAILED, models.BatchNodeState.UNUSABLE)]
        if bad:
            raise RuntimeError(f"node {bad[0].id} is {bad[0].state}")
        ready = [
            x
            for x in nodes
            if x.state in (models.BatchNodeState.IDLE, models.BatchNodeState.RUNNING)
            and (x.start_task_info is None or x.start_task_info.result == models.BatchTaskExecutionResult.SUCCESS)
        ]
        if len(ready) >= n:
            return
        time.sleep(interval)


def scale_down(client, pool_id, interval):
    from azure.batch import models

    client.begin_resize_pool(
        pool_id,
        models.BatchPoolResizeOptions(
            target_dedicated_nodes=0,
            node_deallocation_option=models.BatchNodeDeallocationOption.TASK_COMPLETION,
        ),
        polling_interval=interval,
    ).result()


def last_seq(info):
    """The simulator's latest event sequence number (control surface, no auth)."""
    import ssl
    import urllib.request

    ctx = ssl.create_default_context(cafile=info["caFile"])
    with urllib.request.urlopen(info["controlEndpoint"] + "/events?since=999999999", context=ctx) as r:
        return json.load(r)["lastSeq"]


def main():
    mode, info = sys.argv[1], json.loads(sys.argv[2])
    pool_id = sys.argv[3]
    if mode == "cold":
        client = client_for(info)
        client.get_pool(pool_id)
        print("ok " + json.dumps(memory()), flush=True)
        sys.stdin.read()  # stay alive until the bench has read /proc
        return
    n, scale = int(sys.argv[4]), float(sys.argv[5])
    interval = 5.0 / scale
    client = client_for(info)
    marks = {"start": last_seq(info)}
    scale_up(client, pool_id, n, interval)
    marks["up_done"] = last_seq(info)
    scale_down(client, pool_id, interval)
    marks["down_done"] = last_seq(info)
    marks["memory"] = memory()
    print(json.dumps(marks), flush=True)


if __name__ == "__main__":
    main()
