"""Teacher labelling and data synthesis (SPEC §1.4).

- :mod:`.build`       ``TeacherConfig`` + ``build_teacher``: the one place the teacher is assembled
- :mod:`.fewshot`     ``FewShotTeacher``: the model with its golden shots and cache, as a ChatModel
- :mod:`.label`       ``label_records``: prompts in, labelled pairs out; crash-safe, resumable
- :mod:`.consensus`   one record: samples, validation against the task, retries, self-consistency
- :mod:`.golden`      golden examples retrieved by similarity as few-shot turns
- :mod:`.cache`       the persistent SQLite request cache (no answer is paid twice)
- :mod:`.retry`       exponential backoff with jitter on transient errors
- :mod:`.records_io`  stable record ids, fsync'd JSONL appends, failure entries, prompt files
- :mod:`.synthesize`  new prompts from the given ones, deduplicated
"""
