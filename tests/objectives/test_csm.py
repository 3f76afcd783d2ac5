import math

import pytest
import torch

from saip.objectives.csm import (
    AttentionDistillLoss,
    CSMCenter,
    CSMContrastiveLoss,
    CSMLoss,
    relation_kl,
    relation_maps,
    teacher_probs,
)


def _softmax(xs: list[float]) -> list[float]:
    e = [math.exp(x) for x in xs]
    return [v / sum(e) for v in e]


def reference_csm(student: list[torch.Tensor], teacher: list[torch.Tensor], temp: float) -> float:
    """Slow loop over (teacher t, student s != t) pairs and samples, from method.md."""
    total, pairs = 0.0, 0
    for t, p in enumerate(teacher):
        for s, logits in enumerate(student):
            if s == t:
                continue
            ce = 0.0
            for b in range(p.shape[0]):
                q = _softmax([x / temp for x in logits[b].tolist()])
                ce += sum(-pk * math.log(qk) for pk, qk in zip(p[b].tolist(), q, strict=True))
            total += ce / p.shape[0]
            pairs += 1
    return total / pairs


def test_csm_loss_hand_computed_k3() -> None:
    # One teacher view, two student views (the first is the same view: skipped), B = 1, K = 3.
    p = torch.tensor([[0.5, 0.25, 0.25]])
    other = torch.tensor([[0.0, math.log(2.0), 0.0]])  # softmax at temp 1: [1/4, 1/2, 1/4]
    same = torch.tensor([[100.0, -100.0, 0.0]])
    expected = -(0.5 * math.log(0.25) + 0.25 * math.log(0.5) + 0.25 * math.log(0.25))
    loss = CSMLoss()([same, other], [p], student_temp=1.0)
    assert loss.item() == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("vt,vs,b,k", [(2, 10, 3, 8), (1, 3, 2, 5), (2, 2, 1, 4), (3, 4, 2, 6)])
def test_csm_loss_matches_loop_reference(vt: int, vs: int, b: int, k: int) -> None:
    g = torch.Generator().manual_seed(vt * 100 + vs)
    student = [torch.randn(b, k, generator=g) * 3 for _ in range(vs)]
    teacher = [torch.softmax(torch.randn(b, k, generator=g) * 3, dim=-1) for _ in range(vt)]
    loss = CSMLoss()(student, teacher, student_temp=0.1)
    assert loss.item() == pytest.approx(reference_csm(student, teacher, 0.1), rel=1e-5)


def test_csm_loss_bf16_input_float32_output_and_gradient() -> None:
    student = [torch.randn(2, 8, requires_grad=True) for _ in range(4)]
    teacher = [torch.softmax(torch.randn(2, 8), -1) for _ in range(2)]
    loss = CSMLoss()([s.bfloat16() for s in student], teacher, student_temp=0.1)
    assert loss.dtype == torch.float32
    loss.backward()
    assert all(s.grad is not None and s.grad.abs().sum() > 0 for s in student)


