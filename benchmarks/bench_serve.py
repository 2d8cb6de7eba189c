"""Concurrent Converse requests against `stillhouse serve` on loopback: errors, throughput, latency.

Starts a real server process (private STILLHOUSE_HOME, no job workers) unless ``--url`` is given,
warms the model with one call (its load time is reported apart), then fires ``--requests``
Converse calls at once from as many client threads through boto3's unchanged ``bedrock-runtime``
client, each with a distinct prompt. Prints one JSON object; nothing is asserted.

    python benchmarks/bench_serve.py --requests 200 --max-tokens 16
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

QUERIES = [
    "guitar solo",
    "sunset over mountains",
    "CEO talks about layoffs",
    "NASA uploads from 2019",
    "crowd cheering",
    "whispered confession",
    "rain in slow motion",
    "news anchor on elections",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(
    workers: int, threads: int | None, key: str, secret: str, home: Path
) -> tuple[subprocess.Popen[bytes], str]:
    """`stillhouse serve` as its own process; returns it and its URL once /health answers."""
    import httpx

    from stillhouse import paths

    port = _free_port()
    # Credentials travel in the environment: command lines are visible to every user in `ps`.
    env = {
        **os.environ,
        "STILLHOUSE_HOME": str(home),
        "STILLHOUSE_MODELS": str(paths.models_dir()),
        "STILLHOUSE_ACCESS_KEY_ID": key,
        "STILLHOUSE_SECRET_ACCESS_KEY": secret,
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "stillhouse",
            "serve",
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--job-workers",
            "0",
            *(["--model-threads", str(threads)] if threads else []),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("server did not start")


def client(url: str, key: str, secret: str, connections: int) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client(
        "bedrock-runtime",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        config=Config(
            max_pool_connections=connections,
            retries={"max_attempts": 1},
            read_timeout=900,
            connect_timeout=30,
        ),
    )


def one_call(rt: Any, model: str, i: int, max_tokens: int) -> tuple[float, str | None, int]:
    """(latency seconds, error code or None, output tokens) of one Converse call."""
    started = time.perf_counter()
    try:
        out = rt.converse(
            modelId=model,
            inferenceConfig={"maxTokens": max_tokens, "temperature": 0.0},
            messages=[{"role": "user", "content": [{"text": f"{QUERIES[i % len(QUERIES)]} (#{i})"}]}],
            requestMetadata={"use_case": "bench"},
        )
        return time.perf_counter() - started, None, int(out["usage"]["outputTokens"])
    except Exception as exc:  # a benchmark counts failures instead of stopping at the first
        code = getattr(exc, "response", {}).get("Error", {}).get("Code") or type(exc).__name__
        return time.perf_counter() - started, code, 0


def run(args: argparse.Namespace) -> dict[str, Any]:
    key, secret = "BENCH" + secrets.token_hex(4).upper(), secrets.token_urlsafe(24)
    if args.url:
        key, secret = args.access_key_id, args.secret_access_key
    with tempfile.TemporaryDirectory() as home:
        proc, url = (
            (None, args.url)
            if args.url
            else start_server(args.workers, args.model_threads, key, secret, Path(home))
        )
        pool = ThreadPoolExecutor(max_workers=args.requests)
        try:
            rt = client(url, key, secret, args.requests)
            warm = time.perf_counter()
            _, err, _ = one_call(rt, args.model, -1, args.max_tokens)
            load_s = time.perf_counter() - warm
            if err:
                raise RuntimeError(f"warm-up call failed: {err}")
            started = time.perf_counter()
            results = list(
                pool.map(lambda i: one_call(rt, args.model, i, args.max_tokens), range(args.requests))
            )
            wall = time.perf_counter() - started
        finally:
            # Stop the server first: interrupted client threads then fail fast instead of waiting.
            if proc is not None:
                proc.terminate()
                proc.wait(60)
            pool.shutdown(wait=False, cancel_futures=True)
    return summarise(results, wall, load_s, args)


def summarise(
    results: list[tuple[float, str | None, int]], wall: float, load_s: float, args: argparse.Namespace
) -> dict[str, Any]:
    latencies = sorted(r[0] * 1000 for r in results if r[1] is None)
    errors = [r[1] for r in results if r[1] is not None]
    tokens = sum(r[2] for r in results)
    q = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else latencies * 99
    return {
        "model": args.model,
        "requests": args.requests,
        "server_workers": args.workers,
        "model_threads": args.model_threads or "default",
        "max_tokens": args.max_tokens,
        "cpu_count": os.cpu_count(),
        "errors": len(errors),
        "error_codes": sorted(set(errors)),
        "warmup_call_incl_load_s": round(load_s, 2),
        "wall_s": round(wall, 2),
        "throughput_rps": round(len(latencies) / wall, 2),
        "output_tokens_per_s": round(tokens / wall, 1),
        "latency_ms": {
            "p50": round(q[49]),
            "p95": round(q[94]),
            "max": round(latencies[-1]) if latencies else None,
        },
    }


def main() -> None:
    # SIGTERM (e.g. from `timeout`) must still run the `finally` that stops the server process.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--max-tokens", type=int, default=16)
    parser.add_argument("--workers", type=int, default=1, help="server inference workers (model replicas)")
    parser.add_argument("--model-threads", type=int, help="server compute threads per replica")
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--url", help="use a running server instead of starting one")
    parser.add_argument("--access-key-id", default=os.environ.get("STILLHOUSE_ACCESS_KEY_ID"))
    parser.add_argument("--secret-access-key", default=os.environ.get("STILLHOUSE_SECRET_ACCESS_KEY"))
    print(json.dumps(run(parser.parse_args()), indent=2))


if __name__ == "__main__":
    main()
