"""The distillation losses on small distributions worked out by hand (pure torch, no model)."""

from __future__ import annotations

import math

import pytest

from stillhouse.train.hparams import parse_hyperparameters
from stillhouse.train.kd import KDLoss, generalised_jsd, loss_for, renormalise_topk, uld_distance
from stillhouse.train.losses import token_cross_entropy

torch = pytest.importorskip("torch")

LOG = math.log
P, Q = [0.5, 0.5], [0.75, 0.25]  # teacher, student


def _t(values: list[float]) -> torch.Tensor:
    return torch.tensor([values]).log()


def test_renormalise_topk_keeps_padding_out() -> None:
    row = torch.tensor([[LOG(0.4), LOG(0.2), -math.inf]])
    out = renormalise_topk(row).exp()[0].tolist()
    assert out == pytest.approx([2 / 3, 1 / 3, 0.0])


@pytest.mark.parametrize(
    ("beta", "expected"),
    [
        (0.0, 0.5 * LOG(0.5 / 0.75) + 0.5 * LOG(0.5 / 0.25)),  # KL(teacher || student) = 0.143841
        (1.0, 0.75 * LOG(0.75 / 0.5) + 0.25 * LOG(0.25 / 0.5)),  # KL(student || teacher) = 0.130812
        # mixture m = [0.625, 0.375]: 0.5 KL(p || m) + 0.5 KL(q || m) = 0.033822
        (
            0.5,
            0.5 * (0.5 * LOG(0.5 / 0.625) + 0.5 * LOG(0.5 / 0.375))
            + 0.5 * (0.75 * LOG(0.75 / 0.625) + 0.25 * LOG(0.25 / 0.375)),
        ),
    ],
)
def test_generalised_jsd_values(beta: float, expected: float) -> None:
    assert float(generalised_jsd(_t(Q), _t(P), beta)[0]) == pytest.approx(expected, abs=1e-6)
    assert expected == pytest.approx({0.0: 0.143841, 1.0: 0.130812, 0.5: 0.033822}[beta], abs=1e-6)


def test_jsd_of_equal_distributions_is_zero_and_padding_gives_no_nan() -> None:
    padded = torch.tensor([[0.0, -math.inf]])  # all mass on the first entry
    for beta in (0.0, 0.3, 1.0):
        value = generalised_jsd(padded, padded, beta)
        assert float(value[0]) == pytest.approx(0.0, abs=1e-6) and not torch.isnan(value).any()


def test_uld_sorts_and_pads_before_the_l1_distance() -> None:
    # sorted [0.6, 0.3, 0.1] against [0.5, 0.5, 0]: 0.1 + 0.2 + 0.1
    got = uld_distance(torch.tensor([[0.1, 0.6, 0.3]]), torch.tensor([[0.5, 0.5]]))
    assert float(got[0]) == pytest.approx(0.4)


def _batch(mask: list[bool]) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
    logits = torch.tensor([[0.6, 0.2, 0.1, 0.1], [0.25, 0.25, 0.25, 0.25]]).log()
    targets = torch.tensor([0, 3])
    batch = {
        "teacher_ids": torch.tensor([[0, 1], [2, 3]]),
        "teacher_logprobs": torch.tensor([[0.5, 0.3], [0.9, 0.1]]).log(),
        "teacher_mask": torch.tensor(mask),
    }
    return logits, targets, batch


def test_kd_loss_renormalises_topk_masks_positions_and_mixes_sft() -> None:
    logits, targets, batch = _batch([True, False])
    # Row 0: teacher [0.5, 0.3] -> [0.625, 0.375]; student at ids 0, 1: [0.6, 0.2] -> [0.75, 0.25].
    kl = 0.625 * LOG(0.625 / 0.75) + 0.375 * LOG(0.375 / 0.25)  # 0.038098
    ce = (-LOG(0.6) + LOG(4)) / 2  # both rows keep the SFT term
    loss = KDLoss("kd", weight=0.5)(logits, targets, batch)
    assert float(loss) == pytest.approx(0.5 * ce + 0.5 * kl, abs=1e-6)
    assert float(loss) == pytest.approx(0.493329, abs=1e-6)