@pytest.mark.parametrize(
    "student,teacher,match",
    [
        ([], [torch.ones(1, 3)], "non-empty"),
        ([torch.ones(1, 3)] * 2, [], "non-empty"),
        ([torch.ones(1, 3)], [torch.ones(1, 3)], "one view"),
        ([torch.ones(1, 3), torch.ones(1, 4)], [torch.ones(1, 3)], "student_logits"),
        ([torch.ones(1, 3)] * 2, [torch.ones(1, 4)], "teacher_probs"),
        ([torch.ones(1, 3)] * 2, [torch.ones(1, 3)] * 3, "among the student views"),
    ],
)
def test_csm_loss_bad_input(student: list, teacher: list, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        CSMLoss()(student, teacher, student_temp=0.1)


def test_teacher_probs_centres_and_sharpens() -> None:
    logits = torch.tensor([[1.0, 2.0, 3.0]]).bfloat16()
    center = torch.tensor([[0.0, 1.0, 3.0]])
    probs = teacher_probs(logits, center, temp=0.5)  # (t - c) / temp = [2, 2, 0]
    assert probs.dtype == torch.float32
    torch.testing.assert_close(probs, torch.tensor([_softmax([2.0, 2.0, 0.0])]))
    assert teacher_probs(torch.zeros(2, 4, 3), center, 0.04).shape == (2, 4, 3)
    with pytest.raises(ValueError, match="K = 3"):
        teacher_probs(torch.zeros(2, 4), center, 0.04)
    with pytest.raises(ValueError, match="temperature"):
        teacher_probs(logits, center, 0.0)


def test_center_momentum_update_hand_checked() -> None:
    centre = CSMCenter(out_dim=2, momentum=0.9)
    centre.update(torch.tensor([[1.0, 2.0], [3.0, 6.0]]))  # batch mean [2, 4]
    torch.testing.assert_close(centre.center, torch.tensor([[0.2, 0.4]]))
    centre.update(torch.tensor([[[0.0, 0.0]], [[4.0, 8.0]]]))  # [V, B, K] layout, mean [2, 4]
    torch.testing.assert_close(centre.center, torch.tensor([[0.2 * 0.9 + 0.2, 0.4 * 0.9 + 0.4]]))
    assert "center" in centre.state_dict()
    with pytest.raises(ValueError, match="K = 2"):
        centre.update(torch.zeros(3, 5))
    with pytest.raises(ValueError, match="momentum"):
        CSMCenter(4, momentum=1.5)


def test_relation_maps_hand_computed() -> None:
    q = torch.tensor([1.0, 0.0, 0.0, 2.0]).view(1, 1, 2, 2)  # two tokens, d = 2
    k = torch.tensor([1.0, 1.0, 0.0, 1.0]).view(1, 1, 2, 2)
    v = torch.tensor([2.0, 0.0, 0.0, 1.0]).view(1, 1, 2, 2)
    attn, val = relation_maps(q, k, v)
    s = 1 / math.sqrt(2)
    torch.testing.assert_close(attn, torch.tensor([[[[1 * s, 0.0], [2 * s, 2 * s]]]]))
    torch.testing.assert_close(val, torch.tensor([[[[4 * s, 0.0], [0.0, 1 * s]]]]))
    with pytest.raises(ValueError, match="share one"):
        relation_maps(q, k, torch.zeros(1, 1, 3, 2))


def test_relation_kl_zero_identical_positive_otherwise_and_hand_value() -> None:
    scores = torch.randn(2, 3, 5, 5)
    assert relation_kl(scores, scores.clone()).item() == pytest.approx(0.0, abs=1e-6)
    assert relation_kl(scores, torch.randn(2, 3, 5, 5)).item() > 0
    # One row: p = [1/2, 1/2] (scores [0, 0]), q = [1/4, 3/4] (scores [0, log 3]).
    kl = relation_kl(torch.zeros(1, 1, 1, 2), torch.tensor([0.0, math.log(3.0)]).view(1, 1, 1, 2))
    expected = 0.5 * math.log(0.5 / 0.25) + 0.5 * math.log(0.5 / 0.75)
    assert kl.item() == pytest.approx(expected, rel=1e-6)
    with pytest.raises(ValueError, match="differ in shape"):
        relation_kl(scores, torch.zeros(2, 3, 5, 4))


def test_attention_distill_loss_sums_kls_and_averages_views() -> None:
    g = torch.Generator().manual_seed(0)
    views = [[torch.randn(2, 3, 4, 8, generator=g) for _ in range(3)] for _ in range(4)]
    teacher, student = [tuple(v) for v in views[:2]], [tuple(v) for v in views[2:]]
    expected = (
        sum(
            relation_kl(relation_maps(*t)[0], relation_maps(*s)[0])
            + relation_kl(relation_maps(*t)[1], relation_maps(*s)[1])
            for t, s in zip(teacher, student, strict=True)
        )
        / 2
    )
    loss = AttentionDistillLoss()(teacher, student)
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)
    assert AttentionDistillLoss()(teacher, teacher).item() == pytest.approx(0.0, abs=1e-6)


