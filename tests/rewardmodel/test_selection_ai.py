"""Whose judgements train a reward model: people, AI labellers or both with a weight (issue 14)."""
import math

import pytest

from common.models import JobStatus
from rewardmodel.execution import reward_run_execute
from rewardmodel.selection import SelectionConfig, select_examples
from rewardmodel.services import reward_run_create
from tests.factories import AIJudgementFactory, JudgementFactory, LabellerFactory, ModelLabellerFactory, PairFactory
from tests.rewardmodel.conftest import fast_config, marker_dataset

pytestmark = pytest.mark.django_db


def people(pair, *choices):
    for choice in choices:
        JudgementFactory(pair=pair, labeller=LabellerFactory(), choice=choice)


def machines(pair, *choices):
    for choice in choices:
        AIJudgementFactory(pair=pair, labeller=ModelLabellerFactory(), verdicts=(choice, choice))


def select(dataset, **config):
    return select_examples(dataset_id=dataset.pk, config=SelectionConfig(eval_fraction=0, **config))


@pytest.fixture
def contested():
    """One pair two people call A and three AI labellers call B; one pair only AI labellers judged."""
    dataset = PairFactory().dataset
    pair = PairFactory(dataset=dataset)
    people(pair, "a", "a")
    machines(pair, "b", "b", "b")
    ai_only = PairFactory(dataset=dataset)
    machines(ai_only, "b", "b")
    return dataset, pair, ai_only


def test_by_default_only_peoples_judgements_count(contested):
    dataset, pair, _ = contested

    selection = select(dataset)

    assert [(e.pair_id, e.chosen, e.weight) for e in selection.train] == [(pair.pk, pair.response_a.text, 1.0)]
    assert selection.snapshot["n_judgements"] == 2
    assert selection.snapshot["n_ai_judgements"] == 0


def test_ai_only_uses_the_ai_labellers_judgements_alone(contested):
    dataset, pair, ai_only = contested

    selection = select(dataset, judgement_source="model")

    assert sorted((e.pair_id, e.chosen) for e in selection.train) == [
        (pair.pk, pair.response_b.text), (ai_only.pk, ai_only.response_b.text)]
    assert selection.snapshot["n_judgements"] == selection.snapshot["n_ai_judgements"] == 5


def test_both_with_a_weight_sums_weighted_votes_and_weighs_each_example_by_its_votes_mean_weight(contested):
    dataset, pair, ai_only = contested

    examples = {e.pair_id: e for e in select(dataset, judgement_source="both", ai_weight=0.5).train}

    # pair: A 2 x 1 = 2 against B 3 x 0.5 = 1.5 of 3.5: A has the strict majority; mean vote weight 3.5 / 5
    assert examples[pair.pk].chosen == pair.response_a.text
    assert examples[pair.pk].weight == pytest.approx(3.5 / 5)
    assert examples[ai_only.pk].chosen == ai_only.response_b.text
    assert examples[ai_only.pk].weight == pytest.approx(0.5)


def test_both_at_full_weight_counts_an_ai_vote_as_a_person(contested):
    dataset, pair, _ = contested

    examples = {e.pair_id: e for e in select(dataset, judgement_source="both", ai_weight=1.0).train}

    assert examples[pair.pk].chosen == pair.response_b.text  # 3 of 5
    assert examples[pair.pk].weight == 1.0


def test_per_judgement_soft_labels_use_the_weighted_votes(contested):
    dataset, pair, _ = contested

    examples = {e.pair_id: e for e in select(dataset, judgement_source="both", ai_weight=0.25, aggregation="per_judgement").train}

    # A: 2, B: 3 x 0.25 = 0.75
    assert examples[pair.pk].chosen == pair.response_a.text
    assert examples[pair.pk].p_win == pytest.approx(2 / 2.75)
    assert examples[pair.pk].weight == pytest.approx(2.75)
    assert examples[pair.pk].n_votes == 5


def test_the_snapshot_and_its_hash_record_the_choice(contested):
    dataset, _, _ = contested

    snaps = {key: select(dataset, **cfg).snapshot for key, cfg in {
        "human": {}, "model": {"judgement_source": "model"},
        "both_half": {"judgement_source": "both", "ai_weight": 0.5},
        "both_quarter": {"judgement_source": "both", "ai_weight": 0.25}}.items()}

    assert snaps["both_half"]["selection"]["judgement_source"] == "both"
    assert snaps["both_half"]["ai_weight"] == 0.5 and snaps["human"]["ai_weight"] is None
    # the same judgements weighted differently: the judgement hash agrees, the examples' hash does not
    assert snaps["both_half"]["judgement_ids_sha256"] == snaps["both_quarter"]["judgement_ids_sha256"]
    assert len({s["examples_sha256"] for s in snaps.values()}) == 4
    assert len({s["judgement_ids_sha256"] for s in snaps.values()}) == 3


@pytest.mark.parametrize("bad", [{"judgement_source": "robots"}, {"ai_weight": 0}, {"ai_weight": 11}])
def test_invalid_source_or_weight_is_refused(bad):
    with pytest.raises(ValueError):
        SelectionConfig(**bad)


