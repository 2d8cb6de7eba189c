"""The multimodal video search engine (SPEC §4) will live here, with a later issue: segments indexed
per modality, each query routed by the distilled router and the per-modality scores fused with its
weights. Nothing is built yet; this package holds no code until then."""