def test_attention_distill_loss_gradient_reaches_student_only() -> None:
    teacher = [tuple(torch.randn(1, 2, 3, 4, requires_grad=True) for _ in range(3))]
    student = [tuple(torch.randn(1, 2, 3, 4, requires_grad=True) for _ in range(3))]
    AttentionDistillLoss()(teacher, student).backward()
    assert all(x.grad is not None and x.grad.abs().sum() > 0 for x in student[0])
    assert all(x.grad is None for x in teacher[0])


def test_attention_distill_loss_bad_input() -> None:
    qkv = tuple(torch.zeros(1, 1, 2, 2) for _ in range(3))
    with pytest.raises(ValueError, match="same non-zero number"):
        AttentionDistillLoss()([], [])
    with pytest.raises(ValueError, match="same non-zero number"):
        AttentionDistillLoss()([qkv], [qkv, qkv])


def test_sinkhorn_equipartition_hand_checked() -> None:
    # N = 4 samples, K = 2 prototypes: every prototype ends with mass N / K = 2, rows sum to 1.
    from saip.objectives.csm import sinkhorn_knopp

    logits = torch.tensor([[0.9, 0.1], [0.8, 0.2], [0.7, 0.3], [0.6, 0.4]])
    q = sinkhorn_knopp(logits, temp=0.1, iterations=50)
    torch.testing.assert_close(q.sum(1), torch.ones(4))
    torch.testing.assert_close(q.sum(0), torch.full((2,), 2.0), atol=1e-4, rtol=0)
    # All four prefer prototype 0 under a plain softmax; equipartition sends the two least sure
    # (the last rows) to prototype 1, keeping the order of preference.
    assert torch.softmax(logits / 0.1, dim=1)[:, 0].min() > 0.5
    assert q[0, 0] > q[1, 0] > 0.5 > q[2, 0] > q[3, 0]
    # One round from uniform logits is exactly uniform; a shift of all logits changes nothing.
    torch.testing.assert_close(sinkhorn_knopp(torch.zeros(3, 5), 0.05), torch.full((3, 5), 0.2))
    torch.testing.assert_close(sinkhorn_knopp(logits + 7.0, 0.1), sinkhorn_knopp(logits, 0.1))
    with pytest.raises(ValueError, match="temperature"):
        sinkhorn_knopp(logits, 0.0)


def test_sinkhorn_at_low_temperature_stays_finite_and_matches_plain_rescaling() -> None:
    from saip.objectives.csm import sinkhorn_knopp

    # Same rounds as the plain (exp-domain) algorithm, in float64 where it does not underflow.
    logits = torch.randn(6, 4, generator=torch.Generator().manual_seed(0)).clamp(-1, 1)
    q = (logits.double() / 0.1).exp().t()
    q /= q.sum()
    for _ in range(3):
        q /= q.sum(dim=1, keepdim=True) * 4
        q /= q.sum(dim=0, keepdim=True) * 6
    torch.testing.assert_close(sinkhorn_knopp(logits, 0.1), (q * 6).t().float())
    # At 0.005 a sample whose best cosine is 1.9 below the batch's best is exp(-380) = 0 in
    # float32: the plain algorithm gives 0 / 0 there; the log-space one a proper assignment.
    q = sinkhorn_knopp(torch.tensor([[1.0, 0.9], [-1.0, -0.9]]), temp=0.005)
    assert torch.isfinite(q).all()
    torch.testing.assert_close(q.sum(1), torch.ones(2))


def test_koleo_hand_computed() -> None:
    from saip.objectives.csm import koleo_loss

    # Three unit vectors: e1, e2 and (e1 + e2) / sqrt 2. Nearest neighbours: e1 <-> the diagonal,
    # e2 <-> the diagonal, at chord distance sqrt(2 - sqrt 2).
    x = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], requires_grad=True)
    d = math.sqrt(2 - math.sqrt(2))
    assert koleo_loss(x).item() == pytest.approx(-math.log(d), abs=1e-5)
    koleo_loss(x).backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    # Spread-out features score lower than bunched ones.
    assert koleo_loss(torch.eye(4)) < koleo_loss(torch.eye(4) + 5.0)
    with pytest.raises(ValueError, match="KoLeo"):
        koleo_loss(torch.ones(1, 3))


