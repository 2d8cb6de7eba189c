"""Batch inference: the Bedrock runtime's bodies run over a JSONL file of ``{"recordId", "modelInput"}``.

``records`` reads the lines and writes Bedrock's output lines (pure); ``run`` is the loop through the
request cache (also ``stillhouse batch``); ``runner`` is a batch job's work on a job worker. The
control plane (``CreateModelInvocationJob`` ...) is :mod:`stillhouse.jobs.batch`.
"""
