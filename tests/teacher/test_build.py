"""build_teacher: one teacher for labelling and evaluation, its defaults, and the cache keys it keeps.

The pinned (message digest, request-cache key) pairs were recorded from the code before
``build_teacher`` existed (the demo's ``label_records(..., steer=True, anchored=4)`` and its
``FewShotTeacher`` for evaluation, and ``stillhouse label``'s unanchored path), with the hashing
embedder in place of MiniLM. A changed key would make a warm teacher cache label everything again.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from tests.teacher.helpers import MixTask, prompt_record, router_responder

from stillhouse.chat import Message
from stillhouse.evaluate import default_params
from stillhouse.models.embeddings import HashingEmbedder
from stillhouse.models.fake import FakeModel
from stillhouse.tasks import get_task
from stillhouse.tasks.video_router.golden import load_golden
from stillhouse.teacher.build import TeacherConfig, build_teacher
from stillhouse.teacher.cache import cache_key
from stillhouse.teacher.label import LabelConfig, label_records

QUERIES = [
    "guitar solo in a rainy street",
    "sunset timelapse over the city skyline",
    "interview where the mayor talks about taxes",
    "crowd cheering at a football goal",
    "slow piano music with rain sounds",
    "someone says 'happy birthday' and blows out candles",
]

DEMO_LABEL = [
    (
        "bfc8713d4c6a1f0d684169bc755e776d2d9cd0f2e2ff7dbcac1df5cf9559515c",
        "b5c95a23cdd11a7dbefb39ec228f686efab838307fddb77a5d3d66d5f90e804a",
    ),
    (
        "4b537cb667fb92fcc44351cc4661e9002d4b23fea4df2ec0d4b6accd0ca729f0",
        "b738751cf10beef37b11aac3d649ac59c7b9ec90a8d3c047907c330e39822469",
    ),
    (
        "5b8e3b3c4bc267b6f60c48241baed611f58a75627aa4f9495f72b8cb8473908c",
        "c653a385e1607fe76b9cc196e4c01bc31dd6d310232be62040f87a331943b2ad",
    ),
    (
        "d1ad28449ba9485a947fb2cbe1b4f0231a8d6fb977f441a43849d6622285742b",
        "f5965c9ed713e35ba4b57fa308552303813b196c7a0ba0b7961a6299f8b87aa7",
    ),
    (
        "1455cdba43db17ffe53de42c4e2e1ed72090106b0b272070d969f9eb441d2005",
        "5a4628a7a1b61c0b9bde7aaab1d2b18337400b645e8862842b0baf5d7a8fcdbf",
    ),
    (
        "7290292e7d3c39baa61aa634aeeaaa41182dab6aeb031321131b95990f2fef22",
        "c5557c2361422053344268a8d6f88dcdd84eaf143cac9d83809530e58f8bc232",
    ),
]

DEMO_EVAL = [
    (
        "34630b2a7c4043a89b2bf7207a5dac8b667e2ffa36b92f759f9bb89507e245b0",
        "9d84e25dab04d09a53cca26b7d6ff1c97abd8e04ecd7719d14297d3afb885e28",
    ),
    (
        "e37131302fd75e6b0a7a70566d287100e8e306cc0b098aecd08352bec97c2d88",
        "2e36d939bdc3948e23170a4f39061c04ec7a5a2809f6d2d98e681978ee4e6a6b",
    ),
    (
        "f25198331d768fca4a68f79442a72a05366a66be43140f3c7f1147d5f884bb2c",
        "c65766b0bcb78317ddedfbf7f80c9455c7a3dc394d67d8816fa4cd00813ffea3",
    ),
    (
        "9e218c166b4eff15662d726e0ff68caf5f693b83107db375ec9f051784ad6e0f",
        "5d142ab347f01ad6dcd7a9c2cf20317d2d537b5205b0c90ee6cb0dfa57a2c3ca",
    ),
    (
        "d2952c220bffda5d8c87080d51d204cd4adec81bb29a174eacd13659ce3bd353",
        "494bdfaefdc03aff316c1d60e8166dd7a5dd379a19032647fe2451c59cfd34ec",
    ),
    (
        "0907f5ff75c6fce12128fe53fc95fd91e477fa1d8509945c145e4243246b449b",
        "b7a6f9eeba0810248a9186ea8917a50aa94003aaa8bf69a638a73f2dda8905b6",
    ),
]

CLI_UNANCHORED = [
    (
        "dd64a3852d913454e6dec397c1e44d74935621fdf984a48c5abb47ddbe22e93c",
        "7b6ebc8f9ff5939d70928968fd0c2443cb3fa38b7abdeeb52c5d28acfe983688",
    ),
    (
        "5eec7096eb0d817f6d26584260d712ac21939214025aa6a91776bfe886d9a14a",
        "e1b070eef59aaf915afd306a3c7d75e4a016883b892cf670afbbc66b4bec9955",
    ),
    (
        "9fb072b44f48170023c88edcbbba01ee23920ad9aec23e26665d7f8ca207df4e",
        "87e6bfadf5d3c72835feb6988b0c6e4c29dc59222592784f170e6ed6180bfedb",
    ),
    (
        "7479cec1fe5a7d73b3b13294e7b17cf98421447be82a5b15180063e6b22d80a3",
        "51e46a2a5ad70e298e04fabf2101fd8154d5b773afbf330cb7678bd1d6f43244",
    ),
    (
        "9563c08b4fb3a70fab3d2c800a063752fc4ecfcd9ef7fc4ff2116f13a55463c9",
        "f0bc7f6c296f2c266dda544cd190e7a3f4b389e44414450b4a453c34a57b7dfb",
    ),
    (
        "4482c44562b378dc5c6117c69aeaea30428548d3ec6d6e89bfa2175a0babcb77",
        "86c697201aef3e5c9a03120881a152e22c9b7b02e485ebfb35bfab5b6d7d9f29",
    ),
]


def _digest(messages: list[Message]) -> str:
    return hashlib.sha256(json.dumps([[m.role, m.content] for m in messages]).encode()).hexdigest()


def _sent(model: FakeModel) -> list[tuple[str, str]]:
    return [(_digest(m), cache_key(model.name, m, p)) for m, p in model.calls]


@pytest.fixture
def router():
    return get_task("video-router")


def _teacher(tmp_path, router, **config):
    model = FakeModel(lambda m, p: load_golden()[0].answer or "", name="qwen-teacher")
    teacher_config = TeacherConfig(embedder=None, cache=tmp_path / "cache.sqlite", **config)
    return model, build_teacher(
        teacher_config, load_golden(), router, model=model, embedder=HashingEmbedder()
    )


def test_the_demo_labels_with_the_same_messages_and_cache_keys_as_before(tmp_path, router) -> None:
    model, teacher = _teacher(tmp_path, router)
    with teacher:
        records = [*load_golden(), *[prompt_record(q) for q in QUERIES]]
        label_records(records, teacher, LabelConfig(max_tokens=128, progress=False), out_path=tmp_path / "o")
    assert _sent(model) == DEMO_LABEL


def test_the_teacher_evaluates_with_the_same_messages_and_cache_keys_as_before(tmp_path, router) -> None:
    model, teacher = _teacher(tmp_path, router)
    params = default_params(router, max_tokens=128)
    with teacher:
        for query in QUERIES:
            system = Message(role="system", content=router.system_prompt)
            teacher.generate([system, Message(role="user", content=query)], params)
    assert _sent(model) == DEMO_EVAL


def test_unanchored_labelling_keeps_its_cache_keys(tmp_path, router) -> None:
    model, teacher = _teacher(tmp_path, router, anchored=0)
    with teacher:
        label_records(
            [prompt_record(q) for q in QUERIES], teacher, LabelConfig(progress=False), out_path=tmp_path / "o"
        )
    assert _sent(model) == CLI_UNANCHORED


def test_the_defaults_are_four_anchored_steered_shots() -> None:
    config = TeacherConfig()
    assert (config.shots, config.anchored, config.steer, config.embedder) == (4, 4, True, "minilm")
    assert LabelConfig().samples == 1


def test_anchors_are_off_without_a_steering_pool_or_an_embedder(tmp_path, router) -> None:
    golden = load_golden()
    config = TeacherConfig(embedder=None, cache=tmp_path / "c.sqlite")
    for task, embedder in ((MixTask(), HashingEmbedder()), (router, None), (None, HashingEmbedder())):
        with build_teacher(config, golden, task, model=FakeModel(["x"]), embedder=embedder) as teacher:
            assert teacher._index.anchored == 0 and teacher._index.steering is None
    with build_teacher(config, golden, router, model=FakeModel(["x"]), embedder=HashingEmbedder()) as teacher:
        assert teacher._index.anchored == 4 and teacher._index.steering is not None


def test_no_embedder_is_loaded_when_nothing_is_retrieved(tmp_path, monkeypatch) -> None:
    import stillhouse.models.embeddings as embeddings

    def refuse(spec: str):
        raise AssertionError(f"loaded {spec}")

    monkeypatch.setattr(embeddings, "load_embedder", refuse)
    config = TeacherConfig(cache=tmp_path / "c.sqlite")
    with build_teacher(config, [], MixTask(), model=FakeModel(router_responder)) as teacher:
        summary = label_records(
            [prompt_record("q")], teacher, LabelConfig(progress=False), out_path=tmp_path / "o"
        )
    assert summary.teacher_calls == 1


def test_threads_retrieving_together_load_the_embedder_once(tmp_path, monkeypatch, router) -> None:
    import stillhouse.models.embeddings as embeddings

    loads: list[str] = []

    def slow_load(spec: str) -> HashingEmbedder:
        loads.append(spec)
        time.sleep(0.05)  # long enough for every thread to arrive while it runs
        return HashingEmbedder()

    monkeypatch.setattr(embeddings, "load_embedder", slow_load)
    config = TeacherConfig(embedder="hashing", cache=tmp_path / "c.sqlite")
    barrier = threading.Barrier(8)
    with build_teacher(config, load_golden(), router, model=FakeModel(["x"])) as teacher:

        def shots(query: str) -> int:  # an executor's threads on their first record
            barrier.wait()
            return len(teacher.shots_for([query])[0])

        with ThreadPoolExecutor(8) as pool:
            counts = list(pool.map(shots, QUERIES[:4] * 2))
    assert loads == ["hashing"] and all(counts)
