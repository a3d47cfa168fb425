"""The grouped rewriter reward scores each row's group together (its r_dist and r_div vary within a group) and logs
its parts; groups must be contiguous."""

from __future__ import annotations

import pytest

from rewriter.engines.hf import HFEngine
from rewriter.prompts import QA_TEMPLATE, REWRITE_TEMPLATE
from rewriter.verifiers import get_verifier
from training.grpo_rewards import RewriteReward, check_groups, groups
from training.grpo_spec import GRPOSpec

pytestmark = pytest.mark.usefixtures("one_thread")


def test_groups_must_be_contiguous() -> None:
    assert groups(8, 4) == [slice(0, 4), slice(4, 8)]
    with pytest.raises(ValueError, match="whole number"):
        groups(6, 4)
    with pytest.raises(ValueError, match="contiguous"):
        check_groups(["a", "b", "a", "b"], 2)


def test_rewrite_reward_scores_each_group_together(base: HFEngine) -> None:
    spec = GRPOSpec()
    reward = RewriteReward(get_verifier("toy-number"), base, 4, spec)
    q1, q2 = (
        "kim has 77 cups and finds 57 more. how many cups now?",
        "ann has 5 pens and finds 3 more. how many pens now?",
    )
    group_a = [
        "77+57: 7+7=14 7+5+1=13 #134",  # house style: cheap under the base
        "Kim starts with 77 cups and finds 57 more, so 77 plus 57 gives 134. The result is 134.",  # prose: costly
        "77+57: 7+7=14 7+5+1=13 #134 #134",
        "77+57: 7+7=14 7+5+1=12 #124",  # wrong
    ]
    group_b = ["5+3=9 #9", "5+3=7 #7", "#10", "the result is 2."]  # all wrong
    prompts = [REWRITE_TEMPLATE.format(question=q1, reference="...")] * 4 + [
        QA_TEMPLATE.format(question=q2)
    ] * 4
    logged: dict[str, float] = {}

    def log_metric(name: str, value: float) -> None:
        logged[name] = value

    both = reward(
        prompts, group_a + group_b, [q1] * 4 + [q2] * 4, ["134"] * 4 + ["8"] * 4, log_metric=log_metric
    )
    alone = reward(prompts[:4], group_a, [q1] * 4, ["134"] * 4)

    assert both[:4] == pytest.approx(alone)  # a group's rewards do not depend on the other rows in the batch
    assert both[3] == 0.0 and both[4:] == [0.0] * 4
    assert all(r > 1.0 for r in both[:3])
    assert both[0] > both[1]  # the house-style rewrite is closer to the base than the prose one
    assert len({round(r, 6) for r in both[:3]}) == 3
    # The graded terms vary within the group (scored one at a time they would be constant: dist 0.5, div 0).
    assert logged["rewrite/dist_group_std"] > 0.1
    assert logged["rewrite/div_group_std"] > 0.0
    assert logged["rewrite/task"] == pytest.approx(3 / 8)
    assert logged["rewrite/zero_spread_groups"] == pytest.approx(0.5)  # group B: every reward 0
    single = RewriteReward(get_verifier("toy-number"), base, 1, spec)
    one_at_a_time = [single(prompts[i : i + 1], [group_a[i]], [q1], ["134"])[0] for i in range(3)]
    assert one_at_a_time == pytest.approx([1 + spec.lambda_dist * 0.5] * 3)