def test_kd_temperature_softens_both_sides_and_scales_by_t_squared() -> None:
    logits, targets, batch = _batch([True, False])
    t = [p**0.5 for p in (0.5, 0.3)]
    s = [p**0.5 for p in (0.6, 0.2)]
    t, s = [x / sum(t) for x in t], [x / sum(s) for x in s]
    kl = sum(a * LOG(a / b) for a, b in zip(t, s, strict=True))
    ce = (-LOG(0.6) + LOG(4)) / 2
    loss = KDLoss("kd", weight=0.25, temperature=2.0)(logits, targets, batch)
    assert float(loss) == pytest.approx(0.75 * ce + 0.25 * 4 * kl, abs=1e-6)


def test_kd_top_k_keeps_the_teachers_best_only() -> None:
    logits, targets, batch = _batch([True, False])
    # k=1: both sides renormalise to all mass on id 0, so only the SFT term is left.
    loss = KDLoss("kd", weight=0.5, top_k=1)(logits, targets, batch)
    assert float(loss) == pytest.approx(0.5 * (-LOG(0.6) + LOG(4)) / 2, abs=1e-6)


def test_uld_loss_compares_sorted_top_k_whatever_the_ids() -> None:
    logits, targets, batch = _batch([False, True])
    # Row 1: the student's top 2 of four equal probabilities -> [0.5, 0.5]; teacher [0.9, 0.1].
    loss = KDLoss("uld", weight=0.5, top_k=2)(logits, targets, batch)
    ce = (-LOG(0.6) + LOG(4)) / 2
    assert float(loss) == pytest.approx(0.5 * ce + 0.5 * 0.8, abs=1e-6)


def test_a_batch_without_teacher_positions_is_plain_sft() -> None:
    logits, targets, batch = _batch([False, False])
    expected = float(token_cross_entropy(logits, targets, {}))
    assert float(KDLoss("kd", weight=0.9)(logits, targets, batch)) == pytest.approx(expected)
    assert float(KDLoss("kd")(logits, targets, {})) == pytest.approx(expected)


def test_loss_for_follows_the_hyperparameters() -> None:
    assert loss_for(parse_hyperparameters({})) is token_cross_entropy
    hp = parse_hyperparameters(
        {"distillationMethod": "uld", "kdWeight": "0.3", "kdTemperature": "2", "kdTopK": "5", "kdBeta": "0.5"}
    )
    assert loss_for(hp) == KDLoss("uld", weight=0.3, temperature=2.0, top_k=5, beta=0.5)


def test_text_only_teacher_ids_stay_out_of_kd_but_count_for_uld() -> None:
    logits, targets, batch = _batch([True, True])
    batch["teacher_ids"] = torch.tensor([[0, -1], [-1, -1]])  # row 1: an OpenAI-style teacher
    ce = (-LOG(0.6) + LOG(4)) / 2
    # KD: row 0 keeps id 0 only (both sides renormalise to 1: divergence 0), row 1 drops out.
    assert float(KDLoss("kd", weight=0.5)(logits, targets, batch)) == pytest.approx(0.5 * ce, abs=1e-6)
    # ULD reads the probabilities only: row 0 |0.75-0.625| * 2, row 1 |0.5-0.9| * 2 (k = 2).
    uld = KDLoss("uld", weight=0.5, top_k=2)(logits, targets, batch)
    assert float(uld) == pytest.approx(0.5 * ce + 0.5 * (0.25 + 0.8) / 2, abs=1e-6)
    batch["teacher_ids"] = torch.full((2, 2), -1)
    assert float(KDLoss("kd", weight=0.5)(logits, targets, batch)) == pytest.approx(ce, abs=1e-6)