def test_the_weights_reach_the_bradley_terry_loss(tiny_backbone):
    """The first step's logged loss (taken before the update) equals sum(w * -log sigmoid(r_w - r_l)) / sum(w)
    with the weights worked out by hand from the votes and the rewards of the untrained model."""
    from rewardmodel.backbone import is_decoder, load_backbone
    from rewardmodel.config import RewardTrainConfig
    from rewardmodel.text import encode_examples
    from rewardmodel.trainer import score_pairs, train

    dataset, pairs = marker_dataset(4, votes=1)
    machines(pairs[0], "a" if pairs[0].judgements.get().choice == "b" else "b")  # 1 person vs 1 AI: person wins
    machines(pairs[1], pairs[1].judgements.get().choice, pairs[1].judgements.get().choice)
    hand_weight = {pairs[0].pk: 1.3 / 2, pairs[1].pk: 1.6 / 3, pairs[2].pk: 1.0, pairs[3].pk: 1.0}
    selection = select(dataset, judgement_source="both", ai_weight=0.3)
    model, tokenizer = load_backbone(tiny_backbone, seed=0)
    encoded, _ = encode_examples(tokenizer, selection.train, max_length=64, decoder=is_decoder(model))
    r_w, r_l = score_pairs(model, encoded, pad_token_id=tokenizer.pad_token_id)
    w = [hand_weight[e.pair_id] for e in selection.train]
    expected = sum(wi * math.log1p(math.exp(-(a - b))) for wi, a, b in zip(w, r_w, r_l)) / sum(w)

    cfg = RewardTrainConfig(max_length=64, batch_size=4, num_train_epochs=1, checkpoint_steps=0, num_threads=1,
                            mixed_precision="no", fuse_gelu=False)
    result = train(cfg, model=model, pad_token_id=tokenizer.pad_token_id, train_pairs=encoded, eval_pairs=[])

    assert [p.weight for p in encoded] == pytest.approx(w)
    assert result.history[0]["loss"] == pytest.approx(expected, rel=1e-4)


def test_a_run_records_held_out_human_accuracy_whoever_trained_it(tiny_backbone, artifacts_dir):
    dataset, pairs = marker_dataset(40, votes=1)
    for pair in pairs:
        machines(pair, pair.judgements.get().choice)
    config = fast_config()
    config["selection"]["judgement_source"] = "model"
    run = reward_run_create(dataset=dataset, base_model_path=tiny_backbone, config=config, enqueue=False)

    run = reward_run_execute(run_id=run.pk)

    assert run.status == JobStatus.SUCCEEDED, run.error
    evaluation = run.summary["evaluation"]
    assert evaluation["n_human_eval"] == run.data_snapshot["n_human_eval_pairs"] == run.data_snapshot["n_eval_pairs"]
    assert evaluation["human_accuracy"] is not None
    assert run.data_snapshot["n_ai_judgements"] == run.data_snapshot["n_judgements"] > 0


def test_the_form_and_the_api_record_whose_judgements_count(client, tiny_backbone, artifacts_dir):
    from django.urls import reverse

    from rewardmodel.models import RewardModelRun
    from tests.factories import AdminLabellerFactory

    client.force_login(AdminLabellerFactory().user)
    dataset = PairFactory().dataset
    form = {"dataset": dataset.pk, "base_model_path": tiny_backbone, "num_train_epochs": 1, "learning_rate": 1e-4,
            "batch_size": 4, "max_length": 64, "aggregation": "majority", "min_agreement": 0, "eval_fraction": 0.1,
            "loss_type": "bradley_terry", "judgement_source": "both", "ai_weight": 0.3}
    client.post(reverse("rewardmodel:create"), form)
    api = client.post("/api/reward-runs/create/", {"dataset": dataset.name, "base_model_path": tiny_backbone,
                      "config": {"train": {"max_length": 64}, "selection": {"judgement_source": "model"}}}, content_type="application/json")
    bad = client.post("/api/reward-runs/create/", {"dataset": dataset.name, "base_model_path": tiny_backbone,
                      "config": {"train": {"max_length": 64}, "selection": {"judgement_source": "robots"}}}, content_type="application/json")

    runs = list(RewardModelRun.objects.order_by("id"))
    assert runs[0].config["selection"]["judgement_source"] == "both" and runs[0].config["selection"]["ai_weight"] == 0.3
    assert api.status_code == 201, api.content
    assert runs[1].config["selection"]["judgement_source"] == "model"
    assert bad.status_code == 400 and "judgement_source" in bad.content.decode()


def test_the_compare_page_shows_held_out_human_accuracy_and_whose_judgements_trained_each_run(client):
    from django.urls import reverse

    from rewardmodel.models import RewardModelRun
    from tests.factories import AdminLabellerFactory

    dataset = PairFactory().dataset
    runs = [RewardModelRun.objects.create(
        dataset=dataset, base_model_path="/m", status=JobStatus.SUCCEEDED,
        config={"selection": {"judgement_source": source}},
        data_snapshot={"judgement_source": source, "ai_weight": weight, "n_human_judgements": nh, "n_ai_judgements": na},
        summary={"evaluation": {"human_accuracy": acc, "n_human_eval": 40}},
    ) for source, weight, nh, na, acc in (("human", None, 120, 0, 0.8125), ("both", 0.5, 120, 300, 0.6875))]
    client.force_login(AdminLabellerFactory().user)

    html = client.get(reverse("rewardmodel:compare") + f"?ids={runs[0].pk}&ids={runs[1].pk}").content.decode()

    assert "Held-out HUMAN accuracy" in html and "0.812" in html and "0.688" in html
    assert "people only (120 human, 0 AI)" in html
    assert "people and AI labellers, AI weight 0.5 (120 human, 300 AI)" in html
