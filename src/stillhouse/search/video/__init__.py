"""Ingest of real video files: decode once, cut at scenes, transcribe, tag sounds, read on-screen
text, attach metadata, and hand the segments to the index's one writer (``search.ingest``)."""
