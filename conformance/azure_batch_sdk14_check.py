"""Conformance check with an older official Python SDK: azure-batch 14.2.0 (msrest), which
sends api-version 2024-02-01.19.0 (the SDK the Azure CLI ships).

Usage: python azure_batch_sdk14_check.py '<ready JSON line>'

Every body must deserialize in this SDK's models, errors must map to its exceptions,
and the ETag semantics must be the service's (stopresize keeps the resize's ETag).
"""
import json
import sys
import time

import azure.batch.models as m
from azure.batch import BatchServiceClient
from azure.batch.batch_auth import SharedKeyCredentials

info = json.loads(sys.argv[1])
failures = []


def check(name, cond, detail=""):
    print(("PASS " if cond else "FAIL ") + "sdk14: " + name + (f" ({detail})" if detail and not cond else ""))
    if not cond:
        failures.append(name)


def client_for(key):
    c = BatchServiceClient(SharedKeyCredentials(info["account"], key), batch_url=info["endpoint"])
    c.config.connection.verify = info["caFile"]
    return c


def wait(pred, what, timeout=30):
    end = time.time() + timeout
    while time.time() < end:
        v = pred()
        if v:
            return v
        time.sleep(0.1)
    check(what, False, "timed out")
    return None


client = client_for(info["key"])
check("api-version", client.api_version == "2024-02-01.19.0", client.api_version)

pid = "conf-sdk14"
client.pool.add(m.PoolAddParameter(
    id=pid, vm_size="Standard_A1_v2",
    virtual_machine_configuration=m.VirtualMachineConfiguration(
        image_reference=m.ImageReference(publisher="canonical", offer="0001-com-ubuntu-server-jammy", sku="22_04-lts", version="latest"),
        node_agent_sku_id="batch.node.ubuntu 22.04"),
    start_task=m.StartTask(command_line='/bin/bash -c "sleep 30"', wait_for_success=True),
    target_dedicated_nodes=0))
pool = client.pool.get(pid)
check("get pool", pool.id == pid and pool.vm_size == "standard_a1_v2" and pool.task_slots_per_node == 1, str(pool.vm_size))
check("2024-02 shape: certificateReferences", pool.certificate_references == [], str(pool.certificate_references))
wait(lambda: client.pool.get(pid).allocation_state == m.AllocationState.steady, "initial steady")

client.pool.resize(pid, m.PoolResizeParameter(target_dedicated_nodes=2))
steady = wait(lambda: (lambda p: p if p.allocation_state == m.AllocationState.steady else None)(client.pool.get(pid)), "resize steady")
check("resize result", steady is not None and steady.current_dedicated_nodes == 2, str(steady and steady.current_dedicated_nodes))
nodes = wait(lambda: (lambda ns: ns if len(ns) == 2 and all(n.state == m.ComputeNodeState.idle for n in ns) else None)(list(client.compute_node.list(pid))), "nodes idle")
if nodes:
    check("node start task", nodes[0].start_task_info.exit_code == 0 and nodes[0].start_task_info.result == m.TaskExecutionResult.success)
    check("get node", client.compute_node.get(pid, nodes[0].id).id == nodes[0].id)
idle = list(client.compute_node.list(pid, compute_node_list_options=m.ComputeNodeListOptions(filter="state eq 'idle'", max_results=1)))
check("list nodes filter + paging", len(idle) == 2, str(len(idle)))

# ETag / If-Match.
pool = client.pool.get(pid)
client.pool.patch(pid, m.PoolPatchParameter(metadata=[m.MetadataItem(name="lease", value="x")]),
                  pool_patch_options=m.PoolPatchOptions(if_match=pool.e_tag))
after = client.pool.get(pid)
check("patch metadata moves the ETag", after.metadata[0].value == "x" and after.e_tag != pool.e_tag)
try:
    client.pool.patch(pid, m.PoolPatchParameter(metadata=[]), pool_patch_options=m.PoolPatchOptions(if_match=pool.e_tag))
    check("stale etag 412", False, "no error")
except m.BatchErrorException as e:
    check("stale etag 412", e.response.status_code == 412 and e.error.code == "ConditionNotMet", str(e.response.status_code))

# Resize while resizing; stop-resize keeps the resize's ETag.
client.pool.resize(pid, m.PoolResizeParameter(target_dedicated_nodes=4))
resized = client.pool.get(pid).e_tag
try:
    client.pool.resize(pid, m.PoolResizeParameter(target_dedicated_nodes=1))
    check("resize while resizing 409", False, "no error")
except m.BatchErrorException as e:
    check("resize while resizing 409", e.response.status_code == 409 and e.error.code == "PoolBeingResized", str(e.response.status_code))
client.pool.stop_resize(pid, pool_stop_resize_options=m.PoolStopResizeOptions(if_match=resized))
stopped = wait(lambda: (lambda p: p if p.allocation_state == m.AllocationState.steady else None)(client.pool.get(pid)), "stop resize steady")
if stopped:
    check("stop resize: ResizeStopped", stopped.resize_errors and stopped.resize_errors[0].code == "ResizeStopped", str(stopped.resize_errors))
    check("stop resize keeps the ETag", stopped.e_tag == resized, f"{stopped.e_tag} != {resized}")

# Unknown pool.
try:
    client.pool.get("does-not-exist")
    check("unknown pool", False, "no error")
except m.BatchErrorException as e:
    check("unknown pool", e.error.code == "PoolNotFound", str(e.error.code))

# Jobs and tasks.
jid = "job-sdk14"
client.job.add(m.JobAddParameter(id=jid, pool_info=m.PoolInformation(pool_id=pid)))
check("get job", client.job.get(jid).pool_info.pool_id == pid)
client.task.add(jid, m.TaskAddParameter(id="t1", command_line="/bin/bash -c 'sleep 60'"))
t = wait(lambda: (lambda t: t if t.state == m.TaskState.completed else None)(client.task.get(jid, "t1")), "task completes")
if t:
    check("task exit code", t.execution_info.exit_code == 0)
counts = client.job.get_task_counts(jid)
check("task counts", counts.task_counts.succeeded == 1, str(counts.task_counts))
nc = [c for c in client.account.list_pool_node_counts() if c.pool_id == pid]
check("node counts", len(nc) == 1 and nc[0].dedicated.total >= 1, str(nc))

# Delete: the pool exists (deleting) for a while, then not.
client.pool.delete(pid)
check("deleting", client.pool.get(pid).state == m.PoolState.deleting)
check("pool deleted", wait(lambda: not client.pool.exists(pid), "pool gone") is not None)

# Wrong key.
try:
    client_for("d3Jvbmcga2V5").pool.get("x")
    check("wrong key rejected", False, "no error")
except m.BatchErrorException as e:
    check("wrong key rejected", e.response.status_code == 403 and e.error.code == "AuthenticationFailed", str(e.response.status_code))

print(f"sdk14: {len(failures)} failure(s)")
sys.exit(1 if failures else 0)