def test_sinkhorn_of_one_rank_alone_makes_no_collective(monkeypatch: pytest.MonkeyPatch) -> None:
    # Rank 0 draws pictures alone under torchrun: an all-reduce there would wait for the others.
    import torch.distributed as dist

    from saip.objectives.csm import sinkhorn_knopp

    logits = torch.randn(6, 4, generator=torch.Generator().manual_seed(0))
    alone = sinkhorn_knopp(logits, 0.1)
    monkeypatch.setattr(dist, "is_initialized", lambda: True)
    monkeypatch.setattr(dist, "all_reduce", lambda *a, **kw: pytest.fail("a collective on one rank"))
    torch.testing.assert_close(sinkhorn_knopp(logits, 0.1, across_ranks=False), alone)
    with pytest.raises(pytest.fail.Exception):
        sinkhorn_knopp(logits, 0.1)


def test_contrastive_loss_hand_computed() -> None:
    # One teacher view, two student views (the first is the same view: skipped), B = 2, d = 2.
    # Student view 1 equals the teacher's embeddings: logits diag 1 / T, off-diagonal 0.
    t = torch.eye(2)
    same = torch.tensor([[0.0, 1.0], [1.0, 0.0]])  # would be wrong, but the pair is skipped
    loss = CSMContrastiveLoss()([same, t.clone()], [t], temp=0.5)
    assert loss.item() == pytest.approx(math.log(1 + math.exp(-2.0)), rel=1e-6)


def test_contrastive_loss_matches_loop_reference_and_prefers_the_own_image() -> None:
    g = torch.Generator().manual_seed(0)
    unit = lambda *s: torch.nn.functional.normalize(torch.randn(*s, generator=g), dim=-1)  # noqa: E731
    images = unit(4, 8)  # every view of sample b lies near images[b]
    teacher = [images + 0.1 * unit(4, 8) for _ in range(2)]
    student = [images + 0.1 * unit(4, 8) for _ in range(3)]
    total, pairs = 0.0, 0
    for ti, t in enumerate(teacher):
        for si, s in enumerate(student):
            if si != ti:
                total += torch.nn.functional.cross_entropy(s @ t.t() / 0.2, torch.arange(4)).item()
                pairs += 1
    loss = CSMContrastiveLoss()(student, teacher, temp=0.2)
    assert loss.item() == pytest.approx(total / pairs, rel=1e-5)
    shuffled = [s[[1, 2, 3, 0]] for s in student]  # every student view now names the wrong image
    assert CSMContrastiveLoss()(shuffled, teacher, temp=0.2) > loss


def test_contrastive_loss_gradient_reaches_student_only() -> None:
    student = [torch.randn(3, 4, requires_grad=True) for _ in range(3)]
    teacher = [torch.randn(3, 4, requires_grad=True) for _ in range(2)]
    CSMContrastiveLoss()(student, teacher, temp=0.2).backward()
    assert all(s.grad is not None and s.grad.abs().sum() > 0 for s in student)
    assert all(t.grad is None for t in teacher)


@pytest.mark.parametrize(
    ("student", "teacher", "temp", "match"),
    [
        ([torch.zeros(2, 4)] * 2, [torch.zeros(2, 4)], 0.0, "temperature"),
        ([torch.zeros(2, 4)], [torch.zeros(2, 4)], 0.2, "student views"),
        ([torch.zeros(1, 4)] * 2, [torch.zeros(1, 4)], 0.2, "B >= 2"),
        ([torch.zeros(2, 4)] * 2, [torch.zeros(2, 3)], 0.2, "embeddings"),
    ],
)
def test_contrastive_loss_bad_input(student: list, teacher: list, temp: float, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        CSMContrastiveLoss()(student, teacher, temp=temp)
