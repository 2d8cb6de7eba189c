"""The video router's machinery: the fast router (a frozen encoder and a softmax head) and its trainer,
the synthesizer's design intents as a label check and weak labels, and the figures.

The task's pure contract (prompt, schema, parser, rubric, weights, the golden set and the query
synthesizer) lives in :mod:`stillhouse.tasks.video_router`; this package builds on it, never the
other way round.
"""
